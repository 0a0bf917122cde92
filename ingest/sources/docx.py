"""Word reader (python-docx): headings become sections, tables text rows, lists keep their items.

Passages cite their section path (a .docx has no fixed pages). Core properties give title, author and
year only when plausible: templates and converters leave placeholders and conversion dates there.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from docx.enum.style import WD_STYLE_TYPE

from ingest.sources import ReadOptions, SourceError, docx_meta, markings
from kb.ids import content_hash, doc_id_for, normalise_doi
from kb.models import Block, Document, ParsedDocument, ReadResult

_HEADING_RE = re.compile(r"^heading\s*([1-9])$", re.I)
_LIST_STYLE_RE = re.compile(r"^(list|bullet|numbered)", re.I)
_TITLE_STYLE_RE = re.compile(r"(?<!sub)title$", re.I)  # "Title", "Publication Title"; never "Subtitle"
_CONTENTS_STYLE_RE = re.compile(r"^toc(?:\s*\d|\s+heading)$", re.I)  # Word's own table of contents lines
_CONTENTS_LINE_RE = re.compile(r"^(?:table\s+of\s+)?contents$", re.I)
# A contents entry ends in its page: "A. PURPOSE1-1" (the handbook lost its tab leaders), "Methods 12", "Preface iv".
# "CHAPTER 1" alone is a chapter's opening line, not an entry with its page.
_PAGE_REF_RE = re.compile(r"(?<![\d-])(?<!chapter )(?:\d{1,3}-\d{1,4}|\d{1,4}|\b[ivxlc]{1,6})$", re.I)
_MIN_CONTENTS_ENTRIES = 3
_COVER_PARAGRAPHS = 30  # a cover's title is set in the largest type among the first paragraphs
_FRONT_PARAGRAPHS = 40  # a printed date, if any, is on the cover or the first page
# What a damaged .docx (a zip of XML parts) makes python-docx, zipfile and zlib raise.
_DAMAGE = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    struct.error,
    NotImplementedError,  # a compression method zipfile does not know: a flipped header byte
    KeyError,
    ValueError,
    IndexError,
    TypeError,
    AttributeError,
    OSError,
)


def read(path: Path, options: ReadOptions) -> ReadResult:
    """Read a .docx into one document; a .doc (Word 97-2003) is refused with the remedy."""
    if path.suffix.lower() == ".doc":
        raise SourceError(path, "Word 97-2003 .doc is not read: save as .docx (File › Save As › Word Document)")
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
        blocks, headings, title_style, cover_title = _blocks(document)
        margins = _headers_and_footers(document)
        core = document.core_properties
    except (PackageNotFoundError, *_DAMAGE) as exc:
        raise _corrupt(path, exc) from exc
    except Exception as exc:
        if type(exc).__module__.startswith("lxml"):  # damaged XML inside the zip
            raise _corrupt(path, exc) from exc
        raise

    if not blocks:
        raise SourceError(
            path, "no text: the Word document has no paragraphs or tables to index (a pasted scan? save it as PDF)"
        )
    result = ReadResult(path=str(path))
    full_text = "\n\n".join(b.text for b in blocks)
    front = [b.text for b in blocks[:_FRONT_PARAGRAPHS]]
    doi = normalise_doi(" ".join(front))
    sensitivity = markings.tightened(options.sensitivity, [*margins, core.title or "", core.subject or "", full_text])
    if sensitivity != options.sensitivity:
        result.problems.append("marked OFFICIAL-SENSITIVE: stored as official-sensitive")
    doc = Document(
        doc_id=doc_id_for(doi, full_text),
        title=path.stem,
        doc_type=options.doc_type or "research",
        source=str(path),
        authors=docx_meta.word_authors(core.author),
        year=docx_meta.printed_year(front, core.created),
        doi=doi,
        keywords=[k for k in re.split(r"\s*[;,]\s*", core.keywords or "") if k],
        sensitivity=sensitivity,
        content_hash=content_hash(full_text),
    )
    docx_meta.set_provenance(
        doc,
        core,
        front,
        [docx_meta.plausible_word_title(title_style, path), docx_meta.plausible_word_title(cover_title, path)],
        headings,
        path,
    )
    result.documents.append(ParsedDocument(document=doc, blocks=blocks))
    return result


def _corrupt(path: Path, exc: BaseException) -> SourceError:
    return SourceError(path, f"corrupt Word file ({_first_line(exc)}): open it in Word and save it again")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


@dataclass
class _Style:
    heading: int | None  # outline level of Heading N, or of a custom style based on one
    is_list: bool
    is_title: bool
    is_contents: bool = False


def _styles(document) -> dict[str | None, _Style]:
    """Paragraph styles by id, resolved once: python-docx's `paragraph.style` costs a styles scan per call."""
    out: dict[str | None, _Style] = {}
    default = None
    for style in document.styles:
        if style.type != WD_STYLE_TYPE.PARAGRAPH:
            continue
        level, base = None, style
        for _ in range(4):  # custom heading styles are based on the built-in ones, a step or two up
            match = _HEADING_RE.match(base.name or "")
            if match:
                level = int(match.group(1))
                break
            base = base.base_style
            if base is None:
                break
        name = style.name or ""
        out[style.style_id] = _Style(
            level,
            bool(_LIST_STYLE_RE.match(name)),
            bool(_TITLE_STYLE_RE.search(name)),
            bool(_CONTENTS_STYLE_RE.match(name)),
        )
        if style.element.default:
            default = out[style.style_id]
    out[None] = default or _Style(None, False, False)
    return out


def _style_of(paragraph, styles: dict[str | None, _Style]) -> _Style:
    ppr = paragraph._p.pPr
    style_id = ppr.pStyle.val if ppr is not None and ppr.pStyle is not None else None
    return styles.get(style_id) or styles[None]


def _is_numbered(paragraph) -> bool:
    ppr = paragraph._p.pPr
    return ppr is not None and ppr.numPr is not None


def _table_rows(table) -> list[str]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(docx_meta.clean(line) for line in cell.text.split("\n") if line.strip())
            # A merged cell is repeated once per grid column it spans: keep it once.
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return rows


def _blocks(document) -> tuple[list[Block], list[tuple[int, str]], str | None, str | None]:
    """Blocks in reading order with their section path, the headings met, a Title-style line and the cover's
    title (the consecutive lines set in the largest type among the first paragraphs)."""
    from docx.table import Table

    styles = _styles(document)
    blocks: list[Block] = []
    headings: list[tuple[int, str]] = []  # (outline level, text)
    title: str | None = None
    path: list[str] = []
    items: list[str] = []
    cover: list[tuple[float, str]] = []  # (type size, text) of the first paragraphs before any heading

    def flush_list() -> None:
        if items:
            blocks.append(Block(text="\n".join(f"- {i}" for i in items), section=list(path)))
            items.clear()

    for part in document.iter_inner_content():
        if isinstance(part, Table):
            flush_list()
            rows = _table_rows(part)
            if rows:
                blocks.append(Block(text="\n".join(rows), section=list(path)))
            continue
        text = docx_meta.clean(part.text)
        if not text:
            continue
        style = _style_of(part, styles)
        if style.is_contents:
            continue  # Word's generated contents repeat the headings with page numbers: no passage
        level = style.heading
        if level is None and not headings and len(cover) < _COVER_PARAGRAPHS:
            cover.append((_type_size(part), text))
        if level is not None:
            flush_list()
            path = [*path[: level - 1], text]
            headings.append((level, text))
            continue
        if style.is_title and title is None:
            title = text
            continue
        if style.is_list or _is_numbered(part):
            items.append(text)
            continue
        flush_list()
        blocks.append(Block(text=text, section=list(path)))
    flush_list()
    return _without_typed_contents(blocks), headings, title, docx_meta.largest_lines(cover)


def _without_typed_contents(blocks: list[Block]) -> list[Block]:
    """Drop each contents list typed as plain paragraphs: a "Table of Contents" line, then entries ending in their
    page ("A. PURPOSE1-1": the handbook lost its tab leaders) or short capitals ("CHAPTER 1 - INTRODUCTION").
    The handbook's four typed lists (150 entries each) were passages matching any query on its headings."""
    out: list[Block] = []
    i = 0
    while i < len(blocks):
        if _CONTENTS_LINE_RE.match(blocks[i].text):
            j, last_ref, refs = i + 1, i, 0
            while j < len(blocks) and blocks[j].section == blocks[i].section and _contents_entry(blocks[j].text):
                if _PAGE_REF_RE.search(blocks[j].text):
                    last_ref, refs = j, refs + 1
                j += 1
            # Capitals after the last entry with a page ("CHAPTER 1" / "INTRODUCTION") open the text: kept.
            if refs >= _MIN_CONTENTS_ENTRIES and refs >= 0.6 * (last_ref - i):
                i = last_ref + 1
                continue
        out.append(blocks[i])
        i += 1
    return out


def _contents_entry(text: str) -> bool:
    text = text.removeprefix("- ")
    return "\n" not in text and (bool(_PAGE_REF_RE.search(text)) or (text.isupper() and len(text.split()) <= 16))


def _type_size(paragraph) -> float:
    """The largest explicit run size of a paragraph in points (0 when the runs take the style's size)."""
    sizes = [r.font.size.pt for r in paragraph.runs if r.font.size is not None and r.text.strip()]
    return max(sizes, default=0.0)


def _headers_and_footers(document) -> list[str]:
    """Text of every section's headers and footers, text boxes and tables included: where markings are printed."""
    from docx.oxml.ns import qn

    texts = []
    for section in document.sections:
        for part in (
            section.header,
            section.footer,
            section.first_page_header,
            section.first_page_footer,
            section.even_page_header,
            section.even_page_footer,
        ):
            if part.is_linked_to_previous:
                continue
            for p in part._element.iter(qn("w:p")):
                text = "".join(t.text or "" for t in p.iter(qn("w:t")))
                if text.strip():
                    texts.append(text)
    return texts
