"""BibTeX reader (bibtexparser 2): one reference Document per entry, with macros and crossrefs resolved."""

from __future__ import annotations

import re
from pathlib import Path

import bibtexparser
from bibtexparser import middlewares as mw
from bibtexparser.exceptions import BlockAbortedException
from bibtexparser.library import Library
from bibtexparser.model import Block as BibBlock
from bibtexparser.model import DuplicateBlockKeyBlock, Entry, MiddlewareErrorBlock, ParsingFailedBlock

from ingest.sources import ReadOptions, SourceError, decode_text, read_file
from ingest.sources.bibtex_files import attachments_state, file_field, find_attachment
from ingest.sources.reference import reference
from kb.ids import normalise_doi
from kb.models import ParsedDocument, ReadResult

# BibTeX's predefined month macros, so `month = jan # "~1"` reads as it prints.
_MONTHS = dict(
    zip(
        "jan feb mar apr may jun jul aug sep oct nov dec".split(),
        "January February March April May June July August September October November December".split(),
        strict=True,
    )
)
_NOT_INHERITED = {"crossref", "ids", "xdata"}


class _ResolveMacros(mw.LibraryMiddleware):
    """Expand `@string` macros and `#` concatenation, which bibtexparser 2 leaves as raw text.

    Resolved values are re-enclosed in braces so the enclosing-removal step treats them as literals.
    """

    def __init__(self) -> None:
        super().__init__(allow_inplace_modification=True)

    @classmethod
    def metadata_key(cls) -> str:
        return "vru_resolve_macros"

    def transform(self, library: Library) -> Library:
        macros = dict(_MONTHS)
        for string in library.strings:
            # Later @string definitions may use earlier ones, so resolve them in file order.
            value = _resolve(string.value, macros)
            macros[string.key.lower()] = value
            string.value = "{" + value + "}"
        for entry in library.entries:
            for field in entry.fields:
                if isinstance(field.value, str) and not _is_literal(field.value):
                    field.value = "{" + _resolve(field.value, macros) + "}"
        return library


def _is_literal(value: str) -> bool:
    value = value.strip()
    parts = _split_concatenation(value)
    return len(parts) == 1 and (value[:1] in '{"' or value.isdigit())


def _split_concatenation(value: str) -> list[str]:
    """Split on `#` outside braces and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(value):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == '"' and depth == 0:
            quoted = not quoted
        elif ch == "#" and depth == 0 and not quoted:
            parts.append(value[start:i].strip())
            start = i + 1
    parts.append(value[start:].strip())
    return parts


def _resolve(value: str, macros: dict[str, str]) -> str:
    out = []
    for part in _split_concatenation(value.strip()):
        if len(part) >= 2 and (part[0], part[-1]) in (("{", "}"), ('"', '"')):
            out.append(part[1:-1])
        else:
            # An undefined macro keeps its name: visible in the result rather than silently empty.
            out.append(macros.get(part.lower(), part))
    return "".join(out)


# Paths, not text: LaTeX decoding would eat their backslashes (Zotero writes `C\:\\Users\\...`).
_RAW_FIELDS = {"file"}


class _LatexDecode(mw.LatexDecodingMiddleware):
    """LaTeX decoding that also reaches name lists, which the stock middleware skips, and leaves paths alone."""

    def transform_entry(self, entry: Entry, library: Library) -> BibBlock:
        raw = {f.key: f.value for f in entry.fields if f.key.lower() in _RAW_FIELDS}
        for field in entry.fields:
            if isinstance(field.value, list):
                # A name that fails to decode stays as written; one odd name should not drop the entry.
                field.value = self._transform_all_strings(field.value, [])
        block = super().transform_entry(entry, library)
        for field in getattr(block, "fields", []):
            if field.key in raw:
                field.value = raw[field.key]
        return block


_PARSE_STACK = [
    _ResolveMacros(),
    mw.RemoveEnclosingMiddleware(),
    mw.NormalizeFieldKeys(),
    mw.SeparateCoAuthors(),
    mw.SplitNameParts(),
    mw.MergeNameParts(style="last"),
    _LatexDecode(),
]


def _entries(path: Path, problems: list[str]) -> list[dict]:
    """The entries of a .bib file as field dicts, crossrefs resolved; malformed entries become problems."""
    text = decode_text(path.read_bytes(), problems)
    library = bibtexparser.parse_string(text, parse_stack=_PARSE_STACK)
    for block in library.failed_blocks:
        problems.append(_describe_failure(block))
    entries = [_fields(e) for e in library.entries]
    by_key = {f["ID"].lower(): f for f in entries}
    for fields in entries:
        _inherit(fields, by_key, problems)
    return entries


def dependencies(path: Path, options: ReadOptions) -> list[tuple[str, str]]:
    """The .bib's PDF attachments and the state of each: part of its fingerprint (ingest/sources/bibtex_files.py)."""
    return attachments_state(path, options.zotero_storage)


def read(path: Path, options: ReadOptions) -> ReadResult:
    """Read every entry of a .bib file; malformed entries become problems, the rest are kept."""
    result = ReadResult(path=str(path))
    entries = _entries(path, result.problems)
    for fields in entries:
        parsed = _document(fields, path, options, result.problems)
        if parsed:
            result.documents.append(parsed)
            result.documents += _attachments(fields, path, options, result.problems)

    if not result.documents:
        hint = f" ({result.problems[0]})" if result.problems else ""
        raise SourceError(path, f"no BibTeX entries found{hint}: check it is a .bib file of @type{{key, ...}}")
    return result


def _describe_failure(block: ParsingFailedBlock) -> str:
    line = (block.start_line or 0) + 1
    head = (block.raw or "").strip().split("\n", 1)[0][:60]
    error = block.error
    if isinstance(error, BlockAbortedException):
        reason = " ".join(error.abort_reason.split())
    else:
        reason = " ".join(str(error).split()) or type(error).__name__
    if isinstance(block, DuplicateBlockKeyBlock):
        return f"line {line}: duplicate entry {head}: the first one with this key is kept"
    if isinstance(block, MiddlewareErrorBlock):
        return f"line {line}: entry {head} could not be decoded: {reason[:200]}"
    return f"line {line}: malformed entry {head}: {reason[:200]}"


def _fields(entry: Entry) -> dict:
    fields = {"ID": entry.key, "ENTRYTYPE": entry.entry_type.lower(), "_line": (entry.start_line or 0) + 1}
    for field in entry.fields:
        value = field.value
        if isinstance(value, list):
            value = [" ".join(v.split()) for v in value if v.strip()]
        else:
            value = " ".join(str(value).split())
        fields.setdefault(field.key, value)
    return fields


def _inherit(fields: dict, by_key: dict[str, dict], problems: list[str]) -> None:
    ref = fields.get("crossref")
    if not ref:
        return
    parent = by_key.get(ref.lower())
    if parent is None:
        problems.append(f"entry {fields['ID']}: crossref to {ref} not found")
        return
    # The parent's title names the book or proceedings the child appears in (as BibTeX and biblatex do).
    if parent.get("title") and "booktitle" not in fields:
        fields["booktitle"] = parent["title"]
    for key, value in parent.items():
        if key not in _NOT_INHERITED and not key.startswith("_") and key not in ("ID", "ENTRYTYPE"):
            fields.setdefault(key, value)


def _document(fields: dict, path: Path, options: ReadOptions, problems: list[str]) -> ParsedDocument | None:
    key = fields["ID"]
    title = _text(fields.get("title"))
    if not title:
        problems.append(f"line {fields['_line']}: entry {key} skipped: it has no title")
        return None
    authors = _names(fields.get("author")) or _names(fields.get("editor"))
    year = _year(fields.get("year") or fields.get("date"))
    doi = normalise_doi(_text(fields.get("doi")))
    url = _text(fields.get("url"))
    if not doi and url and "doi.org/" in url:
        doi = normalise_doi(url)
    abstract = _text(fields.get("abstract"))
    return reference(
        title=title,
        authors=authors,
        year=year,
        doi=doi,
        url=url,
        abstract=abstract,
        source=f"{path}#{key}",
        entry=key,
        options=options,
        publisher=_text(fields.get("publisher") or fields.get("institution") or fields.get("organization")),
        journal=_text(fields.get("journal") or fields.get("journaltitle") or fields.get("booktitle")),
        keywords=[k for k in re.split(r"\s*[,;]\s*", _text(fields.get("keywords", fields.get("keyword"))) or "") if k],
    )


def _attachments(fields: dict, bib: Path, options: ReadOptions, problems: list[str]) -> list[ParsedDocument]:
    """Each attached PDF becomes the full text of its entry (one document with it)."""
    key = fields["ID"]
    out: list[ParsedDocument] = []
    for raw in file_field(str(fields.get("file") or "")):
        if not raw.lower().endswith(".pdf"):
            continue  # snapshots and notes: not full text
        found, tried = find_attachment(raw, bib, options.zotero_storage)
        if found is None:
            where = ", ".join(str(p) for p in tried)
            hint = "" if options.zotero_storage else "; set KB_ZOTERO_STORAGE to your Zotero storage folder"
            problems.append(f"entry {key}: attachment {raw} not found (looked at {where}){hint}; the entry is kept")
            continue
        try:
            result = read_file(found, ReadOptions(doc_type=options.doc_type, sensitivity=options.sensitivity))
        except SourceError as exc:
            problems.append(f"entry {key}: attachment {found.name} could not be read: {exc.reason}; the entry is kept")
            continue
        problems += [f"entry {key}: attachment {found.name}: {p}" for p in result.problems]
        for i, pd in enumerate(result.documents):
            pd.kind, pd.full_text_of = "fulltext", key
            pd.entry = f"{key}/file:{found.name}" + (f"#{i}" if i else "")
            out.append(pd)
    return out


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = " and ".join(value)
    text = " ".join(str(value).split())
    return text or None


def _names(value: object) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        value = re.split(r"\s+and\s+", value)
    return [n for n in (" ".join(v.split()) for v in value) if n and n.lower() != "others"]


def _year(value: object) -> int | None:
    match = re.search(r"\b(1[5-9]\d{2}|2\d{3})\b", str(value)) if value else None
    return int(match.group(1)) if match else None
