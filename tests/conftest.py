"""Shared test helpers: where the real hard files live, and skipping tests that need them when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"shared test data not found at {SHARED_DATA}")
    for item in items:
        if item.get_closest_marker("shared_data"):
            item.add_marker(skip)


@pytest.fixture
def shared_data() -> Path:
    """`../shared/data`; use it only in tests marked `@pytest.mark.shared_data`."""
    return SHARED_DATA


# Real knowledge bases built once per session (see kbfixtures.py).
pytest_plugins = ["kbfixtures"]
