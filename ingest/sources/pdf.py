"""PDF reader (pypdf): cleaned text per page, printed page labels, sections from bookmarks or layout."""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

from ingest.sources import (
    ReadOptions,
    SourceError,
    ocr,
    pdf_authors,
    pdf_contents,
    pdf_layout,
    pdf_ligatures,
    pdf_meta,
    pdf_ocr,
    pdf_title,
    pdf_xmp,
)
from kb.ids import content_hash, doc_id_for, file_hash
from kb.models import Block, Document, ParsedDocument, ReadResult

# What a damaged file makes pypdf raise: its own errors, plus the builtins it lets escape from
# malformed object trees and streams. Anything else is a bug worth seeing, not a "corrupt PDF".
_PDF_ERRORS = (
    PyPdfError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    AssertionError,
    RecursionError,
    zlib.error,
)
# kb ingest takes no password: the remedy is a copy without one.
_ENCRYPTED = (
    "encrypted: password required; open it with its password in a PDF reader, save a copy without the password "
    "(Save As, or Print > Save as PDF) and ingest that copy"
)

_EDGE_LINES = 3  # headers and footers live in the first or last few lines of a page
_PAGE_NUMBER_RE = re.compile(
    r"^(?:page\s+)?[-–—\s]*(?:\d{1,4}|m{0,3}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3}))(?:\s*(?:/|of)\s*\d{1,4})?[-–—\s]*$",
    re.I,
)
# A bookmark named for a place, not a section: PLOS ONE's "Section_16", "TABLE_1", "Figure 2", "Reference 23". A
# passage cited "§ Section_16" names nothing the reader can find, and "Reference 23" hid the reference list from
# the reference prior. An outline of nothing else is no outline: the contents page or the layout gives the sections.
_ANCHOR_RE = re.compile(r"[A-Za-z]+_\d+|(?:figure|fig\.?|table|reference|ref\.?|box|equation|eq\.?)\s*\d+[a-z]?", re.I)
_NUMBERED_HEADING_RE = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+(\S.*)$")
_SMALL_WORDS = frozenset(
    "a an and as at but by for from in into of on or per the to vs via with within without".split()
)
_INFO_KEYS = ("/Title", "/Author", "/Subject", "/Keywords", "/doi", "/DOI", "/CreationDate")


@dataclass
class _Line:
    text: str
    heading: list[str] | None = None  # the section path that starts at this line


def read(path: Path, options: ReadOptions) -> ReadResult:
    """Read a PDF into one ParsedDocument; a PDF without a text layer gives status `no_text`."""
    data = path.read_bytes()
    try:
        reader = PdfReader(path)
        _unlock(path, reader)
        n_pages = len(reader.pages)
        labels = _page_labels(reader, n_pages)
        outline = _outline_starts(reader)
        metadata = reader.metadata
    except SourceError:
        raise
    except FileNotDecryptedError as exc:
        raise SourceError(path, _ENCRYPTED) from exc
    except _PDF_ERRORS as exc:
        raise SourceError(path, f"corrupt PDF: {_first_line(exc)}; get a fresh copy or re-save it as PDF") from exc

    result = ReadResult(path=str(path))
    meta_pages = pdf_layout.pages_to_read(n_pages)
    layouts: list[pdf_layout.PageLayout] = []
    pages: list[list[str]] = []
    for i, page in enumerate(reader.pages):
        try:
            # The metadata pages are extracted once, with font sizes; their text is the same plain text.
            if i in meta_pages:
                layouts.append(pdf_layout.page_layout(page))
                raw = layouts[-1].text
            else:
                raw = page.extract_text(extraction_mode="plain")
        except _PDF_ERRORS as exc:
            result.problems.append(f"page {labels[i]}: text could not be extracted ({_first_line(exc)})")
            raw = ""
            if i in meta_pages:
                layouts.append(pdf_layout.PageLayout("", []))  # keeps the last page last
        pages.append(pdf_ligatures.normalise(raw).split("\n"))
    pages = pdf_ligatures.rejoin_names(pages)
    scanned = pdf_ocr.ocr_empty_pages(data, pages, labels, options, result.problems)

    # Read the marking before running headers and footers, where it is printed, are stripped.
    marked = pdf_layout.marking(pages)
    labels = pdf_layout.printed_labels(labels, pages)
    pages = _strip_running_lines(pages)
    blocks, headings = _blocks(pages, labels, outline, {p.index - 1 for p in scanned})

    info = {key: _meta_text(metadata, key) for key in _INFO_KEYS}
    document = Document(
        doc_id="",
        title="",
        doc_type=options.doc_type or "research",
        source=str(path),
        sensitivity=marked or options.sensitivity,
    )
    if not blocks:
        document.doc_id = f"sha256:{file_hash(data)[:32]}"
        document.content_hash = file_hash(data)
        if title := pdf_title.plausible_title(info["/Title"], path, ""):
            document.title, document.field_sources["title"] = title, "metadata"
        else:
            document.title = path.stem
        if authors := pdf_authors.split_authors(info["/Author"] or ""):
            document.authors, document.field_sources["authors"] = authors, "metadata"
        if (year := pdf_xmp.creation_year(info)) is not None:
            document.year, document.field_sources["year"] = year, "file date"
        document.status = "no_text"
        if ocr.unavailable():
            result.problems.append(f"no text layer: {ocr.unavailable()}")
        result.documents.append(ParsedDocument(document=document))
        return result

    full_text = "\n\n".join(b.text for b in blocks)
    first_line = pdf_meta.describe(document, info, pdf_xmp.xmp_text(reader), layouts, path)
    if not document.title:
        # One type size throughout: the first line that is not a masthead, else the first real heading.
        fallback = pdf_title.fallback_title(first_line, headings)
        if fallback:
            document.title, document.field_sources["title"] = fallback, "layout"
        else:
            document.title = path.stem
    document.doc_id = doc_id_for(document.doi, full_text)
    document.content_hash = content_hash(full_text)
    if scanned:
        document.status, document.ocr_pages = "ocr", scanned
    result.documents.append(ParsedDocument(document=document, blocks=blocks))
    return result


def _unlock(path: Path, reader: PdfReader) -> None:
    """Open a PDF that is encrypted with an empty user password; refuse one that needs a real one."""
    if not reader.is_encrypted:
        return
    try:
        if reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise SourceError(path, _ENCRYPTED)
    except DependencyError as exc:
        raise SourceError(path, "encrypted (AES): install the 'cryptography' package to read it") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _page_labels(reader: PdfReader, n_pages: int) -> list[str]:
    # A broken label tree should not cost the document: fall back to physical numbers.
    try:
        labels = list(reader.page_labels)
    except _PDF_ERRORS:
        labels = []
    if len(labels) != n_pages:
        labels = [str(i + 1) for i in range(n_pages)]
    return labels


def _outline_starts(reader: PdfReader) -> dict[int, list[list[str]]]:
    """Bookmarks as {0-based page: [section path, ...]} in reading order."""
    starts: dict[int, list[list[str]]] = {}

    def walk(items: list, parents: list[str]) -> None:
        last: list[str] = parents
        for item in items:
            if isinstance(item, list):
                walk(item, last)
                continue
            title = " ".join(pdf_ligatures.normalise(str(item.title)).split())
            if not title or _ANCHOR_RE.fullmatch(title):
                continue
            last = [*parents, title]
            try:
                page = reader.get_destination_page_number(item)
            except _PDF_ERRORS:
                continue
            if page is not None and page >= 0:
                starts.setdefault(page, []).append(last)

    try:
        walk(reader.outline, [])
    except _PDF_ERRORS:
        return {}
    return starts


def _line_key(line: str) -> str:
    """A header or footer with its numbers and spacing left out. PLOS ONE prints "2/14" up to page 9 and "12 / 14"
    from page 10; BMJ Open puts the page number before its footer on even pages and after it on odd ones, so
    neither form was on half the pages, and "Corder K, et al. BMJ Open 2016;6:e012335. doi:... 11" stayed in the
    text of every page. Where a number stood at either end the key says so, whichever end: a contents page's
    "Introduction 1" is not the heading "Introduction"."""
    line = re.sub(r"\s*/\s*", "/", " ".join(line.split()))
    core = re.sub(r"^\d+\s+|\s+\d+$", "", line)
    return re.sub(r"\d+", "#", "".join(core.split()).lower()) + ("|#" if core != line else "")


def _strip_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop page numbers and headers/footers repeated (digits aside) on half the pages or more."""
    pages = [[ln for ln in lines if ln.strip()] for lines in pages]
    repeated: set[str] = set()
    if len(pages) >= 3:
        counts: Counter[str] = Counter()
        by_side: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
        for i, lines in enumerate(pages):
            keys = {_line_key(ln) for ln in lines[:_EDGE_LINES] + lines[-_EDGE_LINES:]}
            counts.update(keys)
            by_side[i % 2].update(keys)
        threshold = max(2, (len(pages) + 1) // 2)
        repeated = {key for key, n in counts.items() if n >= threshold}
        # A journal sets one running head on left-hand pages and another on right-hand ones ("2 E. PEACH AND J.
        # MARTIN", "HEALTH PSYCHOLOGY AND BEHAVIORAL MEDICINE 3"): each is on half the pages of its side.
        for side, tally in enumerate(by_side):
            on_side = len(pages[side::2])
            repeated |= {key for key, n in tally.items() if n >= max(3, (on_side + 1) // 2)}

    def running(line: str) -> bool:
        return _line_key(line) in repeated or bool(_PAGE_NUMBER_RE.match(line.strip()))

    # Every running line among a page's first and last few, not only those at its very edge: BMJ Open's first
    # page ends "footer", "Open Access Research", "Downloaded from ..." and the footer sat behind the one line
    # the other pages do not have.
    cleaned = []
    for lines in pages:
        n = len(lines)
        cleaned.append(
            [ln for j, ln in enumerate(lines) if not ((j < _EDGE_LINES or j >= n - _EDGE_LINES) and running(ln))]
        )
    return cleaned


def _is_title_case(text: str) -> bool:
    words = re.findall(r"[^\W\d_][\w'’-]*", text)
    significant = [w for w in words if w.lower() not in _SMALL_WORDS]
    return bool(significant) and all(w[0].isupper() for w in significant) and text[0].isupper()


def _heading_level(line: str, prev: str | None, nxt: str | None) -> tuple[int, str] | None:
    """(level, text) when a line looks like a heading; conservative, as a wrong heading mislabels text."""
    text = " ".join(line.split())
    if not (3 <= len(text) <= 80) or len(text.split()) > 12 or nxt is None:
        return None
    if text[-1] in ".,;:!?-" or not any(c.isalpha() for c in text):
        return None
    # A bracket opened on another line: a sentence running over the page top ("S02.61550, E119.14417), Kecamatan").
    if text.count("(") != text.count(")"):
        return None
    # A heading starts a block: the line before it ended a sentence, or there was none on this page.
    if prev is not None and prev.rstrip()[-1:] not in ".!?:":
        return None
    if nxt[:1].islower():
        return None
    numbered = _NUMBERED_HEADING_RE.match(text)
    # "2.1 Methods" or "3 Results": a numbered list item ("1. young people who ...") is not a heading.
    if numbered and (_is_title_case(numbered.group(2)) or "." in numbered.group(1)):
        return numbered.group(1).count(".") + 1, text
    if not numbered and _is_title_case(text) and len(text.split()) <= 8:
        return 1, text
    return None


def _is_heading_line(line: str, title: str) -> bool:
    """The line is the bookmark's title, perhaps after its number ("2.1 Methods" for "Methods")."""
    line = " ".join(line.split()).lower()
    title = title.lower()
    return line == title or bool(re.fullmatch(r"[\d.]+\s+" + re.escape(title), line))


def _mark_headings(pages: list[list[str]], outline: dict[int, list[list[str]]], labels: list[str]) -> list[list[_Line]]:
    """Each line, with the section path that starts at it: from the bookmarks, else from the contents page, else
    from the layout."""
    if not outline and (listed := pdf_contents.headings(pages, labels)):
        return _mark_listed(pages, listed)
    marked = [[_Line(ln) for ln in lines] for lines in pages]
    if outline:
        for page, paths in outline.items():
            if page >= len(marked):
                continue
            lines = marked[page]
            cursor = 0
            for path in paths:
                # Start the section at its heading line when it can be found, else at the page top.
                hit = next((j for j in range(cursor, len(lines)) if _is_heading_line(lines[j].text, path[-1])), None)
                if hit is None:
                    lines.insert(cursor, _Line("", heading=path))
                    cursor += 1
                else:
                    lines[hit].heading = path
                    cursor = hit + 1
        return marked

    stack: list[str] = []
    for lines in marked:
        for j, line in enumerate(lines):
            prev = lines[j - 1].text if j else None
            nxt = lines[j + 1].text if j + 1 < len(lines) else None
            found = _heading_level(line.text, prev, nxt)
            if found:
                level, text = found
                stack = [*stack[: level - 1], text]
                line.heading = list(stack)
    return marked


def _mark_listed(pages: list[list[str]], listed: dict[int, list[pdf_contents.Heading]]) -> list[list[_Line]]:
    """Lines with the sections the contents page lists; a heading that wraps is one line."""
    marked: list[list[_Line]] = []
    stack: list[str] = []
    for i, lines in enumerate(pages):
        starts = {h.line: h for h in listed.get(i, [])}
        out: list[_Line] = []
        j = 0
        while j < len(lines):
            h = starts.get(j)
            if h is None:
                out.append(_Line(lines[j]))
                j += 1
                continue
            stack = [*stack[: h.level - 1], h.text]
            out.append(_Line(h.text, heading=list(stack)))
            j += h.lines
        marked.append(out)
    return marked


def _blocks(
    pages: list[list[str]], labels: list[str], outline: dict[int, list[list[str]]], scanned: set[int]
) -> tuple[list[Block], list[str]]:
    """Paragraph blocks with their page, section and whether OCR read them (`scanned`: 0-based pages), and the
    headings met in order."""
    blocks: list[Block] = []
    headings: list[str] = []
    section: list[str] = []
    for index, lines in enumerate(_mark_headings(pages, outline, labels)):
        lengths = sorted(len(ln.text) for ln in lines if ln.text)
        typical = lengths[int(len(lengths) * 0.75)] if lengths else 0
        paragraphs: list[tuple[list[str], list[str]]] = [(section, [])]
        for line in lines:
            text = " ".join(line.text.split())
            if line.heading is not None:
                section = line.heading
                headings.append(section[-1])
                paragraphs.append((section, []))
                continue
            paragraphs[-1][1].append(text)
            # A short line that ends a sentence ends its paragraph: pypdf gives no blank lines.
            if text[-1:] in ".!?:" and len(text) < 0.85 * typical:
                paragraphs.append((section, []))
        for path, para in paragraphs:
            joined = _join_lines(para)
            if joined:
                blocks.append(Block(joined, list(path), labels[index], index + 1, index in scanned))
    return blocks, headings


def _join_lines(lines: list[str]) -> str:
    text = ""
    for line in lines:
        if not line:
            continue
        if re.search(r"[^\W\d_]-$", text) and line[:1].islower():
            text = text[:-1] + line  # "vio-" + "lence": a word broken at the line end
        else:
            text = f"{text} {line}" if text else line
    return text


def _meta_text(metadata: object, key: str) -> str | None:
    try:
        value = metadata.get(key) if metadata else None
    except _PDF_ERRORS:
        return None
    if value is None:
        return None
    text = " ".join(str(value).replace("\x00", " ").split())
    return text or None
