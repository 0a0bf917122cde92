"""The scale, architecture and tagging pages quote only figures that docs/benchmarks.md (python -m bench) holds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench import docpages

DOCS = Path(__file__).resolve().parents[1] / "docs"
UNIT = r"ms|s|min|MiB|GiB|MB|GB|KB|passages/s|%"
# A measured figure: a number (or the two ends of a range, "111.9-845.4 ms") before a unit, a speed-up such as
# "x1.54", or a score with four decimals such as an nDCG@10 or a cosine ("0.7463", "1.0000").
FIGURE = re.compile(
    rf"(?<![\w.,])(?P<a>\d[\d,]*(?:\.\d+)?)(?:\s?[-–]\s?(?P<b>\d[\d,]*(?:\.\d+)?))?\s?(?P<unit>{UNIT})(?![\w/])"
    r"|(?<![\w.])x(?P<times>\d+\.\d+)(?![\d])"
    r"|(?<![\w.])(?P<score>[01]\.\d{3,4})(?![\d])"
)
# A figure a page may quote without benchmarks.md: `<!-- not benchmark figures: 2 s (a goal), 90% (a goal) -->`.
EXEMPT = re.compile(r"<!--\s*not benchmark figures?:(.*?)-->", re.S)


def figures(text: str) -> set[tuple[str, str]]:
    """(number, unit) pairs; a score's unit is ''."""
    out = set()
    for m in FIGURE.finditer(EXEMPT.sub("", text)):
        if m["score"]:
            out.add((m["score"], ""))
        elif m["times"]:
            out.add((m["times"], "x"))
        else:
            out |= {(n, m["unit"]) for n in (m["a"], m["b"]) if n}
    return out


def exempt(text: str) -> set[tuple[str, str]]:
    return {f for m in EXEMPT.finditer(text) for f in figures(re.sub(r"\([^)]*\)", "", m.group(1)))}


def held(bench: str) -> set[tuple[str, str]]:
    """What benchmarks.md gives: a number with its unit in prose, or any number in a table (its unit in the header)."""
    cells = {n for line in bench.splitlines() if line.startswith("|") for n in re.findall(r"\d[\d,]*(?:\.\d+)?", line)}
    return figures(bench) | {(n, u) for n in cells for u in [*UNIT.split("|"), "x", ""]}


@pytest.mark.parametrize("page", ["operations-scale.md", "architecture.md"])
def test_every_quoted_figure_is_in_the_generated_benchmarks(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    missing = figures(text) - held((DOCS / "benchmarks.md").read_text(encoding="utf-8")) - exempt(text)
    assert not missing, (
        f"{page} quotes figures that docs/benchmarks.md does not hold: {sorted(missing)}; quote the benchmark, "
        "or list a goal or a design constant in a `<!-- not benchmark figures: ... -->` comment"
    )


@pytest.mark.parametrize("page", ["operations-scale.md", "architecture.md"])
def test_an_exempted_figure_is_one_the_page_quotes(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    assert exempt(text) <= figures(text.replace("<!--", "").replace("-->", "")), "a stale exemption"


def test_the_figure_pattern_finds_what_a_page_would_quote():
    text = "p95 48.7 ms at 100,001 passages, 736 MiB, 23.1 passages/s, nDCG@10 0.7463, 90%, 2 GB, 1.2-3.4 ms, x1.54"
    assert figures(text + ", 1,000,000 runs, cosine 1.0000") == {
        ("1.54", "x"),
        ("1.0000", ""),
        ("48.7", "ms"),
        ("736", "MiB"),
        ("23.1", "passages/s"),
        ("0.7463", ""),
        ("90", "%"),
        ("2", "GB"),
        ("1.2", "ms"),
        ("3.4", "ms"),
    }
    assert ("112.9", "ms") not in held("the baseline took 112.9 s"), "a number with another unit is not the figure"
    assert exempt("<!-- not benchmark figures: 2 s (a goal), 90% -->") == {("2", "s"), ("90", "%")}


def test_benchmarks_json_holds_every_section_of_the_page():
    raw = json.loads((DOCS / "benchmarks.json").read_text(encoding="utf-8"))
    page = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    for sec in raw.values():
        assert f"## {sec['title']}" in page


@pytest.mark.parametrize("page", sorted(docpages.PAGES))
def test_tables_copied_from_the_benchmarks_are_current(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    assert "<!-- generated from docs/benchmarks.json" in text
    assert docpages.refresh(text, docpages.load()) == text, f"docs/{page} is stale: run python -m bench.docpages"
    # Nothing outside the generated block restates its figures by hand.
    outside = docpages.BLOCK.sub("", text)
    assert "| factor |" not in outside and "| measure |" not in outside
