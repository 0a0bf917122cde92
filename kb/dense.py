"""Dense search behind one interface: exact in memory or Chroma HNSW (embedded or server), picked by `create_dense`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Protocol

import numpy as np
from pyroaring import AbstractBitMap, BitMap

from kb.config import Settings

# The choices below are measured in docs/benchmarks.md, "Query latency and memory".
# Up to this many passages (embedded mode) filtered dense search is exact over vectors held in memory: recall 1.0,
# any filter at no extra cost, and a process that searches small collections never imports Chroma.
EXACT_INDEX_LIMIT = 200_000
# Above this many passages an unfiltered search goes to HNSW, faster there than scoring every vector; a filtered
# one stays exact, since Chroma's `where` scans every row.
UNFILTERED_EXACT_LIMIT = 50_000
# Without the vectors in memory, a filtered search reads the allowed passages' vectors from the catalogue up to
# this many; beyond, it asks HNSW for more and intersects (approximate: it may find fewer than asked).
EXACT_FILTER_LIMIT = 2_000
# How many HNSW neighbours that intersection asks for first: enough that OVERSAMPLE times n of them are expected
# to be allowed (by the allowed share of the index), at most HNSW_FILTER_MAX. An HNSW query's cost grows with k.
OVERSAMPLE = 1.5
HNSW_FILTER_MAX = 5000
# A filtered exact search gathers the allowed vectors when they are fewer than 1/GATHER_FRACTION of all
# (copying a row costs about what scoring it does), and otherwise scores every vector and picks.
GATHER_FRACTION = 3

Ranked = list[tuple[int, float]]


@lru_cache(maxsize=1)
def _blas():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _scores(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """matrix @ vector on one BLAS thread: a matrix-vector product is memory-bound, and OpenBLAS's threads
    spin waiting for one another on a busy machine while the BM25 run needs the other core."""
    with _blas().limit(limits=1, user_api="blas"):
        return matrix @ vector


class DenseIndex(Protocol):
    """Nearest passages by cosine similarity, as (catalogue rowid, score) best first."""

    def refresh(self) -> None:
        """Catch up with the catalogue (cheap when nothing changed)."""

    def search(self, vector: np.ndarray, n: int, allowed: BitMap | None = None) -> Ranked:
        """Best n passages, only among `allowed` rowids when given."""


def _rowid_array(allowed: Iterable[int]) -> np.ndarray:
    if isinstance(allowed, AbstractBitMap):  # BitMap or the FrozenBitMap that filters resolve to
        return np.frombuffer(allowed.to_array(), dtype=np.uint32).astype(np.int64)
    return np.asarray(sorted(allowed), dtype=np.int64)


def _top(rowids: np.ndarray, scores: np.ndarray, n: int) -> Ranked:
    n = min(n, len(scores))
    if n <= 0:
        return []
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(rowids[i]), float(scores[i])) for i in top]


class ExactDense:
    """Every passage vector of the catalogue in memory, searched exactly with numpy. Reloaded whenever the
    catalogue has changed since it was read."""

    def __init__(self, catalogue, model_id: str):
        self.cat = catalogue
        self.model_id = model_id
        # One tuple, swapped whole: app threads searching during a reload see the old or the new index.
        self._data: tuple[np.ndarray, np.ndarray] = (np.zeros(0, dtype=np.int64), np.zeros((0, 0), np.float32))
        self._seen: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        with self._lock:
            sig = self.cat.changes()
            if sig == self._seen:
                return
            rows = self.cat.query(
                """SELECT c.rowid, e.vector FROM chunks c JOIN embed_cache e
                   ON e.model = ? AND e.text_hash = c.text_hash ORDER BY c.rowid""",
                (self.model_id,),
            )
            rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            flat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            matrix = flat.reshape(len(rows), -1) if rows else np.zeros((0, 0), np.float32)
            self._data, self._seen = (rowids, matrix), sig

    def __len__(self) -> int:
        return len(self._data[0])

    def search(self, vector: np.ndarray, n: int, allowed: Iterable[int] | None = None) -> Ranked:
        rowids, matrix = self._data
        if not len(rowids) or n <= 0:
            return []
        vector = np.asarray(vector, dtype=np.float32)
        if allowed is None:
            return _top(rowids, _scores(matrix, vector), n)
        want = _rowid_array(allowed)
        if not len(want):
            return []
        pos = np.minimum(np.searchsorted(rowids, want), len(rowids) - 1)
        pos = pos[rowids[pos] == want]  # allowed passages without a vector drop out
        if not len(pos):
            return []
        # A small subset is cheaper to gather; a large one to score whole and pick from.
        scores = (
            _scores(matrix[pos], vector) if len(pos) * GATHER_FRACTION < len(rowids) else _scores(matrix, vector)[pos]
        )
        return _top(rowids[pos], scores, n)


class ChromaDense:
    """Chroma's HNSW index, embedded or on a server (the store's client decides); filtered searches as
    EXACT_FILTER_LIMIT says."""

    def __init__(self, store: Callable[[], object], catalogue, model_id: str):
        self._store = store  # opened on first use: importing Chroma takes seconds
        self.cat = catalogue
        self.model_id = model_id
        self._counted: tuple[tuple[int, int], int] | None = None

    def refresh(self) -> None:
        """Chroma is written by ingestion directly: nothing to catch up with."""

    def _query(self, vector: np.ndarray, k: int) -> Ranked:
        hits = self._store().query(vector, k)
        ids = self.cat.rowids_for_chunk_ids([i for i, _ in hits])
        return [(ids[i], s) for i, s in hits if i in ids]

    def search(self, vector: np.ndarray, n: int, allowed: BitMap | None = None) -> Ranked:
        if allowed is None:
            return self._query(vector, n)
        if not len(allowed):
            return []
        if len(allowed) <= EXACT_FILTER_LIMIT:
            rowids, mat = self.cat.vectors_for_rowids(self.model_id, list(allowed))
            if not rowids:
                return []
            return _top(np.asarray(rowids), mat @ np.asarray(vector, dtype=np.float32), n)
        total = max(self._count(), len(allowed))
        k = min(HNSW_FILTER_MAX, max(n, int(OVERSAMPLE * n * total / len(allowed))))
        while True:
            got = [(r, s) for r, s in self._query(vector, k) if r in allowed][:n]
            # Allowed passages cluster (a filter and a query often pick the same documents): too few among
            # the neighbours asks again for four times as many, up to the cap.
            if len(got) >= n or k >= min(HNSW_FILTER_MAX, total):
                return got
            k = min(HNSW_FILTER_MAX, k * 4)

    def _count(self) -> int:
        """Vectors in the store, read once per catalogue change (the server counts them on every call)."""
        sig = self.cat.changes()
        if self._counted is None or self._counted[0] != sig:
            self._counted = (sig, self._store().count())
        return self._counted[1]


class SplitDense:
    """Unfiltered searches to one index, filtered ones to another (HNSW for the first, exact for the second)."""

    def __init__(self, unfiltered: DenseIndex, filtered: DenseIndex):
        self.unfiltered, self.filtered = unfiltered, filtered

    def refresh(self) -> None:
        self.unfiltered.refresh()
        self.filtered.refresh()

    def search(self, vector: np.ndarray, n: int, allowed: BitMap | None = None) -> Ranked:
        return (self.unfiltered if allowed is None else self.filtered).search(vector, n, allowed)


def dense_kind(settings: Settings, n_passages: int) -> str:
    """Which index suits: `exact`, `hnsw+exact` (HNSW unfiltered, exact filtered) or `hnsw`."""
    if settings.chroma_url or n_passages > EXACT_INDEX_LIMIT:
        return "hnsw"
    return "exact" if n_passages <= UNFILTERED_EXACT_LIMIT else "hnsw+exact"


def create_dense(
    settings: Settings, catalogue, n_passages: int, *, model_id: str, store: Callable[[], object]
) -> DenseIndex:
    """The dense index for this many passages under these settings; `store` opens the Chroma VectorStore."""
    kind = dense_kind(settings, n_passages)
    if kind == "exact":
        return ExactDense(catalogue, model_id)
    chroma = ChromaDense(store, catalogue, model_id)
    return chroma if kind == "hnsw" else SplitDense(chroma, ExactDense(catalogue, model_id))
