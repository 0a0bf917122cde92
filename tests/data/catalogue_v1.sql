-- A catalogue as schema 1 wrote it (before document sources were recorded), with one ingested note.
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
INSERT INTO meta(key, value) VALUES ('schema_version', '1');
INSERT INTO documents(doc_id, title, doc_type, source, authors, year, sensitivity, content_hash, ingested_at, status, n_chunks)
VALUES ('sha256:5f1c0e5ab7a34c07b1e8a3f1d0c2e9aa', 'Mentoring in Leeds', 'research', '/data/notes/mentoring.md', '[]', 2022,
        'official', '5f1c0e5ab7a34c07b1e8a3f1d0c2e9aa00000000000000000000000000000000', '2026-01-05T10:00:00+00:00', 'ok', 1);
INSERT INTO chunks(rowid, chunk_id, doc_id, idx, text, text_hash, section, n_tokens, tags)
VALUES (1, 'sha256:5f1c0e5ab7a34c07b1e8a3f1d0c2e9aa:00000', 'sha256:5f1c0e5ab7a34c07b1e8a3f1d0c2e9aa', 0,
        'A trusted adult, such as a mentor, can protect young people in Leeds from harm.', 'h0', '["Findings"]', 18,
        '{"factors": [], "priorities": [], "who_levels": [], "crime_types": [], "cohorts": [], "places": ["leeds"]}');
INSERT INTO chunks_fts(rowid, text, heading) VALUES (1, 'A trusted adult, such as a mentor, can protect young people in Leeds from harm.', 'Mentoring in Leeds Findings');
INSERT INTO chunk_tags(chunk_rowid, kind, value, polarity) VALUES (1, 'place', 'leeds', NULL);
INSERT INTO files(path, content_hash, status, settings_key, updated_at) VALUES ('/data/notes/mentoring.md', 'abc', 'ok', 'k', '2026-01-05T10:00:00+00:00');
INSERT INTO file_docs(path, doc_id) VALUES ('/data/notes/mentoring.md', 'sha256:5f1c0e5ab7a34c07b1e8a3f1d0c2e9aa');
