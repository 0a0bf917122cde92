"""Sections from a PDF's own contents page, for a PDF without bookmarks.

A report exported without bookmarks still lists its sections, with their pages, on a contents page ("4.Duty to
Notify 9", "3.1.4 The Self-Assessment return process ... 10"). Each entry is looked for on the page it names, and
the line found there starts that section. Guessing headings from the layout alone misses a sentence-case heading
("3.Informed consent") and takes a table row for one ("Keytime Iris Andica"); the contents page is the author's
own list.

The contents page is used only when it holds: at least `MIN_PLACED` entries, and at least half of those that name a
page of this file, are found on their pages. Otherwise the reader falls back to the layout.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

FIRST_PAGES = 8  # a contents page comes before the text it lists
MIN_ENTRIES = 4
MIN_PLACED = 3
_TITLE_RE = re.compile(r"^(?:table of )?contents(?: page)?$", re.I)
# "3.Informed consent 8", "Executive Summary ....... 4", "Appendix 2: Topic guide   23": text, then its page.
_ENTRY_RE = re.compile(r"^(?P<text>.*?[^\W\d_].*?)[\s.\u2026\u00b7_-]*\s(?P<page>\d{1,4})$")
# The entry's number: "3.1.4 ...", "4.Duty ...", "Part 1 ...", "Chapter 2 ...", "Annex A: ...".
_NUMBER_RE = re.compile(
    r"^(?:(?P<dotted>\d{1,2}(?:\.\d{1,2}){0,3})(?:\.\s*|\s+)(?=[^\W\d_])|(?P<named>(?:part|chapter|section|annex|"
    r"appendix)\s+[\dA-Z]{1,3})\b[:.]?\s*)",
    re.I,
)


@dataclass(frozen=True)
class Heading:
    line: int  # index of its (first) line on the page
    lines: int  # how many lines it takes: a long heading wraps
    level: int
    text: str  # as the page prints it


def headings(pages: list[list[str]], labels: list[str]) -> dict[int, list[Heading]]:
    """{0-based page: the headings that start sections on it, in order}; empty when the file has no contents page
    that holds (see the module's docstring)."""
    found = _contents(pages)
    if found is None:
        return {}
    contents_pages, entries = found
    index = {}
    for i, label in enumerate(labels):
        index.setdefault(label, i)
    placed: dict[int, list[Heading]] = {}
    wanted = 0
    after: dict[int, int] = {}  # per page, the line after the last heading placed on it: entries come in order
    for text, page in entries:
        target = index.get(page)
        if target is None:
            continue
        wanted += 1
        for i in (target, target + 1, target - 1):  # a label tree can be a page out
            if i in contents_pages or not 0 <= i < len(pages):
                continue
            hit = _find(text, pages[i], after.get(i, 0))
            if hit is not None:
                line, n = hit
                printed = " ".join(" ".join(pages[i][line : line + n]).split())
                placed.setdefault(i, []).append(Heading(line, n, _level(text), printed))
                after[i] = line + n
                break
    n_placed = sum(len(v) for v in placed.values())
    if n_placed < MIN_PLACED or n_placed * 2 < wanted:
        return {}
    for i in contents_pages:
        title = next((j for j, ln in enumerate(pages[i]) if _TITLE_RE.match(ln.strip())), None)
        if title is not None:
            placed.setdefault(i, []).insert(0, Heading(title, 1, 1, pages[i][title].strip()))
    return placed


def _contents(pages: list[list[str]]) -> tuple[set[int], list[tuple[str, str]]] | None:
    """The contents pages (0-based) and their entries (text, printed page), or None."""
    for i, lines in enumerate(pages[:FIRST_PAGES]):
        titled = any(_TITLE_RE.match(ln.strip()) for ln in lines)
        entries = _entries(lines)
        if not (titled and len(entries) >= MIN_ENTRIES):
            continue
        used = {i}
        # A contents list can run on to the next page, which then holds entries and little else.
        for j in range(i + 1, min(i + 4, len(pages))):
            more = _entries(pages[j])
            if len(more) < MIN_ENTRIES or len(more) * 2 < len([ln for ln in pages[j] if ln.strip()]):
                break
            entries += more
            used.add(j)
        return used, entries
    return None


def _entries(lines: list[str]) -> list[tuple[str, str]]:
    out = []
    for ln in lines:
        m = _ENTRY_RE.match(" ".join(ln.split()))
        if m and len(m["text"]) <= 150:
            out.append((m["text"].strip(" .:\u2026"), m["page"]))
    return out


def _level(text: str) -> int:
    m = _NUMBER_RE.match(text)
    return m["dotted"].count(".") + 1 if m and m["dotted"] else 1


def _find(entry: str, lines: list[str], start: int) -> tuple[int, int] | None:
    """(line, number of lines) of the entry's heading on the page, at or after `start`."""
    want = _norm(entry)
    number = _number(entry)
    for j in range(start, len(lines)):
        line = _norm(lines[j])
        if not line:
            continue
        if line == want:
            return j, 1
        nxt = _norm(lines[j + 1]) if j + 1 < len(lines) else ""
        if nxt and want.startswith(line + " ") and _norm(f"{lines[j]} {lines[j + 1]}") == want:
            return j, 2
        # The same number and nearly the same words: "Part 1: Introduction & Background" for the contents page's
        # "Part 1 Introduction and Background", "returns process" for "return process".
        if number and _number(lines[j]) == number and _close(line, want):
            return j, 1
    return None


def _number(text: str) -> str | None:
    m = _NUMBER_RE.match(" ".join(text.split()))
    if not m:
        return None
    return (m["dotted"] or m["named"]).lower().replace(" ", "")


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace("&", " and ")
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def _close(line: str, want: str) -> bool:
    a, b = set(line.split()), set(want.split())
    return len(line) <= 1.3 * len(want) and len(a & b) >= 0.75 * max(len(a), len(b))
