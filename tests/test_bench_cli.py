"""The benchmark command itself: every bench module imports, and --render rewrites the page from the stored figures."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem not in ("__init__", "__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_bench_module_imports(name):
    # A bench module that imports a name the code no longer has breaks only when someone runs it: catch it here.
    importlib.import_module(f"bench.{name}")


def test_render_rewrites_the_page_from_the_stored_figures(tmp_path):
    shutil.copy(ROOT / "docs" / "benchmarks.json", tmp_path / "benchmarks.json")
    out = tmp_path / "benchmarks.md"
    subprocess.run(
        [sys.executable, "-m", "bench", "--render", "--out", str(out)], cwd=ROOT, check=True, capture_output=True
    )
    page = out.read_text(encoding="utf-8")
    stored = json.loads((ROOT / "docs" / "benchmarks.json").read_text(encoding="utf-8"))
    for section in stored.values():
        assert section["title"] in page
    # Nothing was measured, so the stored figures are unchanged.
    assert json.loads((tmp_path / "benchmarks.json").read_text(encoding="utf-8")) == stored
