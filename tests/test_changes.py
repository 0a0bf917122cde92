"""The catalogue's change signature: it moves on every write, from this connection or another, never repeats."""

from __future__ import annotations

import sqlite3

from kbfixtures import open_kb

from kb.changes import memo, signature


def test_signature_moves_on_own_and_foreign_writes_and_differs_per_connection(corpus_kb_copy) -> None:
    kb = open_kb(corpus_kb_copy)
    try:
        first = signature(kb)
        assert signature(kb) == first, "reading changes nothing"
        with kb.catalogue.transaction() as c:
            c.execute("UPDATE documents SET title = title || ' (edited)' WHERE rowid = 1")
        own = signature(kb)
        assert own != first
        other = sqlite3.connect(corpus_kb_copy / "catalogue.sqlite3")
        other.execute("UPDATE documents SET sensitivity = 'official-sensitive' WHERE rowid = 2")
        other.commit()
        other.close()
        assert signature(kb) != own, "a commit by another process is seen"
        again = open_kb(corpus_kb_copy)
        try:
            # A reopened knowledge base starts its counters afresh; the signature must not repeat an old one.
            assert signature(again) not in {first, own}
        finally:
            again.close()
    finally:
        kb.close()


def test_memo_is_kept_until_the_catalogue_changes(corpus_kb_copy) -> None:
    kb = open_kb(corpus_kb_copy)
    try:
        memo(kb)["x"] = 1
        assert memo(kb) == {"x": 1}, "kept while nothing changes"
        other = sqlite3.connect(corpus_kb_copy / "catalogue.sqlite3")
        other.execute("UPDATE documents SET title = title || ' (edited)' WHERE rowid = 1")
        other.commit()
        other.close()
        assert memo(kb) == {}, "a commit by another process empties it"
        memo(kb)["x"] = 2
        with kb.catalogue.transaction() as c:
            c.execute("UPDATE documents SET title = title || ' (again)' WHERE rowid = 1")
        assert memo(kb) == {}, "so does a write through this connection"
    finally:
        kb.close()
