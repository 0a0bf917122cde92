"""Tables for scanning, alerts and digests, created on first use in the catalogue, and first-seen times."""

from __future__ import annotations

from kb.catalogue import Catalogue

SCHEMA = """
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
    created_at TEXT NOT NULL
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
"""


def ensure_schema(cat: Catalogue) -> None:
    """Create the feature tables if this catalogue does not have them yet (a read first: no write lock)."""
    if cat.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'digest_locks'"):
        return
    with cat.transaction() as c:
        for stmt in SCHEMA.split(";\n"):
            if stmt.strip():
                c.execute(stmt)


def note_documents(cat: Catalogue) -> None:
    """Remember when each document was first seen, before a later re-ingest moves its ingested_at."""
    ensure_schema(cat)
    with cat.transaction() as c:
        c.execute("INSERT OR IGNORE INTO doc_first_seen(doc_id, first_seen) SELECT doc_id, ingested_at FROM documents")
