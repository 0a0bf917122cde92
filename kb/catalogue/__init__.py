"""The SQLite catalogue: one file in the data directory holding documents, passages, the BM25 index, the file
manifest, runs, the embedding cache and the feature tables; its schema is kb/catalogue/schema.py."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kb.catalogue.documents import DocumentRows
from kb.catalogue.embeddings import EmbeddingRows
from kb.catalogue.files import FileRecord, FileRows
from kb.catalogue.migrate import SchemaError, migrate
from kb.catalogue.rows import kind_of, now_iso, now_precise, toolkit_from_dict
from kb.catalogue.schema import MIGRATIONS
from kb.catalogue.sources import SourceRows

__all__ = ["Catalogue", "FileRecord", "SchemaError", "kind_of", "now_iso", "now_precise", "toolkit_from_dict"]


class Catalogue(DocumentRows, SourceRows, FileRows, EmbeddingRows):
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
        try:
            with self._lock:
                migrate(self.conn, self.path, MIGRATIONS)
        except BaseException:
            self.conn.close()
            raise

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

    def changes(self) -> tuple[int, int]:
        """Moves on every committed write: data_version when another connection commits, total_changes when
        this one writes. Both count per connection, so compare only values read through one catalogue."""
        with self._lock:
            return self.conn.execute("PRAGMA data_version").fetchone()[0], self.conn.total_changes

    # -- meta -------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

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
