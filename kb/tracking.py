"""Tables for scanning, alerts and digests, created on first use in the catalogue, and first-seen times."""

from __future__ import annotations

from kb.catalogue import Catalogue, now_iso

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
)
"""


def ensure_schema(cat: Catalogue) -> None:
    """Create the feature tables if this catalogue does not have them yet (a read first: no write lock)."""
    if cat.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'scan_status'"):
        return
    with cat.transaction() as c:
        for stmt in SCHEMA.split(";\n"):
            if stmt.strip():
                c.execute(stmt)
        # A catalogue made before alerts had owners: CREATE TABLE IF NOT EXISTS left its alerts table as it was.
        if "owner" not in {r[1] for r in c.execute("PRAGMA table_info(alerts)")}:
            c.execute("ALTER TABLE alerts ADD COLUMN owner TEXT")


def record_scan_status(
    cat: Catalogue,
    source: str,
    kind: str,
    status: str,
    error: str | None = None,
    found: int = 0,
    new: int = 0,
    duplicates: int = 0,
    failed_items: int = 0,
) -> None:
    """Remember one source's scan; a failed fetch keeps the counts of the last scan that worked."""
    ensure_schema(cat)
    now = now_iso()
    with cat.transaction() as c:
        if status == "failed" and not (found or new or duplicates or failed_items):
            c.execute(
                """INSERT INTO scan_status(source, kind, last_run, status, error) VALUES (?, ?, ?, 'failed', ?)
                   ON CONFLICT(source) DO UPDATE SET kind=excluded.kind, last_run=excluded.last_run,
                   status='failed', error=excluded.error""",
                (source, kind, now, error),
            )
            return
        c.execute(
            """INSERT OR REPLACE INTO scan_status(source, kind, last_run, last_ok, status, items_found, new_items,
                   duplicates, failed_items, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (source, kind, now, now, status, found, new, duplicates, failed_items, error),
        )


def note_documents(cat: Catalogue) -> None:
    """Remember when each document was first seen, before a later re-ingest moves its ingested_at."""
    ensure_schema(cat)
    with cat.transaction() as c:
        c.execute("INSERT OR IGNORE INTO doc_first_seen(doc_id, first_seen) SELECT doc_id, ingested_at FROM documents")
