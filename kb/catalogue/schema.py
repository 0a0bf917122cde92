"""The catalogue's schema, as numbered migrations (kb/catalogue/migrate.py applies them when it is opened).

A change to the schema is a new migration at the end of MIGRATIONS, never an edit of one that catalogues in use
may already have applied.
"""

from __future__ import annotations

import json
import sqlite3

from kb.catalogue.documents import rebuild_bm25_headings
from kb.catalogue.migrate import Migration
from kb.catalogue.rows import chunk_from_row, doc_from_row, kind_of, put_source, toolkit_from_dict
from kb.models import SourceRecord

V1 = """
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
    n_chunks INTEGER NOT NULL DEFAULT 0
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

V2 = """
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
CREATE VIEW IF NOT EXISTS file_docs AS SELECT DISTINCT path, doc_id FROM document_sources;
"""

V3 = """
-- Where each scanned item came from; its dedupe keys (doi:, url:, title:) live in scan_keys.
CREATE TABLE IF NOT EXISTS scan_items (
    item_id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    url TEXT,
    doi TEXT,
    title TEXT NOT NULL,
    how TEXT NOT NULL,
    path TEXT,
    doc_id TEXT,
    first_seen TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scan_items_doc ON scan_items(doc_id);
CREATE TABLE IF NOT EXISTS scan_keys (
    key TEXT PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES scan_items(item_id) ON DELETE CASCADE
);
-- ingested_at changes whenever a file is re-processed (a taxonomy edit re-tags everything);
-- what is "new" for a digest is when a document was first seen, which never moves.
CREATE TABLE IF NOT EXISTS doc_first_seen (doc_id TEXT PRIMARY KEY, first_seen TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
    name TEXT PRIMARY KEY,
    query TEXT NOT NULL,
    filters TEXT NOT NULL DEFAULT '{}',
    threshold REAL NOT NULL,
    created_at TEXT NOT NULL,
    owner TEXT  -- the app user who saved it; NULL for alerts made with `kb alert add`
);
CREATE TABLE IF NOT EXISTS subscribers (
    list_name TEXT NOT NULL,
    email TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    unsubscribed_at TEXT,
    PRIMARY KEY (list_name, email)
);
-- One row per list and period; status pending until every recipient's server accepted the message.
CREATE TABLE IF NOT EXISTS digest_sends (
    send_id INTEGER PRIMARY KEY,
    list_name TEXT NOT NULL,
    period TEXT NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    n_items INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    error TEXT,
    UNIQUE (list_name, period)
);
CREATE TABLE IF NOT EXISTS digest_deliveries (
    send_id INTEGER NOT NULL REFERENCES digest_sends(send_id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    accepted_at TEXT NOT NULL,
    PRIMARY KEY (send_id, email)
);
CREATE TABLE IF NOT EXISTS digest_items (
    list_name TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    send_id INTEGER NOT NULL,
    PRIMARY KEY (list_name, doc_id)
);
CREATE TABLE IF NOT EXISTS toolkit_snapshot (
    list_name TEXT NOT NULL,
    slug TEXT NOT NULL,
    approach TEXT NOT NULL,
    band TEXT,
    PRIMARY KEY (list_name, slug)
);
CREATE TABLE IF NOT EXISTS digest_locks (list_name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at TEXT NOT NULL);
-- The email of each completed send as it went out (without anyone's unsubscribe link), for "Past digests".
CREATE TABLE IF NOT EXISTS digest_archive (
    send_id INTEGER PRIMARY KEY REFERENCES digest_sends(send_id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    html TEXT NOT NULL,
    text TEXT NOT NULL
);
-- The last scan of each source: when, what it found, and why it failed (counts kept from the last success).
CREATE TABLE IF NOT EXISTS scan_status (
    source TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    last_run TEXT NOT NULL,
    last_ok TEXT,
    status TEXT NOT NULL,
    items_found INTEGER NOT NULL DEFAULT 0,
    new_items INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    failed_items INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
-- Every view, export, brief and mailing of an official-sensitive document (kb/audit.py).
CREATE TABLE IF NOT EXISTS audit_log (
    entry_id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    title TEXT NOT NULL,
    sensitivity TEXT NOT NULL,
    destination TEXT NOT NULL
);
"""

V4 = """
-- Whether a passage's text was read by OCR from a page image (its citation says "OCR text"), and which pages of
-- a document were, with OCR's mean word confidence ([{"label", "index", "confidence"}]).
ALTER TABLE chunks ADD COLUMN ocr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE documents ADD COLUMN ocr_pages TEXT NOT NULL DEFAULT '[]';
-- Before schema 4 OCR was known per document only: each passage of an OCR'd document keeps saying "OCR text"
-- (fail safe), and its pages stay unrecorded rather than guessed.
UPDATE chunks SET ocr = 1 WHERE doc_id IN (SELECT doc_id FROM documents WHERE status = 'ocr')
"""

# Columns of documents that schema 1 lacks (ALTER TABLE ADD COLUMN is cheap in SQLite: no rewrite).
_V2_DOCUMENT_COLUMNS = {
    "field_sources": "TEXT NOT NULL DEFAULT '{}'",
    "study_design": "TEXT",
    "study_design_evidence": "TEXT",
    "country": "TEXT",
}


def _columns(c: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in c.execute(f"PRAGMA table_info({table})")}


def _before_v2(c: sqlite3.Connection) -> None:
    # file_docs becomes a view over document_sources; the old table is read once, below, then dropped.
    if c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'file_docs'").fetchone():
        c.execute("ALTER TABLE file_docs RENAME TO file_docs_v1")
    have = _columns(c, "documents")
    for name, decl in _V2_DOCUMENT_COLUMNS.items():
        if name not in have:
            c.execute(f"ALTER TABLE documents ADD COLUMN {name} {decl}")


def _after_v2(c: sqlite3.Connection) -> None:
    """Schema 1 mapped files to documents; each such pair becomes a recorded source of the document."""
    if not c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'file_docs_v1'").fetchone():
        return
    rows = c.execute(
        "SELECT f.path, d.* FROM file_docs_v1 f JOIN documents d ON d.doc_id = f.doc_id ORDER BY f.path"
    ).fetchall()
    for r in rows:
        doc = doc_from_row({k: r[k] for k in r.keys() if k != "path"})
        chunks = [
            chunk_from_row(x) for x in c.execute("SELECT * FROM chunks WHERE doc_id = ? ORDER BY idx", (doc.doc_id,))
        ]
        tk = c.execute("SELECT entry FROM toolkit WHERE doc_id = ?", (doc.doc_id,)).fetchone()
        entry = doc.source.rpartition("#")[2] if "#" in doc.source else ""
        put_source(
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
    c.execute("DROP TABLE file_docs_v1")


def _after_v3(c: sqlite3.Connection) -> None:
    # These tables were created on first use before they were numbered: an alerts table from before alerts had
    # owners is kept by CREATE TABLE IF NOT EXISTS as it was.
    if "owner" not in _columns(c, "alerts"):
        c.execute("ALTER TABLE alerts ADD COLUMN owner TEXT")


def _after_v4(c: sqlite3.Connection) -> None:
    """The recorded passages of OCR'd sources are flagged too (a document is derived from them again on every
    change), and their files are read again by the next ingest, which records the OCR'd pages: the OCR cache and
    the embedding cache mean no page is OCR'd and no passage embedded twice."""
    rows = c.execute(
        "SELECT source_key, path, passages FROM document_sources WHERE json_extract(document, '$.status') = 'ocr'"
    ).fetchall()
    for key, path, passages in rows:
        flagged = [{**p, "ocr": True} for p in json.loads(passages)]
        c.execute("UPDATE document_sources SET passages = ? WHERE source_key = ?", (json.dumps(flagged), key))
        c.execute("UPDATE files SET settings_key = '' WHERE path = ?", (path,))


def _after_v6(c: sqlite3.Connection) -> None:
    """PDFs are read again by the next ingest, for the page numbers they print (a publisher's cover before page 1,
    a label tree a page short): the embedding and OCR caches mean no passage is embedded or page OCR'd twice."""
    c.execute("UPDATE files SET settings_key = '' WHERE lower(path) LIKE '%.pdf'")


def _after_v7(c: sqlite3.Connection) -> None:
    """Files are read again where the new reading changes their passages: every PDF (sections from its contents
    page, bookmarks named for places left out, footers known whatever their spacing) and any file with a document
    that holds one passage text twice (now stored once). The caches mean nothing is embedded or OCR'd twice."""
    c.execute(
        "UPDATE files SET settings_key = '' WHERE lower(path) LIKE '%.pdf' OR path IN (SELECT path FROM "
        "document_sources WHERE doc_id IN (SELECT doc_id FROM chunks GROUP BY doc_id, text HAVING COUNT(*) > 1))"
    )


MIGRATIONS = (
    Migration(1, "documents, passages, tags, BM25 index, file manifest, runs, embedding cache, toolkit", V1),
    Migration(
        2, "recorded sources of each document and analyst edits; file_docs derived from them", V2, _before_v2, _after_v2
    ),
    Migration(3, "scanning, alerts, subscribers, digests and the audit log", V3, after=_after_v3),
    Migration(4, "which passages and pages were read by OCR", V4, after=_after_v4),
    # The files of an existing catalogue are unchanged, so ingest would never rewrite their BM25 rows.
    Migration(
        5, "the BM25 heading column carries the acronym forms a passage does not use", "", after=rebuild_bm25_headings
    ),
    Migration(6, "PDFs are read again for the page numbers they print", "", after=_after_v6),
    Migration(7, "PDFs and files holding a passage twice are read again", "", after=_after_v7),
)
CURRENT = MIGRATIONS[-1].version
