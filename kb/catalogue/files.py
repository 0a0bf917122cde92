"""The file manifest (path -> content hash -> status, and the documents it gave) and the log of ingest runs."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from kb.catalogue.rows import now_iso


@dataclass
class FileRecord:
    path: str
    content_hash: str
    status: str
    reason: str | None
    settings_key: str
    doc_ids: list[str]


class FileRows:
    """Mixin of Catalogue: needs `query` and `transaction`."""

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
