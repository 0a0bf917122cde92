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
from datetime import datetime
from pathlib import Path

from docx.enum.style import WD_STYLE_TYPE

from ingest.sources import ReadOptions, SourceError, markings
from ingest.sources.pdf_cues import generic_heading
from ingest.sources.pdf_title import plausible_title
from kb.ids import content_hash, doc_id_for, normalise_doi
from kb.models import Block, Document, ParsedDocument, ReadResult

_HEADING_RE = re.compile(r"^heading\s*([1-9])$", re.I)
_LIST_STYLE_RE = re.compile(r"^(list|bullet|numbered)", re.I)
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
_TITLE_STYLE_RE = re.compile(r"(?<!sub)title$", re.I)  # "Title", "Publication Title"; never "Subtitle"
_COVER_PARAGRAPHS = 30  # a cover's title is set in the largest type among the first paragraphs
_MIN_TITLE_PT = 16.0
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
        authors=_authors(core.author),
        year=_year(front, core.created),
        doi=doi,
        keywords=[k for k in re.split(r"\s*[;,]\s*", core.keywords or "") if k],
        sensitivity=sensitivity,
        content_hash=content_hash(full_text),
    )
    _set_provenance(doc, core, front, [_title(title_style, path), _title(cover_title, path)], headings, path)
    result.documents.append(ParsedDocument(document=doc, blocks=blocks))
    return result


def _corrupt(path: Path, exc: BaseException) -> SourceError:
    return SourceError(path, f"corrupt Word file ({_first_line(exc)}): open it in Word and save it again")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


@dataclass
class _Style:
    heading: int | None  # outline level of Heading N, or of a custom style based on one
    is_list: bool
    is_title: bool


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
        out[style.style_id] = _Style(level, bool(_LIST_STYLE_RE.match(name)), bool(_TITLE_STYLE_RE.search(name)))
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
            text = " ".join(_clean(line) for line in cell.text.split("\n") if line.strip())
            # A merged cell is repeated once per grid column it spans: keep it once.
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return rows


def _blocks(document) -> tuple[list[Block], list[str], str | None, str | None]:
    """Blocks in reading order with their section path, the headings met, a Title-style line and the cover's
    title (the consecutive lines set in the largest type among the first paragraphs)."""
    from docx.table import Table

    styles = _styles(document)
    blocks: list[Block] = []
    headings: list[str] = []
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
        text = _clean(part.text)
        if not text:
            continue
        style = _style_of(part, styles)
        level = style.heading
        if level is None and not headings and len(cover) < _COVER_PARAGRAPHS:
            cover.append((_type_size(part), text))
        if level is not None:
            flush_list()
            path = [*path[: level - 1], text]
            headings.append(text)
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
    return blocks, headings, title, _largest_lines(cover)


def _type_size(paragraph) -> float:
    """The largest explicit run size of a paragraph in points (0 when the runs take the style's size)."""
    sizes = [r.font.size.pt for r in paragraph.runs if r.font.size is not None and r.text.strip()]
    return max(sizes, default=0.0)


def _largest_lines(cover: list[tuple[float, str]]) -> str | None:
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


def _first_heading(headings: list[str]) -> str | None:
    """A document with no title line may be named by its first heading, never by "Introduction" or "Chapter 1 -
    Introduction"; past the first heading a heading names a section, not the document."""
    if not headings:
        return None
    first = headings[0]
    return None if generic_heading(re.sub(r"^chapter\s+\w+\s*[-–—:]\s*", "", first, flags=re.I)) else first


def _set_provenance(doc: Document, core, front: list[str], printed: list[str | None], headings, path) -> None:
    """Title, authors and year with where each came from: plausible core properties, else the page itself."""
    sources = doc.field_sources
    if title := _title(core.title, path):
        doc.title, sources["title"] = title, "metadata"
    elif title := next((t for t in printed if t), None) or _first_heading(headings):
        doc.title, sources["title"] = title, "layout"
    if doc.authors:
        sources["authors"] = "metadata"
    if doc.year is not None:
        printed_year = any(_YEAR_CUE_RE.search(t) for t in front)
        sources["year"] = "layout" if printed_year else "file date"


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


def _title(value: str | None, path: Path) -> str | None:
    if not value:
        return None
    title = plausible_title(value, path, "")
    return None if title is None or _DEFAULT_TITLE_RE.match(title) else title


def _authors(value: str | None) -> list[str]:
    if not value:
        return []
    names = [_clean(n) for n in re.split(r"\s*;\s*|\s+and\s+", value)]
    plausible = [n for n in names if n.lower() not in _PLACEHOLDER_AUTHORS and len(n) < 100]
    return [n for n in plausible if re.search(r"[^\W\d_]{2}", n)]


def _year(front: list[str], created: datetime | None) -> int | None:
    """A date printed near the start, else the file's creation year when it is a possible one."""
    for text in front:
        cue = _YEAR_CUE_RE.search(text)
        if cue:
            return int(cue.group(1))
    if created and 1990 <= created.year <= datetime.now().year:
        return created.year
    return None
