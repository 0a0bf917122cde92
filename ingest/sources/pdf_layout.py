"""A PDF page as lines with font sizes (pypdf's text visitor), and its running header and footer bands."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

FIRST_PAGES = 3
EDGE = 3  # running headers and footers: the first and last few lines of a page
# Protective marking as printed: "OFFICIAL-SENSITIVE", "OFFICIAL SENSITIVE", "Official – Sensitive".
_MARKING_RE = re.compile(r"\bofficial\s*[-‐‑‒–—―−_:]*\s*sensitive\b", re.I)
# The marking alone on a line, perhaps with a descriptor: "OFFICIAL-SENSITIVE: PERSONAL".
_MARKING_LINE_RE = re.compile(rf"^\W*(?:{_MARKING_RE.pattern})(?:\W+[a-z]+){{0,2}}\W*$", re.I)


@dataclass
class Line:
    """One extracted line with the size of most of its type; `main` drops pieces set much smaller."""

    text: str
    size: float
    main: str


@dataclass
class PageLayout:
    """A page's plain text (what the reader keeps) and its lines with their font sizes."""

    text: str
    lines: list[Line]


def pages_to_read(n_pages: int) -> set[int]:
    """The pages metadata comes from: the first few and the last (where BMC prints its DOI)."""
    return {i for i in (*range(FIRST_PAGES), n_pages - 1) if 0 <= i < n_pages}


def _scale(cm: list[float], tm: list[float]) -> float:
    # The rendered size is the font size times the vertical scale of text matrix x current matrix.
    c = tm[2] * cm[0] + tm[3] * cm[2]
    d = tm[2] * cm[1] + tm[3] * cm[3]
    return math.hypot(c, d) or 1.0


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("\u00ad", "")
    return " ".join(text.split())


def page_layout(page: object) -> PageLayout:
    """Extract a page once in plain mode, keeping each line's dominant font size from the text visitor."""
    pieces: list[tuple[str, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], font_dict: object, font_size: float) -> None:
        if text:
            pieces.append((text, float(font_size or 0) * _scale(cm, tm)))

    raw = page.extract_text(extraction_mode="plain", visitor_text=visit)
    grouped: list[list[tuple[str, float]]] = [[]]
    for text, size in pieces:
        for k, part in enumerate(text.split("\n")):
            if k:
                grouped.append([])
            if part:
                grouped[-1].append((part, size))
    lines = []
    for parts in grouped:
        weights: Counter[float] = Counter()
        for part, size in parts:
            weights[round(size, 1)] += len(part.strip())
        if not weights or not _clean("".join(p for p, _ in parts)):
            continue
        size = weights.most_common(1)[0][0]
        main = _clean("".join(p for p, s in parts if s >= 0.8 * size or not p.strip()))
        lines.append(Line(_clean("".join(p for p, _ in parts)), size, main))
    return PageLayout(raw, lines)


def edges(lines: list[str]) -> list[str]:
    lines = [ln for ln in lines if ln.strip()]
    return lines[:EDGE] + lines[EDGE:][-EDGE:]


def band_key(text: str) -> str:
    # Page numbers change from page to page; the running line around them does not.
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def band_lines(layouts: list[PageLayout], first: int | None) -> list[str]:
    """Running heads and footers (on two pages read, page numbers aside), and the edges of page `first`."""
    counts: Counter[str] = Counter()
    for layout in layouts:
        counts.update({band_key(t) for t in edges([ln.text for ln in layout.lines])})
    band = []
    for page_no, layout in enumerate(layouts):
        band += [t for t in edges([ln.text for ln in layout.lines]) if counts[band_key(t)] >= 2 or page_no == first]
    return band


def marking(pages: list[list[str]]) -> str | None:
    """ "official-sensitive" when a page's header or footer band carries that protective marking.

    A line that is nothing but the marking counts wherever it sits: two-column extraction can put a
    header in mid-page. A sentence that merely mentions the marking in body text does not.
    """
    for lines in pages:
        if any(_MARKING_RE.search(line) for line in edges(lines)):
            return "official-sensitive"
        if any(_MARKING_LINE_RE.match(line) for line in lines):
            return "official-sensitive"
    return None


_PAGE_OF_RE = re.compile(r"\bpage\s+(\d{1,4})\s+of\s+\d{1,4}\b", re.I)  # "Page 2 of 13"
_PAGE_NUMBER_LINE_RE = re.compile(r"^\s*(\d{1,4})\s*$")
# A running head with the page number at either end: "2 E. PEACH AND J. MARTIN", "HEALTH PSYCHOLOGY ... 3".
_RUNNING_NUMBER_RE = re.compile(r"^\s*(\d{1,4})\s+\S*[^\W\d]|[^\W\d]\S*\s+(\d{1,4})\s*$")
_MIN_NUMBERED_PAGES = 3
# What a publisher's download cover says (Taylor & Francis, JSTOR): two of these on the first page make it one.
_COVER_CUES = re.compile(
    r"to cite this article|full terms (?:&|and) conditions of access|download(?:ed)? by\s*:|stable url\s*:"
    r"|your use of the jstor archive|this content downloaded from|submit your article to this journal"
    r"|view crossmark data|article views\s*:",
    re.I,
)


def is_cover(lines: list[str]) -> bool:
    """A publisher's cover sheet before the article: it prints no page number of the article's own."""
    return len({m.group(0).lower() for m in _COVER_CUES.finditer("\n".join(lines))}) >= 2


def _running_numbers(pages: list[list[str]]) -> dict[int, int]:
    """Page numbers printed in a running head or foot: the same line on several pages, its number changing."""
    seen: dict[str, dict[int, int]] = {}
    for i, lines in enumerate(pages):
        for line in edges(lines):
            if m := _RUNNING_NUMBER_RE.search(line):
                seen.setdefault(band_key(line), {}).setdefault(i, int(m.group(1) or m.group(2)))
    numbers: dict[int, int] = {}
    for found in seen.values():
        # A report number printed on every page ("Research Report 361") is the same on each: no page number.
        if len(found) >= _MIN_NUMBERED_PAGES and len(set(found.values())) == len(found):
            for i, n in found.items():
                numbers.setdefault(i, n)
    return numbers


def _printed_number(lines: list[str]) -> int | None:
    band = edges(lines)
    for pattern in (_PAGE_OF_RE, _PAGE_NUMBER_LINE_RE):
        if number := next((int(m.group(1)) for line in band if (m := pattern.search(line))), None):
            return number
    return None


def printed_labels(labels: list[str], pages: list[list[str]]) -> list[str]:
    """The page labels, unless the pages print their numbers and the label tree is out of step with them.

    The BMC article (Epton 2014) labels its pages "0", "1", ... while they print "Page 2 of 13" on the second, and
    the Taylor & Francis article (Peach 2016) labels its publisher's cover "1" and its page 1 "2": every citation
    was a page off what the reader sees. A steady offset from physical pages, seen on most numbered pages,
    replaces the labels. Pages before page 1 print no number and none is made up for them: a publisher's cover
    is "[cover]" (before page 1 or before journal page 233 alike), other such pages "[front 1]", "[front 2]", ...
    (square brackets, as a cataloguer marks what the item does not print).
    """
    cover = bool(pages) and is_cover(pages[0])
    out = _numbered(labels, pages, skip=1 if cover else 0)
    return ["[cover]", *out[1:]] if cover else out


def _numbered(labels: list[str], pages: list[list[str]], skip: int) -> list[str]:
    running = _running_numbers(pages)
    printed = {
        i: n
        for i, lines in enumerate(pages)
        if i >= skip and (n := _printed_number(lines) or running.get(i)) is not None
    }
    if len(printed) < _MIN_NUMBERED_PAGES:
        return labels
    offset, steady = Counter(n - i for i, n in printed.items()).most_common(1)[0]
    if steady < 0.8 * len(printed):
        return labels
    agreeing = [i for i, n in printed.items() if n - i == offset]
    if sum(labels[i] == str(printed[i]) for i in agreeing) >= 0.5 * len(agreeing):
        return labels
    front = max(0, 1 - offset)  # physical pages before the one numbered 1
    if front > len(labels) // 2:
        return labels  # the numbers start too late to be this document's own pages: keep the tree
    names = ["[cover]"] if front == 1 else [f"[front {k}]" for k in range(1, front + 1)]
    return names + [str(i + offset) for i in range(front, len(labels))]
