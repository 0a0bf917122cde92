"""A PDF's title: the largest type near the top of its first real page, or metadata that the pages bear out."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

from ingest.sources.pdf_cues import CORPORATE, DATE_LINE_RE, NOT_TITLES, fold, generic_heading
from ingest.sources.pdf_layout import EDGE, FIRST_PAGES, PageLayout

_COVER_CUES = (
    "to cite this article",
    "download by",
    "downloaded by",
    "full terms & conditions",
    "submit your article to this journal",
    "view related articles",
    "view crossmark data",
    "article views",
    "this content downloaded from",
)


def is_cover_sheet(layout: PageLayout) -> bool:
    """A publisher's download sheet (Taylor & Francis, JSTOR): it repeats the title but is not the paper."""
    text = " ".join(line.text.lower() for line in layout.lines)
    return sum(cue in text for cue in _COVER_CUES) >= 2


_TEMPLATE_RE = re.compile(
    r"template|\[.*\]|^(?:insert|type|enter|click)\b.*\btitle|^untitled\b|^microsoft (?:word|powerpoint) document$",
    re.I,
)


def _words(text: str) -> set[str]:
    text = re.sub(r"(\w)-\s*\n\s*(\w)", r"\1\2", text)
    return set(re.findall(r"[^\W\d_]{3,}", unicodedata.normalize("NFKC", text).lower()))


def plausible_title(title: str | None, path: Path, printed: str) -> str | None:
    """A metadata title worth keeping; None for file names, template and word-processor defaults, ids."""
    if not title:
        return None
    title = re.sub(r"^Microsoft (?:Word|PowerPoint|Excel) - ", "", title).strip()
    title = re.sub(r"\.(?:pdf|docx?|odt|pptx?|indd|tex|rtf)$", "", title, flags=re.I).strip()
    alpha_words = re.findall(r"[^\W\d_]{2,}", title)
    if (
        len(title) < 4
        or len(alpha_words) < 2  # "pone.0115884 1..14", "RiskTriggersReport361", "7225547"
        or fold(title) in NOT_TITLES | {"untitled", "title", "document", "slide", "powerpointpresentation"}
        or _TEMPLATE_RE.search(title)
        or fold(title) == fold(path.stem)
        or (" " not in title and re.search(r"[_\d]|[a-z][A-Z]", title))
    ):
        return None
    # A title the pages never print is a leftover from another document (or a template).
    words = {w.lower() for w in re.findall(r"[^\W\d_]{3,}", title)}
    printed_words = _words(printed)
    if printed_words and words and len(words & printed_words) < 0.5 * len(words):
        return None
    return title


def _running_sizes(layouts: list[PageLayout], page_no: int) -> dict[str, float]:
    """Lines at the edges of the other pages read, with the largest size each is set in there."""
    sizes: dict[str, float] = {}
    for other, layout in enumerate(layouts):
        if other == page_no:
            continue
        for line in layout.lines[:EDGE] + layout.lines[EDGE:][-EDGE:]:
            key = fold(line.text)
            sizes[key] = max(sizes.get(key, 0.0), line.size)
    return sizes


def title_candidates(layouts: list[PageLayout], page_no: int) -> list[int]:
    layout = layouts[page_no]
    running = _running_sizes(layouts, page_no)
    keep = []
    for i, line in enumerate(layout.lines):
        text = line.main or line.text
        key = fold(re.sub(r"^[\d.\s]+", "", text))
        if (
            len(key) < 3
            or generic_heading(text)
            # A running head is set as small here as elsewhere; a title repeated small in later heads is not one.
            or (key in running and line.size <= running[key] + 0.5)
            or len(text) > 250
            or re.search(r"https?://|www\.|[\w.+-]+@[\w-]+\.\w|\bdoi\b|10\.\d{4,9}/", text, re.I)
            or DATE_LINE_RE.match(text)
            or text in CORPORATE  # "Home Office" set large above a report's title is its author
        ):
            continue
        keep.append(i)
    return keep


def _body_size(layouts: list[PageLayout]) -> float:
    # Over all pages read: a cover page can be mostly title.
    weights: Counter[float] = Counter()
    for line in (line for layout in layouts for line in layout.lines):
        weights[line.size] += len(line.text)
    return weights.most_common(1)[0][0] if weights else 0.0


def _join_title(parts: list[str]) -> str:
    text = ""
    for part in parts:
        # "cluster-" + "randomised": a title keeps its hyphen and loses the line break.
        text = text + part if text.endswith("-") else f"{text} {part}".strip()
    return text


def layout_title(layouts: list[PageLayout]) -> tuple[str, int, int] | None:
    """(title, page, index of the line after it): the largest type on the first page that is the paper's."""
    body = _body_size(layouts)
    for page_no, layout in enumerate(layouts[:FIRST_PAGES]):
        if is_cover_sheet(layout):
            continue
        keep = title_candidates(layouts, page_no)
        if not keep:
            continue
        top = max(layout.lines[i].size for i in keep)
        if top < 1.15 * body:
            return None  # one size throughout: the reader falls back to the first heading or line
        start = next(i for i in keep if abs(layout.lines[i].size - top) <= 0.6)
        end = start + 1
        while end < len(layout.lines) and end - start < 6 and end in keep and abs(layout.lines[end].size - top) <= 0.6:
            end += 1
        title = _join_title([layout.lines[i].main or layout.lines[i].text for i in range(start, end)])
        return title, page_no, end
    return None


# "Chapter II.", "Part 3", "Section 4.1": where a book page or report section starts, not what the document is.
_NUMBERED_PART_RE = re.compile(r"^(?:chapter|part|section|book|volume|appendix)\s+[\divxlc.]+\.?$", re.I)
# A heading numbered as a section ("1.What is modern slavery?", "2.1 Methods"): where a part starts, not what the
# document is. A year ("2020 Vision") has more digits.
_SECTION_NUMBER_RE = re.compile(r"^\d{1,2}(?:\.\d{1,2})*(?:\.\s*|\s+)(?=[^\W\d_])")
_MAX_FALLBACK_CHARS = 150


def fallback_title(first_line: str, headings: list[str]) -> str | None:
    """With no type size to go by: the first line, else the first heading that is not a generic one, if either
    reads as a title. A single word is not taken: on a scan it is an OCR fragment ("Achapter", the drop capital
    and "Chapter II." of a book page read as one word), elsewhere a section name; the file name is more honest."""
    if first_line and len(first_line) <= _MAX_FALLBACK_CHARS and _reads_as_title(first_line):
        return first_line
    heading = next((h for h in headings if not (generic_heading(h) or _SECTION_NUMBER_RE.match(h))), None)
    return heading if heading and _reads_as_title(heading) else None


def _reads_as_title(text: str) -> bool:
    return len(re.findall(r"[^\W\d_]{2,}", text)) >= 2 and not _NUMBERED_PART_RE.match(text.strip())
