"""The catalogue's numbered migrations: a new catalogue, one made by main at 0ba2238, a newer one, a failed upgrade."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from kbfixtures import run_kb

from kb.catalogue import Catalogue, SchemaError
from kb.catalogue.migrate import Migration, migrate, version_of
from kb.catalogue.schema import CURRENT, MIGRATIONS
from kb.results import cite, ocr_note

DATA = Path(__file__).parent / "data"
# Made by running main at commit 0ba2238 (kb ingest of two toolkit entries, a .bib entry and an official-sensitive
# note; kb alert add; kb search, which audited the note; kb edit --year): schema 2, with the feature tables.
MAIN_0BA2238 = DATA / "catalogue_main_0ba2238.sqlite"


def _objects(path: Path) -> dict[str, str]:
    con = sqlite3.connect(path)
    try:
        return dict(con.execute("SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchall())
    finally:
        con.close()


def test_the_migrations_are_numbered_one_by_one():
    assert [m.version for m in MIGRATIONS] == list(range(1, CURRENT + 1))


def test_a_new_catalogue_gets_every_migration(tmp_path):
    cat = Catalogue(tmp_path / "catalogue.sqlite3")
    assert cat.get_meta("schema_version") == str(CURRENT)
    cat.close()
    objects = _objects(tmp_path / "catalogue.sqlite3")
    assert objects["file_docs"] == "view", "schema 1's file_docs table became a view over the recorded sources"
    for table in ("documents", "chunks_fts", "document_sources", "document_edits", "scan_status", "audit_log"):
        assert objects[table] == "table", table
    assert "file_docs_v1" not in objects


def test_opening_a_current_catalogue_writes_nothing(tmp_path):
    path = tmp_path / "catalogue.sqlite3"
    Catalogue(path).close()
    again = Catalogue(path)
    assert again.conn.total_changes == 0
    again.close()
    # The app opens the catalogue while `kb ingest` writes: opening must not wait for the write lock.
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    opened: list[Catalogue] = []
    t = threading.Thread(target=lambda: opened.append(Catalogue(path)))
    t.start()
    t.join(timeout=10)
    writer.execute("ROLLBACK")
    writer.close()
    t.join()
    assert opened, "opening a current catalogue waited for another process's write lock"
    opened[0].close()


def test_a_catalogue_newer_than_the_code_is_refused(tmp_path):
    path = tmp_path / "catalogue.sqlite3"
    cat = Catalogue(path)
    cat.set_meta("schema_version", str(CURRENT + 1))
    cat.close()
    with pytest.raises(SchemaError, match=rf"{path}: the catalogue is schema {CURRENT + 1}, newer") as err:
        Catalogue(path)
    assert "upgrade kb" in str(err.value)


def test_a_failed_migration_leaves_the_catalogue_as_it_was(tmp_path):
    path = tmp_path / "catalogue.sqlite3"
    Catalogue(path).close()
    broken = (*MIGRATIONS, Migration(CURRENT + 1, "breaks half way", "CREATE TABLE t_new (x);\nSELECT no_such_fn()"))
    con = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="no_such_fn"):
        migrate(con, path, broken)
    assert version_of(con) == CURRENT
    assert "t_new" not in _objects(path)
    con.close()


def test_a_catalogue_made_by_main_0ba2238_is_upgraded(tmp_path):
    data = tmp_path / "kb"
    data.mkdir()
    shutil.copy(MAIN_0BA2238, data / "catalogue.sqlite3")
    cat = Catalogue(data / "catalogue.sqlite3")
    assert cat.get_meta("schema_version") == str(CURRENT)
    titles = sorted(d.title for d in cat.documents())
    assert len(titles) == 4 and "Mentoring pilot in Leeds schools" in titles
    note = next(d for d in cat.documents() if d.title.startswith("Mentoring"))
    assert note.year == 2023 and note.field_sources["year"] == "analyst", "the analyst's edit survives"
    assert note.sensitivity == "official-sensitive"
    assert len(cat.sources_of(note.doc_id)) == 1 and cat.paths_of(note.doc_id)
    assert len(cat.toolkit_entries()) == 2
    hits = cat.query("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH 'mentor'")
    assert hits, "the BM25 index came through"
    assert [r["name"] for r in cat.query("SELECT name, owner FROM alerts")] == ["mentors"]
    cat.close()
    again = Catalogue(data / "catalogue.sqlite3")
    assert again.conn.total_changes == 0, "upgraded once; the next open only reads"
    again.close()
    audit = json.loads(run_kb(data, "audit", "--json", check=True).stdout)
    assert [e["doc_id"] for e in audit["entries"]] == [note.doc_id]
    docs = json.loads(run_kb(data, "docs", "--json", check=True).stdout)["documents"]
    assert len(docs) == 4


def test_schema_4_keeps_an_ocr_document_saying_ocr_text_on_every_passage(tmp_path):
    """Before schema 4 OCR was known per document: its passages stay flagged (fail safe), its pages unrecorded, and
    the next ingest reads its file again to record them."""
    data = tmp_path / "kb"
    data.mkdir()
    path = data / "catalogue.sqlite3"
    shutil.copy(MAIN_0BA2238, path)
    # The note as an OCR'd scan would have been stored then: the document's status, in its row and its source.
    con = sqlite3.connect(path)
    with con:
        note_id = con.execute("SELECT doc_id FROM documents WHERE title LIKE 'Mentoring%'").fetchone()[0]
        con.execute("UPDATE documents SET status = 'ocr' WHERE doc_id = ?", (note_id,))
        con.execute(
            "UPDATE document_sources SET document = json_set(document, '$.status', 'ocr') WHERE doc_id = ?", (note_id,)
        )
    con.close()

    cat = Catalogue(path)
    note = cat.get_document(note_id)
    assert note.status == "ocr" and note.ocr_pages == []
    assert ocr_note(note) == "Read by OCR from a scan: pages not recorded; ingest the file again to record them"
    flags = {d.doc_id: {ch.ocr for ch in cat.chunks_of(d.doc_id)} for d in cat.documents()}
    assert flags.pop(note_id) == {True}
    assert set().union(*flags.values()) == {False}, "only the OCR'd document's passages are flagged"
    assert all(cite(note, ch).endswith("OCR text") for ch in cat.chunks_of(note_id))
    [source] = cat.sources_of(note_id)
    assert source.chunks and all(ch.ocr for ch in source.chunks), "its recorded passages are flagged as well"
    assert cat.get_file(source.path).settings_key == "", "its file is read again by the next ingest"
    assert {f.settings_key for f in cat.files() if f.path != source.path} == {"31d9dc527368960a"}
    cat.close()

    # An edit derives the document again from its recorded source: the flag comes through.
    run_kb(data, "edit", note_id, "--year", "2024", check=True)
    out = json.loads(run_kb(data, "search", "mentoring", "--mode", "bm25", "--json", check=True).stdout)
    hits = {p["doc_id"]: p for g in out["results"] for p in g["passages"]}
    assert hits[note_id]["ocr"] is True and hits[note_id]["citation"].endswith("OCR text")
    assert all(p["ocr"] is False for d, p in hits.items() if d != note_id)
    assert "pages not recorded" in " ".join(run_kb(data, "docs", check=True).stdout.split())


def test_schema_6_reads_pdfs_again_for_their_printed_page_numbers(tmp_path):
    """A PDF ingested before schema 6 keeps the page labels it was read with (a Taylor & Francis cover made every
    citation a page ahead) until its file is read again: the next ingest does that, for PDFs only."""
    path = tmp_path / "catalogue.sqlite3"
    shutil.copy(MAIN_0BA2238, path)
    con = sqlite3.connect(path)
    with con:
        con.execute(
            "INSERT INTO files (path, content_hash, status, settings_key, updated_at) "
            "VALUES ('/reports/Peach 2016.PDF', 'h', 'ok', '31d9dc527368960a', '2026-11-30')"
        )
    con.close()
    cat = Catalogue(path)
    keys = {f.path: f.settings_key for f in cat.files()}
    assert keys.pop("/reports/Peach 2016.PDF") == ""
    assert set(keys.values()) == {"31d9dc527368960a", "850898142c113ddc"}, "other files are not read again"
    cat.close()


def test_schema_7_reads_again_the_files_whose_passages_the_new_reading_changes(tmp_path):
    """Before schema 7 a file holding its text twice (the US Trustee handbook .docx) kept every copy, and a PDF
    without bookmarks kept the sections the layout guessed. The next ingest reads those files again: every PDF, and
    the files of a document with a passage text twice; the others are left alone."""
    path = tmp_path / "catalogue.sqlite3"
    shutil.copy(MAIN_0BA2238, path)
    con = sqlite3.connect(path)
    migrate(con, path, MIGRATIONS[:6])
    with con:
        con.execute(
            "INSERT INTO files (path, content_hash, status, settings_key, updated_at) "
            "VALUES ('/reports/guide.pdf', 'h', 'ok', '31d9dc527368960a', '2026-11-30')"
        )
        doc_id, text = con.execute(
            "SELECT c.doc_id, c.text FROM chunks c JOIN documents d ON d.doc_id = c.doc_id "
            "WHERE d.title LIKE 'Mentoring%'"
        ).fetchone()
        con.execute(
            "INSERT INTO chunks (chunk_id, doc_id, idx, text, text_hash, section, page_start, page_end, n_tokens) "
            "SELECT chunk_id || '-copy', doc_id, idx + 100, text, text_hash, section, page_start, page_end, n_tokens "
            "FROM chunks WHERE doc_id = ? AND text = ?",
            (doc_id, text),
        )
        [(twice,)] = con.execute("SELECT path FROM document_sources WHERE doc_id = ?", (doc_id,)).fetchall()
    con.close()
    cat = Catalogue(path)
    keys = {f.path: f.settings_key for f in cat.files()}
    assert keys.pop("/reports/guide.pdf") == "" and keys.pop(twice) == ""
    assert keys and set(keys.values()) <= {"31d9dc527368960a", "850898142c113ddc"}, "other files are not read again"
    cat.close()
