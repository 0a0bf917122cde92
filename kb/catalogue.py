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

from kb.models import Chunk, Document, Tags, ToolkitEntry

SCHEMA_VERSION = 1

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
CREATE TABLE IF NOT EXISTS file_docs (
    path TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE,
    doc_id TEXT NOT NULL,
    PRIMARY KEY (path, doc_id)
);
CREATE INDEX IF NOT EXISTS file_docs_doc ON file_docs(doc_id);
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
"""


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass
class FileRecord:
    path: str
    content_hash: str
    status: str
    reason: str | None
    settings_key: str
    doc_ids: list[str]


_ADDED_DOC_COLUMNS = (
    ("field_sources", "TEXT NOT NULL DEFAULT '{}'"),
    ("study_design", "TEXT"),
    ("study_design_evidence", "TEXT"),
    ("country", "TEXT"),
)
_DOC_JSON = ("authors", "keywords", "districts", "field_sources")


def _doc_from_row(row: sqlite3.Row) -> Document:
    d = dict(row)
    for key in _DOC_JSON:
        if key in d:  # field_sources is absent from catalogues made before it existed
            d[key] = json.loads(d[key])
    return Document(**d)


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
        with self.transaction():
            for stmt in SCHEMA.split(";\n"):
                if stmt.strip():
                    self.conn.execute(stmt)
            self.conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            # A catalogue made before the study-design fields existed gains their columns (empty).
            have = {r[1] for r in self.conn.execute("PRAGMA table_info(documents)")}
            for col, decl in _ADDED_DOC_COLUMNS:
                if col not in have:
                    self.conn.execute(f"ALTER TABLE documents ADD COLUMN {col} {decl}")

    def close(self) -> None:
        self.conn.close()

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
                json.dumps(doc.field_sources),
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

    def delete_document(self, c: sqlite3.Connection, doc_id: str) -> None:
        """Remove a document everywhere in the catalogue, and forget the files that only produced it."""
        self._delete_document_rows(c, doc_id)
        paths = self.paths_of(doc_id)
        c.execute("DELETE FROM file_docs WHERE doc_id = ?", (doc_id,))
        for p in paths:
            left = c.execute("SELECT COUNT(*) FROM file_docs WHERE path = ?", (p,)).fetchone()[0]
            if not left:
                # So that ingesting the file again brings the document back instead of "unchanged".
                c.execute("DELETE FROM files WHERE path = ?", (p,))

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
        doc_ids: list[str] | None,
    ) -> None:
        """Record a file's outcome; doc_ids None keeps the documents it gave last time."""
        c.execute(
            """INSERT INTO files(path, content_hash, status, reason, settings_key, updated_at)
               VALUES (?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET content_hash=excluded.content_hash,
               status=excluded.status, reason=excluded.reason, settings_key=excluded.settings_key,
               updated_at=excluded.updated_at""",
            (path, content_hash, status, reason, settings_key, now_iso()),
        )
        if doc_ids is not None:
            c.execute("DELETE FROM file_docs WHERE path = ?", (path,))
            c.executemany("INSERT INTO file_docs(path, doc_id) VALUES (?, ?)", [(path, d) for d in doc_ids])

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

    def doc_referenced_elsewhere(self, doc_id: str, path: str) -> bool:
        rows = self.query("SELECT 1 FROM file_docs WHERE doc_id = ? AND path != ? LIMIT 1", (doc_id, path))
        return bool(rows)

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
