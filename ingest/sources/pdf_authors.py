"""A PDF's authors: people printed under the title or named in metadata the pages bear out, or a public body."""

from __future__ import annotations

import re

from ingest.sources.pdf_cues import CORPORATE, DATE, DATE_LINE_RE, fold, generic_heading
from ingest.sources.pdf_layout import PageLayout
from ingest.sources.pdf_ligatures import vocabulary
from ingest.sources.pdf_xmp import xmp_items
from kb.models import Document

_DEGREES = frozenset(
    """phd ph.d ph.d. dphil md mbbs mbchb msc ma ba bsc bs ms mph mfph ffph frcp frcpsych mrcp mrcpsych
    fmedsci dmsc dsc rn ceng prof prof. professor dr dr. mr mr. mrs mrs. ms. miss sir""".split()
)
_PARTICLES = frozenset("van von der den de del della da di du dos le la bin al el ter ten".split())
_NOT_NAME_WORDS = re.compile(
    r"\b(?:university|department|school|institute|centre|center|college|faculty|hospital|report|research"
    r"|guide|office|council|ministry|unit|trust|foundation|journal|abstract|background|published|copyright"
    r"|the|for|of|with|from|this|that|is|are|was|study|trial|review)\b",
    re.I,
)
# A template's placeholder printed where the author goes (multicolumn.pdf prints "Your Name" under its title).
_PLACEHOLDER_NAMES = frozenset(
    "yourname authorname authorsname firstlast firstnamelastname firstnamesurname namesurname firstauthor "
    "secondauthor fullname".split()
)
_EMAIL_NOTE_RE = re.compile(r"\s*[(<\[][^()<>\[\]\s]+@[^()<>\[\]\s]+[)>\]]")
_PUBLISHED_BY_RE = re.compile(r"\bpublished by (?:the )?([A-Z][\w&'’]*(?: (?:[A-Z][\w&'’]*|and|of|for|&))*)")


def _name(raw: str) -> str | None:
    if re.search(r"[:/@()\[\]|]", raw) or re.search(rf"\b{DATE}", raw, re.I):
        return None  # "Date: 5 June 2022", "(http://...)": a label or a date, not a person
    tokens = [t for t in re.sub(r"[\d*†‡§¶#]+", " ", raw).replace("’", "'").split() if t.lower() not in _DEGREES]
    name = " ".join(tokens).strip(" ,.;")
    tokens = name.split()
    if not (2 <= len(tokens) <= 6) or _NOT_NAME_WORDS.search(name) or fold(name) in _PLACEHOLDER_NAMES:
        return None
    if not (tokens[0][:1].isupper() and tokens[-1][:1].isupper() and len(tokens[-1].strip(".")) >= 2):
        return None
    if not all(t[:1].isupper() or t.lower() in _PARTICLES for t in tokens):
        return None
    return name


def _surname_first(part: str) -> str | None:
    """ "Smith, Jane" or "van Sluijs, Esther M F" -> the name in reading order; None for "Jamie Brown, Susan"."""
    if part.count(",") != 1:
        return None
    left, right = (side.split() for side in part.split(","))
    if not right or not left or any(t.lower() not in _PARTICLES for t in left[:-1]):
        return None
    return " ".join([*right, *left])


def split_authors(value: str) -> list[str]:
    """ "A. Analyst; B. Writer", "Smith, Jane; Doe, J.", "Jamie Brown, Susan Michie and Robert West" -> names."""
    names = []
    for part in re.split(r"\s*;\s*|\s+and\s+|\s*&\s*", value):
        pieces = [flipped] if (flipped := _surname_first(part)) else re.split(r"\s*,\s*", part)
        names += [n for p in pieces if p.strip() and (n := _name(p)) is not None]
    return names


def _strip_markers(names: list[str], following: list[str]) -> list[str]:
    # "Emily Peacha and Jilly Martinb" over "aSchool of ...; bDepartment of ...": letters as markers.
    markers = set()
    for line in following:
        markers |= set(re.findall(r"(?:^|[;,]\s*)([a-z])(?=[A-Z][a-z])", line))
    if markers and all(n[-1] in markers for n in names):
        return [n[:-1] for n in names]
    return names


def layout_authors(layout: PageLayout, after: int) -> list[str]:
    """Names in the lines under the title, or under a subtitle of a line or two set in another size (the libtasn1
    manual: its subtitle and version line in 10.9 pt, then its three authors in 14.3): mostly names, or nothing."""
    taken, names = _block_names(layout, after)
    following = layout.lines[after + len(taken) : after + len(taken) + 1]
    if not names and 0 < len(taken) <= 2 and following and abs(following[0].size - layout.lines[after].size) > 0.6:
        after += len(taken)
        taken, names = _block_names(layout, after)
        # Further from the title a line of capitalised words is more often a heading ("Installation And Use
        # Notes"): each name there must hold a word that is no common English word, as "Fiorina" is.
        _, common = vocabulary()
        if not all(any(len(t) > 2 and t.lower() not in common for t in n.split()) for n in names):
            names = []
    if not names:
        return []
    rest = [ln.text for ln in layout.lines[after + len(taken) : after + len(taken) + 3]]
    return _strip_markers(names, rest)


def _block_names(layout: PageLayout, start: int) -> tuple[list[str], list[str]]:
    """The lines of one type size from `start` (up to four) and the names they hold: none unless mostly names."""
    lines = layout.lines[start : start + 6]
    if not lines:
        return [], []
    size = lines[0].size
    taken = []
    for line in lines:
        if (
            abs(line.size - size) > 0.6
            or generic_heading(line.text)
            or DATE_LINE_RE.match(line.text)
            or len(taken) == 4
        ):
            break
        taken.append(line.main or line.text)
    # An address after a name is not part of it: "Nikos Mavrogiannopoulos (help-libtasn1@gnu.org)".
    joined = _EMAIL_NOTE_RE.sub("", ", ".join(taken))
    parts = [p for p in re.split(r"\s*;\s*|\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*", joined) if p.strip()]
    parts = [p for p in parts if re.search(r"[^\W\d_]{2}", p)]  # "1,2*" markers split off
    names = [n for p in parts if (n := _name(p)) is not None]
    if not names or len(names) < 0.6 * len(parts) or _name(parts[0]) is None:
        return taken, []
    return taken, names


def surname(name: str) -> str:
    return fold(name.split()[-1]) if name.split() else ""


def corporate_author(texts: list[str]) -> str | None:
    """The public body that published the document, when it names itself in the pages read."""
    for text in texts:
        flat = " ".join(text.split())
        # "Published by HM Revenue and Customs" names the publisher even after other bodies are mentioned.
        published_by = m.group(1) if (m := _PUBLISHED_BY_RE.search(flat)) else ""
        if body := next((c for c in CORPORATE if published_by.startswith(c)), None):
            return body
        if body := next((c for c in CORPORATE if re.search(rf"\b{re.escape(c)}\b", flat)), None):
            return body
    return None


def metadata_authors(info: dict[str, str | None], xmp: str) -> list[str]:
    creators = [n for c in xmp_items(xmp, "dc:creator") if (n := _name(c)) is not None]
    return creators or split_authors(info.get("/Author") or "")


def choose_authors(
    document: Document, info: dict[str, str | None], xmp: str, layouts: list[PageLayout], found: tuple | None
) -> None:
    sources = document.field_sources
    printed_names = layout_authors(layouts[found[1]], found[2]) if found else []
    meta_names = metadata_authors(info, xmp)
    # A metadata author the pages never print is a template's or a typist's ("Laura Anderton").
    printed_words = {fold(w) for w in re.findall(r"[^\W\d_]{2,}", "\n".join(lay.text for lay in layouts))}
    verified = bool(meta_names) and surname(meta_names[0]) in printed_words
    if verified and printed_names and surname(printed_names[0]) == surname(meta_names[0]):
        # Metadata often names the first author only; the title page names them all.
        longer = printed_names if len(printed_names) > len(meta_names) else meta_names
        document.authors, sources["authors"] = longer, "layout" if longer is printed_names else "metadata"
    elif verified:
        document.authors, sources["authors"] = meta_names, "metadata"
    elif printed_names:
        document.authors, sources["authors"] = printed_names, "layout"
    elif not document.doi and (corporate := corporate_author([lay.text for lay in layouts])):
        # Only for a document without a DOI: a journal article that mentions the Home Office is not by it.
        document.authors, sources["authors"] = [corporate], "layout"
    elif meta_names:
        document.authors, sources["authors"] = meta_names, "metadata"
