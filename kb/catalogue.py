"""The SQLite catalogue: documents, passages, BM25 index, file manifest, runs and the embedding cache."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from kb.models import Chunk, Document, Edit, Emmie, OtherOutcome, SourceRecord, Tags, ToolkitEntry

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    doc_type TEXT NOT NULL,
    source TEXT NOT NULL,
    authors TEXT NOT NULL DEFAULT '[]',
    year INTEGER,
    publisher TEXT,
    journal TEXT,
    doi TEXT,
    url TEXT,
    abstract TEXT,
    keywords TEXT NOT NULL DEFAULT '[]',
    districts TEXT NOT NULL DEFAULT '[]',
    sensitivity TEXT NOT NULL DEFAULT 'official',
    content_hash TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    status TEXT NOT NULL,
    n_chunks INTEGER NOT NULL DEFAULT 0,
    field_sources TEXT NOT NULL DEFAULT '{}',
    study_design TEXT,
    study_design_evidence TEXT,
    country TEXT
);
CREATE INDEX IF NOT EXISTS documents_type ON documents(doc_type);
CREATE INDEX IF NOT EXISTS documents_doi ON documents(doi);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,  -- sha256 of the text the model embedded (passage in its context): embed_cache key
    section TEXT NOT NULL DEFAULT '[]',
    page_start TEXT,
    page_end TEXT,
    page_index INTEGER,
    n_tokens INTEGER NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
-- One row per tag value of a passage, so filters are index look-ups, not JSON scans.
CREATE TABLE IF NOT EXISTS chunk_tags (
    chunk_rowid INTEGER NOT NULL REFERENCES chunks(rowid) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    polarity TEXT
);
CREATE INDEX IF NOT EXISTS chunk_tags_kv ON chunk_tags(kind, value, chunk_rowid);
CREATE INDEX IF NOT EXISTS chunk_tags_chunk ON chunk_tags(chunk_rowid);
-- Text is copied here (not external content) so the index survives any chunk-table rewrite intact.
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, heading, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    settings_key TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
-- Each source's contribution to a document (a file, or one entry of it): a document's row and passages
-- are derived from its sources and analyst edits (kb/merge.py), so removing one keeps what the others gave.
CREATE TABLE IF NOT EXISTS document_sources (
    source_key TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    path TEXT NOT NULL,
    entry TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    own_id TEXT NOT NULL,
    doi TEXT,
    title TEXT NOT NULL,
    year INTEGER,
    content_hash TEXT NOT NULL DEFAULT '',
    sensitivity TEXT NOT NULL,
    front TEXT NOT NULL DEFAULT '',
    match TEXT,
    alone INTEGER NOT NULL DEFAULT 0,
    added_at TEXT NOT NULL,
    document TEXT NOT NULL,
    passages TEXT NOT NULL DEFAULT '[]',
    toolkit TEXT
);
CREATE INDEX IF NOT EXISTS document_sources_doc ON document_sources(doc_id);
CREATE INDEX IF NOT EXISTS document_sources_path ON document_sources(path);
CREATE INDEX IF NOT EXISTS document_sources_doi ON document_sources(doi);
CREATE INDEX IF NOT EXISTS document_sources_hash ON document_sources(content_hash);
-- An analyst's value for a field, anchored to every source of the document it was made on, so it
-- survives re-ingest, a changed file and a merge (documents may change id; sources keep theirs).
CREATE TABLE IF NOT EXISTS document_edits (
    source_key TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    edited_at TEXT NOT NULL,
    PRIMARY KEY (source_key, field)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    command TEXT NOT NULL,
    n_files INTEGER NOT NULL DEFAULT 0,
    n_ok INTEGER NOT NULL DEFAULT 0,
    n_failed INTEGER NOT NULL DEFAULT 0,
    n_embedded INTEGER NOT NULL DEFAULT 0
);
-- Vector ids written to (or to be deleted from) Chroma whose SQLite side is not yet committed:
-- recovery after a crash deletes those the catalogue does not hold.
CREATE TABLE IF NOT EXISTS pending_vectors (chunk_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS embed_cache (
    model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, text_hash)
);
CREATE TABLE IF NOT EXISTS toolkit (
    slug TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    entry TEXT NOT NULL
);
CREATE VIEW IF NOT EXISTS file_docs AS SELECT DISTINCT path, doc_id FROM document_sources;
"""

# Columns a catalogue of schema 1 lacks (ALTER TABLE ADD COLUMN is cheap in SQLite: no rewrite).
_NEW_DOCUMENT_COLUMNS = {
    "field_sources": "TEXT NOT NULL DEFAULT '{}'",
    "study_design": "TEXT",
    "study_design_evidence": "TEXT",
    "country": "TEXT",
}


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def now_precise() -> str:
    """To the microsecond: orders an analyst's edit against a source arriving in the same second."""
    return datetime.now(UTC).isoformat()


@dataclass
class FileRecord:
    path: str
    content_hash: str
    status: str
    reason: str | None
    settings_key: str
    doc_ids: list[str]


_DOC_JSON = ("authors", "keywords", "districts", "field_sources")


def _doc_from_row(row: sqlite3.Row) -> Document:
    d = dict(row)
    for key in _DOC_JSON:
        if key in d:  # field_sources is absent from catalogues made before it existed
            d[key] = json.loads(d[key])
    return Document(**d)


def _chunk_dict(ch: Chunk) -> dict:
    d = ch.to_dict()
    for key in ("chunk_id", "doc_id", "index"):
        d.pop(key)
    return d


def _chunk_from_dict(d: dict, i: int) -> Chunk:
    return Chunk(chunk_id="", doc_id="", index=i, **{**d, "tags": Tags.from_dict(d["tags"])})


def toolkit_from_dict(d: dict) -> ToolkitEntry:
    return ToolkitEntry(
        **{
            **d,
            "other_outcomes": [OtherOutcome(**o) for o in d.get("other_outcomes", [])],
            "emmie": Emmie(**d.get("emmie", {})),
            "sections": [tuple(x) for x in d.get("sections", [])],
        }
    )


def _source_from_row(row: sqlite3.Row, passages: bool) -> SourceRecord:
    return SourceRecord(
        source_key=row["source_key"],
        path=row["path"],
        entry=row["entry"],
        kind=row["kind"],
        document=Document(**json.loads(row["document"])),
        chunks=[_chunk_from_dict(d, i) for i, d in enumerate(json.loads(row["passages"]))] if passages else [],
        toolkit=toolkit_from_dict(json.loads(row["toolkit"])) if passages and row["toolkit"] else None,
        front=row["front"],
        added_at=row["added_at"],
        doc_id=row["doc_id"],
        match=row["match"],
        alone=bool(row["alone"]),
    )


def kind_of(doc: Document, has_toolkit: bool) -> str:
    """What a source is, for documents that predate recorded sources."""
    if has_toolkit:
        return "toolkit"
    return {"reference": "reference", "news": "feed"}.get(doc.doc_type, "fulltext")


def _chunk_from_row(row: sqlite3.Row) -> Chunk:
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
    )


def _tag_rows(rowid: int, tags: Tags) -> Iterator[tuple[int, str, str, str | None]]:
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


class Catalogue:
    """One SQLite file in the data directory. Safe for several processes (WAL, busy timeout)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Streamlit runs scripts in worker threads; one connection guarded by a lock serves them all.
        self._lock = threading.RLock()
        self.conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=60000")
        with self.transaction() as c:
            legacy = c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'file_docs'").fetchone()
            if legacy:
                c.execute("ALTER TABLE file_docs RENAME TO file_docs_v1")
            have = {r[1] for r in c.execute("PRAGMA table_info(documents)")}
            for name, decl in _NEW_DOCUMENT_COLUMNS.items():
                if have and name not in have:
                    c.execute(f"ALTER TABLE documents ADD COLUMN {name} {decl}")
            for stmt in SCHEMA.split(";\n"):
                if stmt.strip():
                    c.execute(stmt)
            if legacy:
                self._sources_from_v1(c)
                c.execute("DROP TABLE file_docs_v1")
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self.conn.close()

    def _sources_from_v1(self, c: sqlite3.Connection) -> None:
        """Schema 1 mapped files to documents; each such pair becomes a recorded source of the document."""
        rows = c.execute(
            "SELECT f.path, d.* FROM file_docs_v1 f JOIN documents d ON d.doc_id = f.doc_id ORDER BY f.path"
        ).fetchall()
        for r in rows:
            doc = _doc_from_row({k: r[k] for k in r.keys() if k != "path"})
            chunks = [
                _chunk_from_row(x)
                for x in c.execute("SELECT * FROM chunks WHERE doc_id = ? ORDER BY idx", (doc.doc_id,))
            ]
            tk = c.execute("SELECT entry FROM toolkit WHERE doc_id = ?", (doc.doc_id,)).fetchone()
            entry = doc.source.rpartition("#")[2] if "#" in doc.source else ""
            self.put_source(
                c,
                SourceRecord(
                    source_key=f"{r['path']}#{entry}" if entry else r["path"],
                    path=r["path"],
                    entry=entry,
                    kind=kind_of(doc, tk is not None),
                    document=doc,
                    chunks=chunks,
                    toolkit=toolkit_from_dict(json.loads(tk[0])) if tk else None,
                    added_at=doc.ingested_at,
                    doc_id=doc.doc_id,
                ),
            )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: writers queue on the busy timeout instead of failing mid-way."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, tuple(params)).fetchall()

    # -- meta -------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- documents and passages -------------------------------------------------------------------
    def write_document(
        self,
        c: sqlite3.Connection,
        doc: Document,
        chunks: list[Chunk],
        text_hashes: list[str],
        toolkit: ToolkitEntry | None = None,
    ) -> None:
        """Replace a document and all its passages, inside the caller's transaction."""
        self._delete_document_rows(c, doc.doc_id)
        doc.n_chunks = len(chunks)
        c.execute(
            """INSERT INTO documents(doc_id, title, doc_type, source, authors, year, publisher, journal,
               doi, url, abstract, keywords, districts, sensitivity, content_hash, ingested_at, status,
               n_chunks, field_sources, study_design, study_design_evidence, country)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (
                doc.doc_id,
                doc.title,
                doc.doc_type,
                doc.source,
                json.dumps(doc.authors),
                doc.year,
                doc.publisher,
                doc.journal,
                doc.doi,
                doc.url,
                doc.abstract,
                json.dumps(doc.keywords),
                json.dumps(doc.districts),
                doc.sensitivity,
                doc.content_hash,
                doc.ingested_at or now_iso(),
                doc.status,
                doc.n_chunks,
                json.dumps(doc.field_sources, sort_keys=True),
                doc.study_design,
                doc.study_design_evidence,
                doc.country,
            ),
        )
        for ch, th in zip(chunks, text_hashes, strict=True):
            cur = c.execute(
                """INSERT INTO chunks(chunk_id, doc_id, idx, text, text_hash, section, page_start, page_end,
                   page_index, n_tokens, tags) VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
                (
                    ch.chunk_id,
                    ch.doc_id,
                    ch.index,
                    ch.text,
                    th,
                    json.dumps(ch.section),
                    ch.page_start,
                    ch.page_end,
                    ch.page_index,
                    ch.n_tokens,
                    json.dumps(ch.tags.to_dict()),
                ),
            )
            rowid = cur.lastrowid
            c.execute(
                "INSERT INTO chunks_fts(rowid, text, heading) VALUES (?, ?, ?)",
                (rowid, ch.text, " ".join([doc.title, *ch.section])),
            )
            c.executemany(
                "INSERT INTO chunk_tags(chunk_rowid, kind, value, polarity) VALUES (?,?,?,?)",
                list(_tag_rows(rowid, ch.tags)),
            )
        if toolkit is not None:
            c.execute(
                "INSERT OR REPLACE INTO toolkit(slug, doc_id, entry) VALUES (?, ?, ?)",
                (toolkit.slug, doc.doc_id, json.dumps(toolkit.to_dict())),
            )

    def _delete_document_rows(self, c: sqlite3.Connection, doc_id: str) -> None:
        rowids = [r[0] for r in c.execute("SELECT rowid FROM chunks WHERE doc_id = ?", (doc_id,))]
        c.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(r,) for r in rowids])
        c.execute(
            "DELETE FROM chunk_tags WHERE chunk_rowid IN (SELECT rowid FROM chunks WHERE doc_id = ?)",
            (doc_id,),
        )
        c.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        c.execute("DELETE FROM toolkit WHERE doc_id = ?", (doc_id,))
        c.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))

    def delete_document_rows(self, c: sqlite3.Connection, doc_id: str) -> None:
        """The derived rows of a document (its sources stay): before it is written again, maybe under a new id."""
        self._delete_document_rows(c, doc_id)

    def delete_document(self, c: sqlite3.Connection, doc_id: str) -> None:
        """Remove a document everywhere, with every source and edit of it; forget files that gave nothing else."""
        paths = self.paths_of(doc_id)
        keys = [r[0] for r in c.execute("SELECT source_key FROM document_sources WHERE doc_id = ?", (doc_id,))]
        self._delete_document_rows(c, doc_id)
        self.delete_sources(c, keys)
        c.executemany("DELETE FROM document_edits WHERE source_key = ?", [(k,) for k in keys])
        for p in paths:
            left = c.execute("SELECT COUNT(*) FROM document_sources WHERE path = ?", (p,)).fetchone()[0]
            if not left:
                # So that ingesting the file again brings the document back instead of "unchanged".
                c.execute("DELETE FROM files WHERE path = ?", (p,))

    # -- sources and edits ------------------------------------------------------------------------
    def put_source(self, c: sqlite3.Connection, s: SourceRecord) -> None:
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

    def delete_sources(self, c: sqlite3.Connection, keys: Iterable[str]) -> None:
        c.executemany("DELETE FROM document_sources WHERE source_key = ?", [(k,) for k in keys])

    def sources(self, where: str = "", params: Iterable = (), passages: bool = True) -> list[SourceRecord]:
        """Recorded sources (with their passages unless `passages` is False), in source-key order."""
        sql = "SELECT * FROM document_sources " + (f"WHERE {where} " if where else "") + "ORDER BY source_key"
        return [_source_from_row(r, passages) for r in self.query(sql, params)]

    def sources_of(self, doc_id: str, passages: bool = True) -> list[SourceRecord]:
        return self.sources("doc_id = ?", (doc_id,), passages)

    def sources_of_path(self, path: str, passages: bool = True) -> list[SourceRecord]:
        return self.sources("path = ?", (path,), passages)

    def merged_documents(self) -> list[str]:
        """Documents made of more than one source, for `kb docs --merged`."""
        rows = self.query("SELECT doc_id FROM document_sources GROUP BY doc_id HAVING COUNT(*) > 1 ORDER BY doc_id")
        return [r[0] for r in rows]

    def edits_of(self, source_keys: Iterable[str]) -> list[Edit]:
        keys = list(source_keys)
        out: list[Edit] = []
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            rows = self.query(
                f"SELECT field, value, edited_at FROM document_edits WHERE source_key IN ({','.join('?' * len(part))})",
                part,
            )
            out += [Edit(r[0], json.loads(r[1]), r[2]) for r in rows]
        return out

    def put_edit(self, c: sqlite3.Connection, source_key: str, edit: Edit) -> None:
        c.execute(
            "INSERT OR REPLACE INTO document_edits(source_key, field, value, edited_at) VALUES (?, ?, ?, ?)",
            (source_key, edit.field, json.dumps(edit.value), edit.edited_at),
        )

    def delete_edits(self, c: sqlite3.Connection, source_key: str) -> None:
        c.execute("DELETE FROM document_edits WHERE source_key = ?", (source_key,))

    def chunk_ids_of(self, doc_id: str) -> list[str]:
        return [r[0] for r in self.query("SELECT chunk_id FROM chunks WHERE doc_id = ? ORDER BY idx", (doc_id,))]

    def get_document(self, doc_id: str) -> Document | None:
        rows = self.query("SELECT * FROM documents WHERE doc_id = ?", (doc_id,))
        return _doc_from_row(rows[0]) if rows else None

    def documents(self, where: str = "", params: Iterable = ()) -> list[Document]:
        sql = "SELECT * FROM documents " + (f"WHERE {where} " if where else "") + "ORDER BY doc_type, title"
        return [_doc_from_row(r) for r in self.query(sql, params)]

    def get_chunks(self, rowids: list[int]) -> dict[int, Chunk]:
        out: dict[int, Chunk] = {}
        for i in range(0, len(rowids), 500):
            part = rowids[i : i + 500]
            marks = ",".join("?" * len(part))
            for r in self.query(f"SELECT rowid AS rid, * FROM chunks WHERE rowid IN ({marks})", part):
                out[r["rid"]] = _chunk_from_row(r)
        return out

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        return [_chunk_from_row(r) for r in self.query("SELECT * FROM chunks WHERE doc_id = ? ORDER BY idx", (doc_id,))]

    def rowids_for_chunk_ids(self, chunk_ids: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in range(0, len(chunk_ids), 500):
            part = chunk_ids[i : i + 500]
            marks = ",".join("?" * len(part))
            for r in self.query(f"SELECT chunk_id, rowid FROM chunks WHERE chunk_id IN ({marks})", part):
                out[r[0]] = r[1]
        return out

    def toolkit_entries(self) -> list[dict]:
        return [json.loads(r["entry"]) for r in self.query("SELECT entry FROM toolkit ORDER BY slug")]

    # -- files ------------------------------------------------------------------------------------
    def get_file(self, path: str) -> FileRecord | None:
        rows = self.query("SELECT * FROM files WHERE path = ?", (path,))
        if not rows:
            return None
        r = rows[0]
        docs = [x[0] for x in self.query("SELECT doc_id FROM file_docs WHERE path = ?", (path,))]
        return FileRecord(r["path"], r["content_hash"], r["status"], r["reason"], r["settings_key"], docs)

    def record_file(
        self,
        c: sqlite3.Connection,
        path: str,
        content_hash: str,
        status: str,
        reason: str | None,
        settings_key: str,
    ) -> None:
        """Record a file's outcome; the documents it gave are its recorded sources."""
        c.execute(
            """INSERT INTO files(path, content_hash, status, reason, settings_key, updated_at)
               VALUES (?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET content_hash=excluded.content_hash,
               status=excluded.status, reason=excluded.reason, settings_key=excluded.settings_key,
               updated_at=excluded.updated_at""",
            (path, content_hash, status, reason, settings_key, now_iso()),
        )

    def forget_file(self, c: sqlite3.Connection, path: str) -> None:
        c.execute("DELETE FROM files WHERE path = ?", (path,))

    def files(self, status: str | None = None) -> list[FileRecord]:
        """The file manifest (optionally one status), in two queries however many files there are."""
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self.query(f"SELECT * FROM files {where} ORDER BY path", params)
        docs: dict[str, list[str]] = {}
        for path, doc_id in self.query(
            f"SELECT path, doc_id FROM file_docs WHERE path IN (SELECT path FROM files {where})", params
        ):
            docs.setdefault(path, []).append(doc_id)
        return [
            FileRecord(
                r["path"], r["content_hash"], r["status"], r["reason"], r["settings_key"], docs.get(r["path"], [])
            )
            for r in rows
        ]

    def paths_of(self, doc_id: str) -> list[str]:
        """The files that gave a document (one document may come from several copies)."""
        return [r[0] for r in self.query("SELECT path FROM file_docs WHERE doc_id = ?", (doc_id,))]

    # -- runs -------------------------------------------------------------------------------------
    def start_run(self, command: str) -> int:
        with self.transaction() as c:
            return c.execute("INSERT INTO runs(started_at, command) VALUES (?, ?)", (now_iso(), command)).lastrowid

    def finish_run(self, run_id: int, n_files: int, n_ok: int, n_failed: int, n_embedded: int) -> None:
        with self.transaction() as c:
            c.execute(
                "UPDATE runs SET finished_at=?, n_files=?, n_ok=?, n_failed=?, n_embedded=? WHERE run_id=?",
                (now_iso(), n_files, n_ok, n_failed, n_embedded, run_id),
            )

    # -- pending vector writes (crash recovery) ---------------------------------------------------
    def add_pending(self, chunk_ids: Iterable[str]) -> None:
        with self.transaction() as c:
            c.executemany("INSERT OR IGNORE INTO pending_vectors(chunk_id) VALUES (?)", [(i,) for i in chunk_ids])

    def pending(self) -> list[str]:
        return [r[0] for r in self.query("SELECT chunk_id FROM pending_vectors")]

    def clear_pending(self, chunk_ids: Iterable[str]) -> None:
        with self.transaction() as c:
            c.executemany("DELETE FROM pending_vectors WHERE chunk_id = ?", [(i,) for i in chunk_ids])

    def existing_chunk_ids(self, chunk_ids: list[str]) -> set[str]:
        return set(self.rowids_for_chunk_ids(chunk_ids))

    # -- embedding cache --------------------------------------------------------------------------
    def cached_vectors(self, model: str, text_hashes: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        uniq = list(dict.fromkeys(text_hashes))
        for i in range(0, len(uniq), 500):
            part = uniq[i : i + 500]
            marks = ",".join("?" * len(part))
            for r in self.query(
                f"SELECT text_hash, vector FROM embed_cache WHERE model = ? AND text_hash IN ({marks})",
                [model, *part],
            ):
                out[r[0]] = np.frombuffer(r[1], dtype=np.float32)
        return out

    def cache_vectors(self, model: str, items: list[tuple[str, np.ndarray]]) -> None:
        with self.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO embed_cache(model, text_hash, vector) VALUES (?, ?, ?)",
                [(model, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items],
            )

    def vectors_for_rowids(self, model: str, rowids: list[int]) -> tuple[list[int], np.ndarray]:
        """Vectors of the given passages from the embedding cache (exact search over a filtered set)."""
        ids: list[int] = []
        vecs: list[np.ndarray] = []
        for i in range(0, len(rowids), 900):
            part = rowids[i : i + 900]
            marks = ",".join("?" * len(part))
            for r in self.query(
                f"""SELECT c.rowid, e.vector FROM chunks c JOIN embed_cache e
                    ON e.text_hash = c.text_hash AND e.model = ? WHERE c.rowid IN ({marks})""",
                [model, *part],
            ):
                ids.append(r[0])
                vecs.append(np.frombuffer(r[1], dtype=np.float32))
        return ids, (np.vstack(vecs) if vecs else np.zeros((0, 0), dtype=np.float32))

    # -- counts -----------------------------------------------------------------------------------
    def stats(self) -> dict:
        one = lambda sql, p=(): self.query(sql, p)[0][0]  # noqa: E731
        by_type = {r[0]: r[1] for r in self.query("SELECT doc_type, COUNT(*) FROM documents GROUP BY doc_type")}
        by_status = {r[0]: r[1] for r in self.query("SELECT status, COUNT(*) FROM documents GROUP BY status")}
        per_tag = "SELECT value, COUNT(DISTINCT chunk_rowid) FROM chunk_tags WHERE kind = ? GROUP BY value"
        by_priority = {int(r[0]): r[1] for r in self.query(per_tag, ("priority",))}
        by_factor = {r[0]: r[1] for r in self.query(per_tag, ("factor",))}
        files = {r[0]: r[1] for r in self.query("SELECT status, COUNT(*) FROM files GROUP BY status")}
        return {
            "documents": one("SELECT COUNT(*) FROM documents"),
            "passages": one("SELECT COUNT(*) FROM chunks"),
            "tokens": one("SELECT COALESCE(SUM(n_tokens), 0) FROM chunks"),
            "documents_by_type": dict(sorted(by_type.items())),
            "documents_by_status": dict(sorted(by_status.items())),
            "passages_by_priority": dict(sorted(by_priority.items())),
            "passages_by_factor": dict(sorted(by_factor.items())),
            "files_by_status": dict(sorted(files.items())),
            "toolkit_entries": one("SELECT COUNT(*) FROM toolkit"),
        }
