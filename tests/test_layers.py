"""Arrows point one way: app -> kb, ingest -> kb; kb imports neither ingest nor Streamlit (kb/ingestion.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The command line sits on top (DESIGN.md): `kb app` may start Streamlit. It still reaches ingest only
# through kb.ingestion, like the app.
CLI_LAYER = ("kb/cli.py", "kb/commands/")


def imported(source: str) -> set[str]:
    """Top-level package of every import in the module, those inside functions and `if TYPE_CHECKING:` too."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def violations(package: str, forbidden: set[str], exempt: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in modules(package):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(exempt):
            continue
        bad = imported(path.read_text(encoding="utf-8")) & forbidden
        found += [f"{rel} imports {name}" for name in sorted(bad)]
    return found


def test_the_checker_sees_imports_in_functions_and_type_checking_blocks():
    source = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ingest.pipeline import IngestReport\n"
        "def f():\n    import streamlit as st\n    from app.common import page\n"
    )
    assert {"ingest", "streamlit", "app"} <= imported(source)
    assert "kb" not in imported("from . import x\nfrom .y import z\n"), "relative imports stay in their package"


@pytest.mark.parametrize("package", ["kb", "ingest", "app"])
def test_every_package_has_modules(package):
    assert len(modules(package)) > 3, f"{package}/ not found where the layer test looks"


def test_kb_never_imports_ingest():
    assert violations("kb", {"ingest"}) == [], "kb reaches the pipeline through kb.ingestion only"


def test_kb_outside_the_command_line_never_imports_streamlit():
    assert violations("kb", {"streamlit"}, exempt=CLI_LAYER) == []


def test_app_never_imports_ingest():
    assert violations("app", {"ingest"}) == [], "pages ingest through kb.ingestion"


def test_ingest_never_imports_app_or_streamlit():
    assert violations("ingest", {"app", "streamlit"}) == []
