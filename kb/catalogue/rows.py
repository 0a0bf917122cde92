"""Catalogue rows <-> the data model's dataclasses, and the UTC timestamps rows carry."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

from kb.models import Chunk, Document, Emmie, OtherOutcome, ScannedPage, SourceRecord, Tags, ToolkitEntry

# Values per `IN (...)` list: well under SQLite's limit on bound parameters.
IN_BATCH = 500


def in_batches(values: list) -> Iterator[tuple[list, str]]:
    """`values` in parts of at most IN_BATCH, each with its `?,?,...` placeholders for an `IN (...)` list."""
    for i in range(0, len(values), IN_BATCH):
        part = values[i : i + IN_BATCH]
        yield part, ",".join("?" * len(part))


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def now_precise() -> str:
    """To the microsecond: orders an analyst's edit against a source arriving in the same second."""
    return datetime.now(UTC).isoformat()


_DOC_JSON = ("authors", "keywords", "districts", "field_sources", "ocr_pages")


def doc_from_row(row: sqlite3.Row | dict) -> Document:
    d = dict(row)
    for key in _DOC_JSON:
        if key in d:  # field_sources is absent from catalogues made before it existed
            d[key] = json.loads(d[key])
    return document_from_dict(d)


def document_from_dict(d: dict) -> Document:
    """A Document from its decoded JSON form (a row's or a recorded source's)."""
    return Document(**{**d, "ocr_pages": [ScannedPage(**p) for p in d.get("ocr_pages", [])]})


def chunk_from_row(row: sqlite3.Row) -> Chunk:
    return Chunk(
        chunk_id=row["chunk_id"],
        doc_id=row["doc_id"],
        index=row["idx"],
        text=row["text"],
        section=json.loads(row["section"]),
        page_start=row["page_start"],
        page_end=row["page_end"],
        page_index=row["page_index"],
        n_tokens=row["n_tokens"],
        tags=Tags.from_dict(json.loads(row["tags"])),
        # Migration 2 reads passages before migration 4 adds the column (and then flags those of OCR'd documents).
        ocr=bool(row["ocr"]) if "ocr" in row.keys() else False,
    )


def tag_rows(rowid: int, tags: Tags) -> Iterator[tuple[int, str, str, str | None]]:
    """One chunk_tags row per tag value, so filters are index look-ups."""
    for f in tags.factors:
        yield rowid, "factor", f.factor, f.polarity
    for p in tags.priorities:
        yield rowid, "priority", str(p), None
    for kind, values in (
        ("who_level", tags.who_levels),
        ("crime_type", tags.crime_types),
        ("cohort", tags.cohorts),
        ("place", tags.places),
    ):
        for v in values:
            yield rowid, kind, v, None


def toolkit_from_dict(d: dict) -> ToolkitEntry:
    return ToolkitEntry(
        **{
            **d,
            "other_outcomes": [OtherOutcome(**o) for o in d.get("other_outcomes", [])],
            "emmie": Emmie(**d.get("emmie", {})),
            "sections": [tuple(x) for x in d.get("sections", [])],
        }
    )


def kind_of(doc: Document, has_toolkit: bool) -> str:
    """What a source is, for documents that predate recorded sources."""
    if has_toolkit:
        return "toolkit"
    return {"reference": "reference", "news": "feed"}.get(doc.doc_type, "fulltext")


def _chunk_dict(ch: Chunk) -> dict:
    d = ch.to_dict()
    for key in ("chunk_id", "doc_id", "index"):
        d.pop(key)
    return d


def _chunk_from_dict(d: dict, i: int) -> Chunk:
    return Chunk(chunk_id="", doc_id="", index=i, **{**d, "tags": Tags.from_dict(d["tags"])})


def source_from_row(row: sqlite3.Row, passages: bool) -> SourceRecord:
    return SourceRecord(
        source_key=row["source_key"],
        path=row["path"],
        entry=row["entry"],
        kind=row["kind"],
        document=document_from_dict(json.loads(row["document"])),
        chunks=[_chunk_from_dict(d, i) for i, d in enumerate(json.loads(row["passages"]))] if passages else [],
        toolkit=toolkit_from_dict(json.loads(row["toolkit"])) if passages and row["toolkit"] else None,
        front=row["front"],
        added_at=row["added_at"],
        doc_id=row["doc_id"],
        match=row["match"],
        alone=bool(row["alone"]),
    )


def put_source(c: sqlite3.Connection, s: SourceRecord) -> None:
    """Record (or replace) one source's contribution, inside the caller's transaction."""
    d = s.document
    c.execute(
        """INSERT OR REPLACE INTO document_sources(source_key, doc_id, path, entry, kind, own_id, doi, title,
           year, content_hash, sensitivity, front, match, alone, added_at, document, passages, toolkit)
           VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
        (
            s.source_key,
            s.doc_id,
            s.path,
            s.entry,
            s.kind,
            d.doc_id,
            d.doi,
            d.title,
            d.year,
            d.content_hash,
            d.sensitivity,
            s.front,
            s.match,
            int(s.alone),
            s.added_at,
            json.dumps(d.to_dict()),
            json.dumps([_chunk_dict(ch) for ch in s.chunks]),
            json.dumps(s.toolkit.to_dict()) if s.toolkit else None,
        ),
    )
