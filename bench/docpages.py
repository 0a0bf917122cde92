"""Benchmark tables that other docs show, copied from docs/benchmarks.json between markers, never by hand."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from bench.common import ROOT

DOCS = ROOT / "docs"
# The pages with a generated block; the block's opening comment names the section it shows.
PAGES = ("tagging.md",)
BLOCK = re.compile(
    r"(<!-- generated from docs/benchmarks.json \((\w[\w-]*)\)[^>]*-->\n).*?(<!-- end generated -->)", re.S
)


def tables(markdown: str) -> str:
    """The tables of a section's markdown, in order, each as written there."""
    out, current = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            out.append("\n".join(current))
            current = []
    return "\n\n".join(out)


def block(section: dict) -> str:
    run = section.get("data", {}).get("_run", {})
    when = f"Measured {run['date']}" + (f" with `{run['command']}`" if run.get("command") else "") if run else ""
    head = f"*{when}; the full section is in [benchmarks.md](benchmarks.md).*\n\n" if when else ""
    return head + tables(section["markdown"]) + "\n"


def refresh(text: str, sections: dict[str, dict]) -> str:
    """The page with every generated block replaced by the tables of the section it names."""

    def fill(m: re.Match) -> str:
        return m.group(1) + block(sections[m.group(2)]) + m.group(3)

    return BLOCK.sub(fill, text)


def load(path: Path = DOCS / "benchmarks.json") -> dict[str, dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def write_all(sections: dict[str, dict] | None = None) -> list[Path]:
    """Rewrite each page of PAGES whose generated block is out of date; the pages changed."""
    sections = sections if sections is not None else load()
    changed = []
    for name in PAGES:
        path = DOCS / name
        text = path.read_text(encoding="utf-8")
        if (new := refresh(text, sections)) != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    for p in write_all():
        print(f"wrote {p}", file=sys.stderr)
