"""Query terms for BM25: words without stopwords, quoted FTS5 queries, FTS5's own stems, pruning of common terms."""

from __future__ import annotations

import re
import sqlite3
import threading
from functools import lru_cache

import numpy as np
from pyroaring import BitMap

from kb.text import STOPWORDS

# chunks_fts's tokenizer (kb/catalogue.py); query terms are stemmed by FTS5 itself with it to look up their df.
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"


def query_terms(text: str) -> list[str]:
    """The free-text words a BM25 query searches for: lower-cased, no stopwords, no one-letter words, once each."""
    return list(dict.fromkeys(t for t in re.findall(r"\w+", text.lower()) if t not in STOPWORDS and len(t) > 1))


def fts_query(text: str | list[str]) -> str | None:
    """Any-term FTS5 query from free text (or its terms); every term quoted so user input is never FTS syntax."""
    terms = query_terms(text) if isinstance(text, str) else text
    if not terms:
        return None
    return " OR ".join(f'"{t}"' for t in terms)


_stem_lock = threading.Lock()
_stem_db: sqlite3.Connection | None = None


@lru_cache(maxsize=100_000)
def index_terms(term: str) -> tuple[str, ...]:
    """The terms chunks_fts indexes for `term` ("children" -> ("children",), "cells" -> ("cell",)): FTS5's own
    porter tokenizer, run on a one-row table in memory, so the look-up matches the index exactly."""
    global _stem_db
    with _stem_lock:
        if _stem_db is None:
            db = sqlite3.connect(":memory:", check_same_thread=False)
            db.execute(f"CREATE VIRTUAL TABLE q USING fts5(t, tokenize = '{FTS_TOKENIZE}')")
            db.execute("CREATE VIRTUAL TABLE qv USING fts5vocab(q, 'instance')")
            _stem_db = db
        _stem_db.execute("DELETE FROM q")
        _stem_db.execute("INSERT INTO q(rowid, t) VALUES (1, ?)", (term,))
        return tuple(r[0] for r in _stem_db.execute("SELECT term FROM qv ORDER BY offset"))


def prune_terms(terms: list[str], df: dict[str, int], n_passages: int, max_df: float) -> list[str]:
    """`terms` without those in more than `max_df` of `n_passages` passages (`df`: term -> passages holding it),
    in query order; if every term is that common, the rarest one alone."""
    if not terms or n_passages <= 0:
        return terms
    keep = [t for t in terms if df.get(t, 0) <= max_df * n_passages]
    return keep or [min(terms, key=lambda t: df.get(t, 0))]


def membership_blob(allowed: BitMap) -> bytes:
    """One byte per rowid, 1 where allowed: `substr(blob, rowid + 1, 1) = x'01'` tests a row in SQLite's C code,
    where a Python function per matching row would take the GIL from the threads running beside it."""
    ids = np.frombuffer(allowed.to_array(), dtype=np.uint32)
    mask = np.zeros(int(ids[-1]) + 1 if len(ids) else 0, dtype=np.uint8)
    mask[ids] = 1
    return mask.tobytes()
