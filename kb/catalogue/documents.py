"""Catalogue documents and their passages: written whole inside a transaction, read by id, rowid or document."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict

from kb.acronyms import definitions, expansions
from kb.catalogue.rows import chunk_from_row, doc_from_row, now_iso, tag_rows
from kb.models import Chunk, Document, ToolkitEntry


def bm25_headings(title: str, sections: list[list[str]], texts: list[str]) -> list[str]:
    """Each passage's BM25 heading column: the title, the section path, and the acronyms the document defines in
    the form neither the passage nor its headings use ("NRM" where it says "National Referral Mechanism", and the
    other way round)."""
    defined = definitions([title, *texts])
    out = []
    for section, text in zip(sections, texts, strict=True):
        heading = " ".join([title, *section])
        out.append(" ".join([heading, *expansions(heading + "\n" + text, defined)]))
    return out


def rebuild_bm25_headings(c: sqlite3.Connection) -> int:
    """Rewrite every passage's BM25 heading column from the catalogue's own rows; returns the passages changed.

    For a catalogue written before the column carried acronyms: its files are unchanged, so ingest would never
    rewrite their rows.
    """
    changed = 0
    for doc_id, title in c.execute("SELECT doc_id, title FROM documents").fetchall():
        rows = c.execute("SELECT rowid, text, section FROM chunks WHERE doc_id = ? ORDER BY idx", (doc_id,)).fetchall()
        headings = bm25_headings(title, [json.loads(r[2]) for r in rows], [r[1] for r in rows])
        for (rowid, _, _), heading in zip(rows, headings, strict=True):
            old = c.execute("SELECT heading FROM chunks_fts WHERE rowid = ?", (rowid,)).fetchone()
            if old is None or old[0] != heading:
                c.execute("UPDATE chunks_fts SET heading = ? WHERE rowid = ?", (heading, rowid))
                changed += 1
    return changed


class DocumentRows:
    """Mixin of Catalogue: needs `query` (and callers pass the connection of their `transaction`)."""

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
               n_chunks, field_sources, study_design, study_design_evidence, country, ocr_pages)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
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
                json.dumps([asdict(p) for p in doc.ocr_pages]),
            ),
        )
        headings = bm25_headings(doc.title, [ch.section for ch in chunks], [ch.text for ch in chunks])
        for ch, th, heading in zip(chunks, text_hashes, headings, strict=True):
            cur = c.execute(
                """INSERT INTO chunks(chunk_id, doc_id, idx, text, text_hash, section, page_start, page_end,
                   page_index, n_tokens, tags, ocr) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""",
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
                    int(ch.ocr),
                ),
            )
            rowid = cur.lastrowid
            c.execute("INSERT INTO chunks_fts(rowid, text, heading) VALUES (?, ?, ?)", (rowid, ch.text, heading))
            c.executemany(
                "INSERT INTO chunk_tags(chunk_rowid, kind, value, polarity) VALUES (?,?,?,?)",
                list(tag_rows(rowid, ch.tags)),
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

    def chunk_ids_of(self, doc_id: str) -> list[str]:
        return [r[0] for r in self.query("SELECT chunk_id FROM chunks WHERE doc_id = ? ORDER BY idx", (doc_id,))]

    def get_document(self, doc_id: str) -> Document | None:
        rows = self.query("SELECT * FROM documents WHERE doc_id = ?", (doc_id,))
        return doc_from_row(rows[0]) if rows else None

    def documents(self, where: str = "", params: Iterable = ()) -> list[Document]:
        sql = "SELECT * FROM documents " + (f"WHERE {where} " if where else "") + "ORDER BY doc_type, title"
        return [doc_from_row(r) for r in self.query(sql, params)]

    def get_chunks(self, rowids: list[int]) -> dict[int, Chunk]:
        out: dict[int, Chunk] = {}
        for i in range(0, len(rowids), 500):
            part = rowids[i : i + 500]
            marks = ",".join("?" * len(part))
            for r in self.query(f"SELECT rowid AS rid, * FROM chunks WHERE rowid IN ({marks})", part):
                out[r["rid"]] = chunk_from_row(r)
        return out

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        return [chunk_from_row(r) for r in self.query("SELECT * FROM chunks WHERE doc_id = ? ORDER BY idx", (doc_id,))]

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
