"""Title, authors and year of a Word document: plausible core properties, else what its cover prints."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from ingest.sources.pdf_cues import generic_heading
from ingest.sources.pdf_title import plausible_title
from kb.models import Document

# Account names and defaults that Word and converters write as the "author".
_PLACEHOLDER_AUTHORS = {
    "admin",
    "administrator",
    "author",
    "user",
    "owner",
    "windows user",
    "microsoft office user",
    "python-docx",
    "unknown",
    "guest",
}
_YEAR_CUE_RE = re.compile(
    r"(?:©|\(c\)|copyright|published|january|february|march|april|may|june|july|august|september"
    r"|october|november|december)\s*(?:\d{1,2}(?:st|nd|rd|th)?,?\s*)?((?:19|20)\d{2})\b",
    re.I,
)
# Word's "Document1", and a template's own placeholder ("Publication title", "Report Title").
_DEFAULT_TITLE_RE = re.compile(r"^(?:(?:document|doc|untitled)\s*\d*|(?:\w+\s+)?title)$", re.I)
_MIN_TITLE_PT = 16.0


def clean(text: str) -> str:
    """One line of Word text: tabs and runs of spaces as single spaces."""
    return " ".join(text.replace("\t", " ").split())


def largest_lines(cover: list[tuple[float, str]]) -> str | None:
    """ "Handbook for" / "Chapter 13" / "Standing Trustees" at 36 pt -> one title; None under 16 pt."""
    top = max((size for size, _ in cover), default=0.0)
    if top < _MIN_TITLE_PT:
        return None
    start = next(i for i, (size, _) in enumerate(cover) if size == top)
    lines = []
    for size, text in cover[start:]:
        if size != top:
            break
        lines.append(text)
    return " ".join(lines)


def _first_heading(headings: list[tuple[int, str]]) -> str | None:
    """A document with no title line may be named by its first heading when that heading stands alone at its
    level: never "Introduction" or "Chapter 1 - Introduction", and never the first of several sibling headings
    (the Public Health Scotland template's "About this release" is the first of six Heading 1 sections)."""
    if not headings:
        return None
    level, first = headings[0]
    if any(other <= level for other, _ in headings[1:]):
        return None
    return None if generic_heading(re.sub(r"^chapter\s+\w+\s*[-–—:]\s*", "", first, flags=re.I)) else first


def set_provenance(
    doc: Document, core, front: list[str], printed: list[str | None], headings: list[tuple[int, str]], path: Path
) -> None:
    """Title, authors and year with where each came from: plausible core properties, else the page itself."""
    sources = doc.field_sources
    if title := plausible_word_title(core.title, path):
        doc.title, sources["title"] = title, "metadata"
    elif title := next((t for t in printed if t), None) or _first_heading(headings):
        doc.title, sources["title"] = title, "layout"
    if doc.authors:
        sources["authors"] = "metadata"
    if doc.year is not None:
        printed_year = any(_YEAR_CUE_RE.search(t) for t in front)
        sources["year"] = "layout" if printed_year else "file date"


def plausible_word_title(value: str | None, path: Path) -> str | None:
    if not value:
        return None
    title = plausible_title(value, path, "")
    return None if title is None or _DEFAULT_TITLE_RE.match(title) else title


def word_authors(value: str | None) -> list[str]:
    if not value:
        return []
    names = [clean(n) for n in re.split(r"\s*;\s*|\s+and\s+", value)]
    plausible = [n for n in names if n.lower() not in _PLACEHOLDER_AUTHORS and len(n) < 100]
    return [n for n in plausible if re.search(r"[^\W\d_]{2}", n)]


def printed_year(front: list[str], created: datetime | None) -> int | None:
    """A date printed near the start, else the file's creation year when it is a possible one."""
    for text in front:
        cue = _YEAR_CUE_RE.search(text)
        if cue:
            return int(cue.group(1))
    if created and 1990 <= created.year <= datetime.now().year:
        return created.year
    return None
