"""Plain text and Markdown reader: paragraphs as blocks, headings as sections, optional front matter."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ingest.sources import ReadOptions, SourceError, decode_text, markings
from kb.ids import content_hash, doc_id_for, normalise_doi
from kb.models import DOC_TYPES, Block, Document, ParsedDocument, ReadResult

_ATX_RE = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_RE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_PAGE_RE = re.compile(r"^\s*<!--\s*page:\s*(.*?)\s*-->\s*$", re.I)
_COMMENT_RE = re.compile(r"^\s*<!--.*-->\s*$")
_FENCE_RE = re.compile(r"^ {0,3}(```|~~~)")
_LIST_OR_TABLE_RE = re.compile(r"^\s*(?:[-*+]\s|\d{1,3}[.)]\s|\|)")
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)


def read(path: Path, options: ReadOptions) -> ReadResult:
    """Read a .txt or Markdown file into one ParsedDocument with a block per paragraph."""
    result = ReadResult(path=str(path))
    text = decode_text(path.read_bytes(), result.problems)
    text = text.replace("\r\n", "\n").replace("\r", "\n")

    markdown = path.suffix.lower() in (".md", ".markdown")
    meta: dict = {}
    if markdown:
        meta, text = _front_matter(text, result.problems)

    blocks, first_h1 = _parse(text.split("\n"), markdown)
    if not blocks:
        raise SourceError(path, "no text: the file has no paragraphs to index")

    full_text = "\n\n".join(b.text for b in blocks)
    doi = normalise_doi(_str(meta.get("doi")))
    sensitivity = options.sensitivity
    # Front matter and markings in the text may only tighten the handling asked for, never loosen it.
    if meta.get("sensitivity") == "official-sensitive":
        sensitivity = "official-sensitive"
    sensitivity = markings.tightened(sensitivity, [full_text, _str(meta.get("title")) or ""])
    document = Document(
        doc_id=doc_id_for(doi, full_text),
        title=_str(meta.get("title")) or first_h1 or path.stem,
        doc_type=options.doc_type or _doc_type(meta, result.problems) or "research",
        source=str(path),
        authors=_list(meta.get("authors", meta.get("author"))),
        year=_year(meta.get("year", meta.get("date"))),
        publisher=_str(meta.get("publisher")),
        journal=_str(meta.get("journal")),
        doi=doi,
        url=_str(meta.get("url")),
        abstract=_str(meta.get("abstract")),
        keywords=_list(meta.get("keywords")),
        districts=_list(meta.get("districts")),
        sensitivity=sensitivity,
        content_hash=content_hash(full_text),
    )
    if _str(meta.get("title")):
        document.field_sources["title"] = "metadata"
    elif first_h1:
        document.field_sources["title"] = "layout"  # the first heading; a file name has no source to claim
    result.documents.append(ParsedDocument(document=document, blocks=blocks))
    return result


def _front_matter(text: str, problems: list[str]) -> tuple[dict, str]:
    match = _FRONT_MATTER_RE.match(text)
    if not match:
        return {}, text
    body = text[match.end() :]
    try:
        meta = yaml.safe_load(match.group(1) or "")
    except yaml.YAMLError as exc:
        problems.append(f"front matter ignored: not valid YAML ({str(exc).splitlines()[0]})")
        return {}, body
    if meta is None:
        return {}, body
    if not isinstance(meta, dict):
        problems.append("front matter ignored: expected 'key: value' lines")
        return {}, body
    return {str(k).lower(): v for k, v in meta.items()}, body


def _parse(lines: list[str], markdown: bool) -> tuple[list[Block], str | None]:
    """Blocks per paragraph (with section path and page), and the first level-1 heading."""
    blocks: list[Block] = []
    path: list[str] = []
    page: str | None = None
    paragraph: list[str] = []
    first_h1: str | None = None
    fence: str | None = None

    def flush() -> None:
        text = _join(paragraph)
        if text:
            blocks.append(Block(text=text, section=list(path), page_label=page))
        paragraph.clear()

    def heading(level: int, title: str) -> None:
        nonlocal path, first_h1
        flush()
        path = [*path[: level - 1], title]
        if level == 1 and first_h1 is None:
            first_h1 = title

    for i, line in enumerate(lines):
        if fence:
            paragraph.append(line)
            if line.strip().startswith(fence):
                fence = None
                flush()
            continue
        if markdown and (m := _FENCE_RE.match(line)):
            flush()
            fence = m.group(1)
            paragraph.append(line)
            continue
        if m := _PAGE_RE.match(line):
            flush()
            page = m.group(1) or None
            continue
        if _COMMENT_RE.match(line):
            continue
        if markdown and (m := _ATX_RE.match(line)):
            if m.group(2):
                heading(len(m.group(1)), m.group(2).strip())
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        # An underlined line is a heading only when it stands alone; otherwise `---` is a rule.
        if line.strip() and not paragraph and (u := _SETEXT_RE.match(nxt)) and len(u.group(1)) >= 3:
            heading(1 if u.group(1)[0] == "=" else 2, line.strip())
            continue
        if not line.strip() or (_SETEXT_RE.match(line) and len(line.strip()) >= 3):
            flush()
            continue
        paragraph.append(line)
    flush()
    return blocks, first_h1


def _join(lines: list[str]) -> str:
    """Unwrap prose lines into one line, but keep list items, table rows and code on their own lines."""
    if lines and _FENCE_RE.match(lines[0]):
        return "\n".join(lines).strip()
    text = ""
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if not text:
            text = stripped
        elif _LIST_OR_TABLE_RE.match(line):
            text += "\n" + stripped
        else:
            text += " " + stripped
    return text


def _str(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _list(value: object) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else re.split(r"\s*;\s*", str(value))
    return [s for item in items if (s := _str(item))]


def _year(value: object) -> int | None:
    match = re.search(r"\b(1[5-9]\d{2}|2\d{3})\b", str(value)) if value is not None else None
    return int(match.group(1)) if match else None


def _doc_type(meta: dict, problems: list[str]) -> str | None:
    value = _str(meta.get("doc_type"))
    if value is None:
        return None
    value = value.lower().replace("-", "_").replace(" ", "_")
    if value not in DOC_TYPES:
        problems.append(f"front matter doc_type '{value}' ignored: use one of {', '.join(DOC_TYPES)}")
        return None
    return value
