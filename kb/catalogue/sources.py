"""Each document's recorded sources (file, entry, feed item) and the analyst's edits anchored to them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from kb.catalogue.rows import in_batches, put_source, source_from_row
from kb.models import Edit, SourceRecord


class SourceRows:
    """Mixin of Catalogue: needs `query`."""

    def put_source(self, c: sqlite3.Connection, s: SourceRecord) -> None:
        put_source(c, s)

    def delete_sources(self, c: sqlite3.Connection, keys: Iterable[str]) -> None:
        c.executemany("DELETE FROM document_sources WHERE source_key = ?", [(k,) for k in keys])

    def sources(self, where: str = "", params: Iterable = (), passages: bool = True) -> list[SourceRecord]:
        """Recorded sources (with their passages unless `passages` is False), in source-key order."""
        sql = "SELECT * FROM document_sources " + (f"WHERE {where} " if where else "") + "ORDER BY source_key"
        return [source_from_row(r, passages) for r in self.query(sql, params)]

    def sources_of(self, doc_id: str, passages: bool = True) -> list[SourceRecord]:
        return self.sources("doc_id = ?", (doc_id,), passages)

    def sources_of_path(self, path: str, passages: bool = True) -> list[SourceRecord]:
        return self.sources("path = ?", (path,), passages)

    def doi_claims(self, dois: Iterable[str]) -> list[tuple[str, str, str]]:
        """(source key, DOI, document) of every source that claims one of `dois`, except those an analyst
        split off (they keep the id of their own content)."""
        wanted = sorted({d for d in dois if d})
        out: list[tuple[str, str, str]] = []
        for part, marks in in_batches(wanted):
            rows = self.query(
                f"SELECT source_key, doi, doc_id FROM document_sources WHERE alone = 0 AND doi IN ({marks}) "
                "ORDER BY source_key",
                part,
            )
            out += [(r[0], r[1], r[2]) for r in rows]
        return out

    def dois_of(self, where: str, values: Iterable[str]) -> set[str]:
        """The DOIs claimed by the sources whose `where` column ("source_key" or "doc_id") is one of `values`."""
        if where not in ("source_key", "doc_id"):
            raise ValueError(f"dois_of: no column {where!r}")
        keys = sorted(set(values))
        out: set[str] = set()
        for part, marks in in_batches(keys):
            rows = self.query(
                f"SELECT DISTINCT doi FROM document_sources WHERE doi IS NOT NULL AND {where} IN ({marks})", part
            )
            out |= {r[0] for r in rows}
        return out

    def merged_documents(self) -> list[str]:
        """Documents made of more than one source, for `kb docs --merged`."""
        rows = self.query("SELECT doc_id FROM document_sources GROUP BY doc_id HAVING COUNT(*) > 1 ORDER BY doc_id")
        return [r[0] for r in rows]

    def edits_of(self, source_keys: Iterable[str]) -> list[Edit]:
        keys = list(source_keys)
        out: list[Edit] = []
        for part, marks in in_batches(keys):
            rows = self.query(f"SELECT field, value, edited_at FROM document_edits WHERE source_key IN ({marks})", part)
            out += [Edit(r[0], json.loads(r[1]), r[2]) for r in rows]
        return out

    def put_edit(self, c: sqlite3.Connection, source_key: str, edit: Edit) -> None:
        c.execute(
            "INSERT OR REPLACE INTO document_edits(source_key, field, value, edited_at) VALUES (?, ?, ?, ?)",
            (source_key, edit.field, json.dumps(edit.value), edit.edited_at),
        )

    def delete_edits(self, c: sqlite3.Connection, source_key: str) -> None:
        c.execute("DELETE FROM document_edits WHERE source_key = ?", (source_key,))
