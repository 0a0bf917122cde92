"""The year and own DOI a PDF prints on its pages (not a cited paper's, not the day it was downloaded)."""

from __future__ import annotations

import re
import unicodedata

from ingest.sources.pdf_cues import DATE, DATE_LINE_RE, YEAR, fold
from ingest.sources.pdf_layout import FIRST_PAGES, PageLayout, band_lines, edges
from kb.ids import citing_context, find_dois

# How journals print the issue a page belongs to, in running heads and footers.
_ISSUE_RES = (
    re.compile(rf"\b{YEAR}\s*[;,]\s*\d+\s*[:(,]", re.I),  # "Lancet 2018; 391:", "BMC Public Health 2014, 14:563"
    re.compile(rf"\({YEAR}\)\s*\d+\s*[:(]", re.I),  # "(2017) 14:81"
    re.compile(rf"\b{YEAR},?\s+vol\.?\s*\d", re.I),  # "2016 VOL. 5"
    re.compile(rf"\b{DATE}", re.I),  # "January 20, 2018", "December 31, 2014"
)
# Dates that are not the publication's: when it was downloaded, received or looked at.
_OTHER_DATE_RE = re.compile(r"download|accessed|retrieved|printed|received|accepted|revised|submitted|viewed", re.I)
_PUBLISHED_RE = re.compile(rf"\b(?:first\s+)?published(?:\s+online)?\s*(?:in|on)?\s*:?\s*{DATE}", re.I)
_PUBLISHED_YEAR_RE = re.compile(rf"\b(?:first\s+)?published(?:\s+online)?\s*(?:in)?\s*:?\s*{YEAR}\b", re.I)
# A version's date, where no publication date is printed: "last updated 2 October 2018", "Updated: March 2021".
_UPDATED_RE = re.compile(rf"\b(?:last\s+)?updated(?:\s+on)?\s*:?\s*{DATE}", re.I)
_COPYRIGHT_RE = re.compile(rf"(?:©|\(c\)|\bcopyright\b)[^\n\d]{{0,30}}?\[?{YEAR}\b", re.I)
_CITE_CUE_RE = re.compile(
    r"\b(?:to cite(?: this (?:article|paper|report))?|cite this (?:article|paper|report)|please cite|how to cite)\b"
    r"|^\s*citation\s*:",
    re.I | re.M,
)
_REFERENCE_ENTRY_RE = re.compile(r"^\s*\[?\d{1,3}[.\]]\s")  # "27. Julious SJ", "[12] Smith J": a reference list
# A line that is a DOI statement ("doi: 10...", "DOI 10...", "https://doi.org/10..."), not a DOI inside a sentence.
_DOI_LINE_RE = re.compile(r"^\s*(?:doi\s*:?\s*(?:10\.|$)|https?://(?:dx\.)?doi\.org/10\.)", re.I)


def printed_year(layouts: list[PageLayout], first: int) -> int | None:
    """The publication year the pages print: issue line in a running head, 'Published', a cover date, 'last
    updated', ©."""
    for line in band_lines(layouts, first):
        if _OTHER_DATE_RE.search(line):
            continue
        for pattern in _ISSUE_RES:
            if m := pattern.search(line):
                return int(next(g for g in m.groups() if g))
    texts = [unicodedata.normalize("NFKC", layout.text) for layout in layouts]
    for page_no, text in enumerate(texts):
        if page_no >= FIRST_PAGES:
            # On the last page only a line that starts "Published": references there say "published 2019".
            text = "\n".join(ln for ln in text.split("\n") if re.match(r"\s*published\b", ln, re.I))
        if m := _PUBLISHED_RE.search(text) or _PUBLISHED_YEAR_RE.search(text):
            return int(next(g for g in m.groups() if g))
    title_page = layouts[first] if first < len(layouts) else None
    for line in title_page.lines if title_page else []:
        if DATE_LINE_RE.match(line.text) and not _OTHER_DATE_RE.search(line.text):
            return int(next(g for g in DATE_LINE_RE.match(line.text).groups() if g))
    for text in texts[:FIRST_PAGES]:
        if m := _UPDATED_RE.search(text):
            return int(next(g for g in m.groups() if g))
    for text in texts:
        if m := _COPYRIGHT_RE.search(text):
            return int(m.group(1))
    return None


def _own(text: str) -> str | None:
    for match in find_dois(text):
        if not citing_context(text[: match.start]):
            return match.doi
    return None


def _title_block_doi(title_page: PageLayout) -> str | None:
    # A DOI statement among the title page's edges or in its title block (before the abstract starts).
    statements = [t for t in edges([ln.text for ln in title_page.lines]) if _DOI_LINE_RE.search(t)]
    if doi := _own("\n".join(statements)):
        return doi
    block = []
    for line in title_page.lines[:40]:
        if fold(line.text) in {"abstract", "summary", "introduction", "background"}:
            break
        block.append(line.text)
    for i, line in enumerate(block):
        if _DOI_LINE_RE.search(line) and (doi := _own("\n".join(block[i : i + 2]))):
            return doi
    # Elsevier's sidebar: "Published Online" / "November 11, 2017" / "http://dx.doi.org/10.1016/" / "S0140-...".
    lines = [ln.text for ln in title_page.lines]
    for i, line in enumerate(lines):
        if not re.match(r"\s*published online\b", line, re.I):
            continue
        for j in range(i, min(i + 3, len(lines))):
            if _DOI_LINE_RE.search(lines[j]) and (doi := _own("\n".join(lines[j : j + 2]))):
                return doi
    return None


def _cite_box_doi(layout: PageLayout) -> str | None:
    lines = [ln.text for ln in layout.lines]
    for i, line in enumerate(lines):
        if not (cue := _CITE_CUE_RE.search(line)):
            continue
        box = [line[cue.start() :]]
        for following in lines[i + 1 : i + 12]:  # BMJ's box runs to eleven narrow lines
            if _REFERENCE_ENTRY_RE.match(following):
                break  # a reference list starts: its DOIs are citations
            box.append(following)
        if doi := _own("\n".join(box)):
            return doi
        # BMC prints "doi:10.1186/..." alone on the line just above "Cite this article as".
        if i and re.fullmatch(r"(?:doi:?\s*|https?://(?:dx\.)?doi\.org/)\S+", lines[i - 1], re.I):
            if doi := _own(lines[i - 1]):
                return doi
    return None


def layout_doi(layouts: list[PageLayout], first: int) -> str | None:
    """The document's own DOI from where journals print it: running band, title-block line, cite box."""
    if doi := _own("\n".join(band_lines(layouts, None))):
        return doi
    if first < len(layouts) and (doi := _title_block_doi(layouts[first])):
        return doi
    return next((doi for layout in layouts if (doi := _cite_box_doi(layout))), None)
