"""RIS reader (rispy): one reference Document per record, tolerant of what real exports contain.

Records are cut out by line (so a broken one is reported with its line number and the others kept), then each
is parsed by rispy. Handles a UTF-8 BOM, A1/AU, T1/TI, N2/AB, Y1/PY/DA, continuation lines, repeated tags and
EndNote `.txt` exports. `N1` notes (Scopus puts every cited reference there) are never a source of the DOI.
"""

from __future__ import annotations

import re
from pathlib import Path

import rispy

from ingest.sources import ReadOptions, SourceError, decode_text
from ingest.sources.reference import reference
from kb.ids import normalise_doi
from kb.models import ReadResult

# "AU  - Smith" as the standard says, and the spacing variants hand-edited and older exports have.
_TAG_RE = re.compile(r"^([A-Z][A-Z0-9])[ \t]{1,4}-(?:[ \t](.*)|[ \t]*)$")
# Ovid and some databases number their records: "1. TY  - JOUR".
_START_RE = re.compile(r"^(?:\d+\.\s*)?TY[ \t]{1,4}-")
_SNIFF_BYTES = 4096


def looks_like_ris(path: Path) -> bool:
    """True when the first non-blank line of the file opens an RIS record: a `.txt` EndNote export."""
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return False
    text = head.decode("utf-8-sig", errors="replace")
    first = next((line for line in text.splitlines() if line.strip()), "")
    return bool(_START_RE.match(first.strip("\ufeff")))


def read(path: Path, options: ReadOptions) -> ReadResult:
    """Read every record of an RIS file; broken records become problems with their line, the rest are kept."""
    result = ReadResult(path=str(path))
    text = decode_text(path.read_bytes(), result.problems).replace("\r\n", "\n").replace("\r", "\n")
    records = _records(text.split("\n"), result.problems)
    for n, (line_no, lines) in enumerate(records, 1):
        try:
            [fields] = rispy.loads("\n".join(lines), enforce_list_tags=False)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            result.problems.append(f"line {line_no}: record could not be read ({exc}): skipped")
            continue
        parsed = _document(fields, f"{path}#{n}", line_no, options, result.problems)
        if parsed:
            result.documents.append(parsed)
    if not result.documents:
        hint = f" ({result.problems[0]})" if result.problems else ""
        raise SourceError(path, f"no RIS records found{hint}: check it is an RIS export ('TY  - JOUR' ... 'ER  - ')")
    return result


def _records(lines: list[str], problems: list[str]) -> list[tuple[int, list[str]]]:
    """(first line number, canonical lines) of each record, from TY to ER."""
    records: list[tuple[int, list[str]]] = []
    current: list[str] | None = None
    start = 0
    stray: int | None = None  # first line of text met outside any record

    def close(at: int, ended: bool) -> None:
        nonlocal current
        if current is not None:
            if not ended:
                problems.append(f"line {start}: record has no 'ER  - ' end line before line {at}: read up to there")
            records.append((start, [*current, "ER  - "]))
        current = None

    for i, raw in enumerate(lines, 1):
        line = raw.lstrip("\ufeff").rstrip()
        if _START_RE.match(line):
            close(i, ended=False)
            if stray is not None:
                problems.append(f"line {stray}: text outside a record (no 'TY  - ' line opens it): skipped")
                stray = None
            current, start = [re.sub(r"^\d+\.\s*", "", _canonical(line))], i
            continue
        if current is None:
            if line.strip() and stray is None:
                stray = i
            continue
        tag = _TAG_RE.match(line)
        if tag and tag.group(1) == "ER":
            records.append((start, [*current, "ER  - "]))
            current = None
            continue
        if line.strip():
            current.append(_canonical(line) if tag else line.strip())
    close(len(lines), ended=False)
    if stray is not None:
        problems.append(f"line {stray}: text outside a record (no 'TY  - ' line opens it): skipped")
    return records


def _canonical(line: str) -> str:
    m = _TAG_RE.match(line)
    return f"{m.group(1)}  - {(m.group(2) or '').strip()}" if m else line


def _all(fields: dict, *keys: str) -> list[str]:
    out: list[str] = []
    for key in keys:
        value = fields.get(key)
        for v in value if isinstance(value, list) else [value]:
            text = " ".join(str(v).split()) if v is not None else ""
            if text and text not in out:
                out.append(text)
    return out


def _first(fields: dict, *keys: str) -> str | None:
    found = _all(fields, *keys)
    return found[0] if found else None


def _year(fields: dict) -> int | None:
    for value in _all(fields, "year", "publication_year", "date"):
        match = re.search(r"\b(1[5-9]\d{2}|2\d{3})\b", value)
        if match:
            return int(match.group(1))
    return None


def _doi(fields: dict) -> str | None:
    doi = normalise_doi(_first(fields, "doi"))
    if doi:
        return doi
    # A DOI link in the record's own URL fields; never the notes, which hold cited works.
    for url in _all(fields, "urls", "file_attachments2"):
        if "doi.org/" in url:
            return normalise_doi(url)
    return None


def _document(fields: dict, source: str, line_no: int, options: ReadOptions, problems: list[str]):
    title = _first(fields, "title", "primary_title", "short_title")
    if not title:
        problems.append(f"line {line_no}: record skipped: it has no title (TI or T1)")
        return None
    authors = _all(fields, "authors", "first_authors")
    year = _year(fields)
    doi = _doi(fields)
    abstract = _first(fields, "abstract", "notes_abstract")
    url = next((u for u in _all(fields, "urls") if u.startswith(("http://", "https://"))), None)
    # The record's own id (ID, or accession number AN) keys it as a source within the file; else its line.
    return reference(
        title=title,
        authors=authors,
        year=year,
        doi=doi,
        url=url,
        abstract=abstract,
        source=source,
        entry=_first(fields, "id", "accession_number") or f"line-{line_no}",
        options=options,
        publisher=_first(fields, "publisher"),
        journal=_first(fields, "alternate_title3", "secondary_title", "journal_name", "alternate_title2"),
        keywords=_all(fields, "keywords"),
    )
