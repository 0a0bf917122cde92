"""Whether two sources are one work: the same DOI, the same content, or a reference's title, year and first author."""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz

from kb.models import Document, SourceRecord

SAME_DOI = "same DOI"
SAME_CONTENT = "same content"
SAME_TITLE = "same title, year and first author"
FULL_TEXT = "attached full text"
SAME_ENTRY = "same toolkit entry"

# Below this a title says nothing about which work it is ("Abstract", "Report").
_MIN_TITLE_CHARS = 20
_NON_TITLES = {"abstract", "untitled", "contents", "introduction", "report", "research", "article", "document"}
# token_set_ratio under which two titles that share a DOI are different works (they stay apart).
_TITLES_DIFFER = 60
# A reference's title against another title, or inside a full text's first page.
_SAME_TITLE = 92
_TITLE_IN_FRONT = 95
FRONT_CHARS = 1500
# Preprint servers' DOI prefixes (bioRxiv/medRxiv, arXiv, OSF, PsyArXiv, SSRN, Research Square, Preprints.org):
# a preprint and its published version have two DOIs and are still one work.
_PREPRINT_DOIS = ("10.1101/", "10.48550/", "10.31219/", "10.31234/", "10.2139/", "10.21203/", "10.20944/")
# A notice about a work is not the work, however alike the titles.
_NOTICES = ("correction", "erratum", "corrigendum", "retraction", "expression of concern", "comment on", "reply to")
_DEGREES = re.compile(r"\b(phd|msc|md|mph|bsc|ba|ma|dr|prof|professor|frcp|mrcp)\b\.?", re.I)


def normalise_title(text: str | None) -> str:
    """Lower case, accents and punctuation gone, one space between words: what a title match compares."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def surname(author: str) -> str:
    """'Okely, Anthony D.' and 'Anthony D. Okely PhD' -> 'okely'."""
    name = _DEGREES.sub(" ", author)
    name = name.split(",")[0] if "," in name else (name.split() or [""])[-1]
    return normalise_title(name).replace(" ", "")


def first_surname(doc: Document) -> str:
    return surname(doc.authors[0]) if doc.authors else ""


def is_preprint(doi: str | None) -> bool:
    return bool(doi) and doi.startswith(_PREPRINT_DOIS)


def informative(title: str) -> bool:
    norm = normalise_title(title)
    return len(norm) >= _MIN_TITLE_CHARS and norm not in _NON_TITLES


def front_text(texts: list[str]) -> str:
    """The start of a source's text, normalised: where a paper prints its title, authors and year."""
    out = normalise_title(" ".join(texts[:8]))
    return out[:FRONT_CHARS]


def titles_differ(a: SourceRecord, b: SourceRecord) -> bool:
    """True only when two sources clearly name different works (they may share a cited DOI): both titles
    say something, they are far apart, and neither is printed at the start of the other's text."""
    ta, tb = a.document.title, b.document.title
    if not (informative(ta) and informative(tb)):
        return False
    if fuzz.token_set_ratio(normalise_title(ta), normalise_title(tb)) >= _TITLES_DIFFER:
        return False
    # A full text's own title may be misread; its first page still prints the real one.
    for x, y in ((a, b), (b, a)):
        if x.front and fuzz.partial_ratio(normalise_title(y.document.title), x.front) >= _TITLE_IN_FRONT:
            return False
    return True


def _reference_matches(ref: SourceRecord, other: SourceRecord) -> bool:
    """A reference entry's title, year and first author against another source's metadata or first page."""
    rd, od = ref.document, other.document
    title = normalise_title(rd.title)
    if not informative(rd.title) or title.startswith(_NOTICES) != normalise_title(od.title).startswith(_NOTICES):
        return False
    by_title = informative(od.title) and fuzz.token_sort_ratio(title, normalise_title(od.title)) >= _SAME_TITLE
    if not by_title and not (other.front and fuzz.partial_ratio(title, other.front) >= _TITLE_IN_FRONT):
        return False
    if rd.year and od.year and abs(rd.year - od.year) > 1:
        # A full text's year from its file's metadata or date is often when the file was made, not the work:
        # only a year printed on it (or a reference's) contradicts the entry's; its first page may settle it.
        trusted = other.kind == "reference" or od.field_sources.get("year") not in (None, "metadata", "file date")
        if trusted and str(rd.year) not in other.front.split():
            return False
    who = first_surname(rd)
    if who and who != first_surname(od) and who not in other.front.split():
        return False
    return True


def same_work(a: SourceRecord, b: SourceRecord) -> str | None:
    """Why two sources are one work (SAME_DOI, SAME_CONTENT, SAME_TITLE), or None."""
    if a.alone or b.alone:
        return None
    da, db = a.document, b.document
    if "toolkit" in (a.kind, b.kind):
        return SAME_ENTRY if a.kind == b.kind and da.doc_id == db.doc_id else None
    if da.content_hash and da.content_hash == db.content_hash and a.kind == b.kind:
        return SAME_CONTENT
    if da.doi and da.doi == db.doi:
        return None if titles_differ(a, b) else SAME_DOI
    if "reference" in (a.kind, b.kind) and not (da.doi and db.doi and not (is_preprint(da.doi) or is_preprint(db.doi))):
        # Two different DOIs are two works (unless one is a preprint's); otherwise title, year and first author decide.
        if (a.kind == "reference" and _reference_matches(a, b)) or (b.kind == "reference" and _reference_matches(b, a)):
            return SAME_TITLE
    return None


def doi_conflict(a: SourceRecord, b: SourceRecord) -> bool:
    """Two sources that give the same DOI but clearly are different works."""
    return bool(a.document.doi and a.document.doi == b.document.doi and titles_differ(a, b))
