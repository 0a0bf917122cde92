"""Applying numbered migrations on open: read the version, upgrade in one transaction, refuse a newer catalogue.

A catalogue records its version in `meta.schema_version`. Opening reads it and writes nothing when it is current;
an older one is upgraded in one transaction (all of it or none); a newer one is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


class SchemaError(RuntimeError):
    """The catalogue was written by newer code than this; the message names the file and the remedy."""


@dataclass(frozen=True)
class Migration:
    version: int
    what: str
    sql: str
    before: Callable[[sqlite3.Connection], None] | None = None  # runs before `sql`
    after: Callable[[sqlite3.Connection], None] | None = None  # runs after `sql`

    def apply(self, c: sqlite3.Connection) -> None:
        if self.before:
            self.before(c)
        for stmt in self.sql.split(";\n"):
            if stmt.strip():
                c.execute(stmt)
        if self.after:
            self.after(c)


def _has_table(c: sqlite3.Connection, name: str) -> bool:
    return c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def version_of(c: sqlite3.Connection) -> int:
    """The catalogue's schema version: 0 for an empty file; 1 for tables without a recorded version."""
    if _has_table(c, "meta"):
        row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None:
            return int(row[0])
    return 1 if _has_table(c, "documents") else 0


def migrate(c: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> int:
    """Bring the catalogue at `path` up to the last migration; returns the version it had. Only reads when current."""
    current = migrations[-1].version
    found = version_of(c)
    if found == current:
        return found
    _refuse_newer(found, current, path)
    c.execute("BEGIN IMMEDIATE")
    try:
        found = version_of(c)  # another process may have upgraded it while this one waited for the lock
        _refuse_newer(found, current, path)
        for m in (m for m in migrations if m.version > found):
            m.apply(c)
        if found < current:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(current),))
    except BaseException:
        c.execute("ROLLBACK")
        raise
    c.execute("COMMIT")
    return found


def _refuse_newer(found: int, current: int, path: Path) -> None:
    if found > current:
        raise SchemaError(
            f"{path}: the catalogue is schema {found}, newer than this code knows (schema {current}); "
            "upgrade kb (git pull, then pip install -e .) or open it with the version that wrote it"
        )
