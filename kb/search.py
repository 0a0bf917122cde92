"""Hybrid search: BM25 (FTS5) and dense runs fused by a weighted sum of normalised scores, grouped by document.

Filters, results and query terms live in kb.filters, kb.results and kb.terms; their names are importable from here.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
from pyroaring import BitMap

from kb import fts_shards
from kb.dense import DenseIndex, create_dense, dense_kind
from kb.filterindex import FilterIndex
from kb.filters import DOC_FIELDS, Filters
from kb.models import Document
from kb.rank import weigh_sections
from kb.results import Group, Hit, SearchResult, cite
from kb.store import KnowledgeBase
from kb.terms import FTS_TOKENIZE, STOPWORDS, fts_query, index_terms, membership_blob, prune_terms, query_terms

__all__ = [
    "DOC_FIELDS", "FTS_TOKENIZE", "MODES", "STOPWORDS", "Filters", "Group", "Hit", "SearchError", "SearchResult",
    "Searcher", "cite", "fts_query", "index_terms", "prune_terms", "query_terms",
]  # fmt: skip

MODES = ("hybrid", "dense", "bm25")
# Tuned on the SciFact training split (docs/benchmarks.md, "Retrieval quality"): a convex combination of
# max-normalised scores beat reciprocal-rank fusion, and title words count as much as text words.
DENSE_WEIGHT = 0.6
BM25_COLUMN_WEIGHTS = (1.0, 1.0)  # chunks_fts: text, heading (title, section path, acronym forms)
# Both runs are read this deep before fusing, whatever `depth` asks: fusion needs each run's tail
# (it sets the score a passage missing from one run gets), and 300 scored better than 100.
FUSION_DEPTH = 300
# A BM25 query drops its terms found in more than this fraction of passages, as long as a rarer term remains.
# FTS5 scores every passage holding any query term, so one common word ("patients", "cells") makes a query score
# a tenth of the corpus or more while adding little to the ranking (low IDF). The BM25 stage's time and the
# nDCG@10 it costs are in docs/benchmarks.md ("Query latency and memory", "Retrieval quality"). None keeps every term.
BM25_MAX_DF: float | None = 0.1
# ... from this many passages on. Below it BM25 is cheap, and in a small, focused collection a word like "crime"
# can be common and still be what the user means, so every term is kept.
BM25_PRUNE_FROM = 50_000
# From this many passages BM25 scores only the passages holding one of the query's rarest terms, taken rarest
# first while the passages holding them number at most BM25_CANDIDATES (at least the rarest term), every kept
# term still counting in their score. Computing bm25() is most of FTS5's work, about a microsecond per scored
# passage, and the passages holding none of the rare terms seldom reach the top of the run; so the work per
# query stops growing with the collection. The cost in nDCG@10 of the same share forced on at SciFact's size is
# in docs/benchmarks.md ("Retrieval quality"). Below it every passage holding a kept term is scored.
BM25_SELECTIVE_FROM = 500_000
BM25_CANDIDATES: int | None = 80_000
# From this many passages the BM25 run is split into BM25_SHARDS rowid ranges scored in parallel worker processes
# (kb/fts_shards.py), each on its own read-only connection: bm25() takes its IDF and average length from the
# whole index, so the merged top n is the unsplit one (ties go to the lower rowid in both).
BM25_SHARD_FROM = 200_000
BM25_SHARDS = 2


class SearchError(ValueError):
    pass


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="kb-bm25")


class Searcher:
    def __init__(self, kb: KnowledgeBase, weights: tuple[float, float] = (1 - DENSE_WEIGHT, DENSE_WEIGHT)):
        self.kb = kb
        self.cat = kb.catalogue
        self.w_bm25, self.w_dense = weights
        self._dense_lock = threading.Lock()
        self._dense_sig: tuple[int, int] | None = None
        self._dense_kind: str | None = None
        self._dense: DenseIndex | None = None
        self._df_lock = threading.Lock()
        self._df_sig: tuple[int, int] | None = None
        self._df: dict[str, int] = {}
        self._n_passages = 0
        self._shard_bounds: list[int] = []
        self._filter_index = FilterIndex(self.cat, DOC_FIELDS)

    def _dense_index(self) -> DenseIndex:
        """The dense index `create_dense` picks for the catalogue's size now, caught up with the catalogue."""
        with self._dense_lock:
            sig = self.cat.changes()
            if sig != self._dense_sig:
                n = self.cat.query("SELECT COUNT(*) FROM chunks")[0][0]
                kind = dense_kind(self.kb.settings, n)
                if kind != self._dense_kind:
                    self._dense = create_dense(
                        self.kb.settings,
                        self.cat,
                        n,
                        model_id=self.kb.embedder.model_id,
                        store=lambda: self.kb.vectors,
                    )
                    self._dense_kind = kind
                self._dense_sig = sig
            index = self._dense
        index.refresh()
        return index

    # -- the two runs -----------------------------------------------------------------------------
    def _term_df(self, terms: list[str]) -> tuple[dict[str, int], int]:
        """Passages holding each query term (a multi-token term: its rarest token), and all passages.

        Read from an fts5vocab table in the connection's temp schema (nothing is written to the catalogue)
        and cached per index term until the catalogue changes: counting a common term reads its whole list.
        """
        with self._df_lock:
            sig = self.cat.changes()
            if sig != self._df_sig:
                if self._df_sig is None:
                    self.cat.query(
                        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_fts_vocab "
                        "USING fts5vocab(main, chunks_fts, 'row')"
                    )
                self._df, self._df_sig = {}, sig
                self._n_passages = self.cat.query("SELECT COUNT(*) FROM chunks")[0][0]
                self._shard_bounds = self._bounds(self._n_passages)
            out: dict[str, int] = {}
            if self._n_passages < BM25_PRUNE_FROM:
                return out, self._n_passages
            for t in terms:
                toks = index_terms(t)
                for tok in toks:
                    if tok not in self._df:
                        row = self.cat.query("SELECT doc FROM temp.chunks_fts_vocab WHERE term = ?", [tok])
                        self._df[tok] = row[0][0] if row else 0
                out[t] = min((self._df[tok] for tok in toks), default=0)
            return out, self._n_passages

    def bm25_terms(self, query: str) -> list[str]:
        """The query's terms that go to FTS5: in a large collection, those in more than BM25_MAX_DF of the
        passages pruned."""
        return self._bm25_plan(query)[0]

    def _bm25_plan(self, query: str) -> tuple[list[str], list[str] | None]:
        """The terms BM25 scores, and in a large collection the rare ones (BM25_CANDIDATES) that a passage must
        hold to be scored at all; None when every passage holding a scored term is scored."""
        terms = query_terms(query)
        if len(terms) <= 1 or BM25_MAX_DF is None:
            return terms, None
        df, n = self._term_df(terms)
        if n < BM25_PRUNE_FROM:
            return terms, None
        scored = prune_terms(terms, df, n, BM25_MAX_DF)
        if BM25_CANDIDATES is None or n < BM25_SELECTIVE_FROM or len(scored) <= 1:
            return scored, None
        rare, held = set(), 0
        for t in sorted(scored, key=lambda t: df.get(t, 0)):
            if rare and held + df.get(t, 0) > BM25_CANDIDATES:
                break
            rare.add(t)
            held += df.get(t, 0)
        return scored, ([t for t in scored if t in rare] if len(rare) < len(scored) else None)

    def _candidates(self, selective: list[str], allowed: BitMap | None) -> bytes:
        """Membership blob of the passages holding a selective term (and allowed by the filters): FTS5 lists
        them in one string, so no Python runs per row."""
        got = self.cat.query(
            "SELECT group_concat(rowid) FROM chunks_fts WHERE chunks_fts MATCH ?", [fts_query(selective)]
        )
        text = got[0][0] if got else None
        ids = BitMap(np.fromstring(text, dtype=np.uint32, sep=",")) if text else BitMap()
        return membership_blob(ids if allowed is None else ids & allowed)

    def bm25(self, query: str, filters: Filters, n: int, allowed: BitMap | None = None) -> list[tuple[int, float]]:
        """Best n (rowid, BM25 score) passages; `allowed` (from `allowed()`) spares resolving the filters again."""
        scored, selective = self._bm25_plan(query)
        q = fts_query(scored)
        if q is None:
            return []
        if not filters.is_empty():
            allowed = self.allowed(filters) if allowed is None else allowed
            if not len(allowed):
                return []
        if allowed is None and selective is None:
            # Ranking inside FTS5 before any join halves the cost: broad OR queries match thousands of rows.
            return self._ranked("", [q], n)
        blob = membership_blob(allowed) if selective is None else self._candidates(selective, allowed)
        # FTS5 restricted by rowid: SQLite tests the WHERE clause before it computes bm25() for the ORDER BY, so
        # only allowed passages are scored; the test is a byte of a blob, so no Python runs per matching row.
        return self._ranked("AND substr(?, rowid + 1, 1) = x'01'", [q, blob], n)

    def _bounds(self, n_passages: int) -> list[int]:
        """Rowids splitting the passages into BM25_SHARDS ranges of equal size (empty: no split)."""
        if n_passages < BM25_SHARD_FROM or BM25_SHARDS < 2:
            return []
        cuts = [
            self.cat.query("SELECT rowid FROM chunks ORDER BY rowid LIMIT 1 OFFSET ?", [n_passages * i // BM25_SHARDS])
            for i in range(1, BM25_SHARDS)
        ]
        return [r[0][0] for r in cuts if r]

    def _ranked(self, where: str, params: list, n: int) -> list[tuple[int, float]]:
        """Best n (rowid, score) of `MATCH ? {where}`, split over the shards' rowid ranges when there are any."""
        w_text, w_heading = BM25_COLUMN_WEIGHTS
        sql = (
            f"SELECT rowid, bm25(chunks_fts, {w_text}, {w_heading}) AS s FROM chunks_fts "
            f"WHERE chunks_fts MATCH ? {where} {{range}} ORDER BY s, rowid LIMIT ?"
        )
        bounds = self._shard_bounds
        if not bounds:
            rows = self.cat.query(sql.format(range=""), [*params, n])
            return [(r[0], -float(r[1])) for r in rows]
        edges = [None, *bounds, None]
        shards = []
        for lo, hi in zip(edges, edges[1:], strict=False):
            cond = ("" if lo is None else "AND rowid >= ? ") + ("" if hi is None else "AND rowid < ?")
            shards.append((sql.format(range=cond), [*params, *(b for b in (lo, hi) if b is not None), n]))
        parts = fts_shards.run(self.cat.path, shards, local=lambda sql, args: self.cat.query(sql, args))
        rows = sorted((r for part in parts for r in part), key=lambda r: (r[1], r[0]))[:n]
        return [(r[0], -float(r[1])) for r in rows]

    def allowed(self, filters: Filters) -> BitMap:
        """The rowids of the passages the (non-empty) filters allow, from the in-memory bitmaps."""
        return self._filter_index.resolve(filters)

    def dense(
        self, vector: np.ndarray, filters: Filters, n: int, allowed: BitMap | None = None
    ) -> list[tuple[int, float]]:
        """Best n (rowid, cosine) passages the filters allow; `allowed` as in `bm25()`."""
        return self._dense_run(vector, filters, n, allowed, self._dense_index())

    def _dense_run(
        self, vector: np.ndarray, filters: Filters, n: int, allowed: BitMap | None, index: DenseIndex
    ) -> list[tuple[int, float]]:
        if filters.is_empty():
            return index.search(vector, n)
        allowed = self.allowed(filters) if allowed is None else allowed
        return index.search(vector, n, allowed) if len(allowed) else []

    # -- fused ------------------------------------------------------------------------------------
    def search(
        self, query: str, k: int = 10, mode: str = "hybrid", filters: Filters | None = None, depth: int = 100
    ) -> SearchResult:
        if mode not in MODES:
            raise SearchError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
        if not query.strip():
            raise SearchError("the query is empty: type some words to search for")
        filters = filters or Filters()
        n = max(depth, k, FUSION_DEPTH if mode == "hybrid" else 0)
        # Filters are resolved and the dense index refreshed here, once, before the runs start: both read
        # the catalogue connection, which the BM25 run holds while FTS5 works.
        allowed = None if filters.is_empty() else self.allowed(filters)
        index = self._dense_index() if mode in ("hybrid", "dense") else None
        bm: list[tuple[int, float]] = []
        de: list[tuple[int, float]] = []
        if mode == "bm25":
            bm = self.bm25(query, filters, n, allowed)
        elif mode == "dense":
            de = self._dense_run(self.kb.embedder.encode_query(query), filters, n, allowed, index)
        else:
            # BM25 in a second thread while this one embeds the query and runs the dense search: SQLite,
            # ONNX Runtime and numpy all release the GIL, so on two cores the runs overlap.
            pending = _pool().submit(self.bm25, query, filters, n, allowed)
            de = self._dense_run(self.kb.embedder.encode_query(query), filters, n, allowed, index)
            bm = pending.result()
        return self._result(query, mode, bm, de, k)

    def similar(self, chunk_id: str, k: int = 10, filters: Filters | None = None) -> SearchResult:
        """'More like this': passages nearest to a passage's own vector, itself excluded."""
        rid = self.cat.rowids_for_chunk_ids([chunk_id]).get(chunk_id)
        if rid is None or not self._seed_visible(rid, filters):
            # A hidden passage is answered like a missing one, so a link cannot probe for it.
            raise SearchError(f"no passage {chunk_id!r} in the knowledge base")
        _, mat = self.cat.vectors_for_rowids(self.kb.embedder.model_id, [rid])
        de = [(r, s) for r, s in self.dense(mat[0], filters or Filters(), k + 1) if r != rid][:k]
        return self._result(f"like {chunk_id}", "dense", [], de, k)

    def _seed_visible(self, rowid: int, filters: Filters | None) -> bool:
        """Whether the passage 'more like this' starts from may be seen under the filters' sensitivities."""
        if filters is None or filters.sensitivities is None:
            return True
        rows = self.cat.query(
            "SELECT d.sensitivity FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE c.rowid = ?", [rowid]
        )
        return bool(rows) and rows[0][0] in filters.sensitivities

    def fuse(self, bm: list[tuple[int, float]], de: list[tuple[int, float]]) -> dict[int, float]:
        """Weighted sum of each run's scores divided by its best score.

        A passage missing from the dense run gets that run's lowest score (its true similarity is at most
        that); one missing from BM25 gets 0 (it shares no query term, or too few to be in the run).
        """
        bm_max = max((s for _, s in bm), default=1.0) or 1.0
        de_max = max((s for _, s in de), default=1.0)
        de_max = de_max if de_max > 0 else 1.0  # never flip the order of a run of negative similarities
        de_floor = min((s for _, s in de), default=0.0)
        bm_score, de_score = dict(bm), dict(de)
        return {
            rid: self.w_bm25 * bm_score.get(rid, 0.0) / bm_max + self.w_dense * de_score.get(rid, de_floor) / de_max
            for rid in bm_score.keys() | de_score.keys()
        }

    def rank(self, bm: list[tuple[int, float]], de: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """The hybrid ordering of passages, best first: what `search(mode="hybrid")` returns."""
        fused = self.fuse(bm, de)
        # A passage under a reference list or an abstract/summary heading is weighed by its section's kind.
        if fused:
            weigh_sections(fused, self._filter_index.sections())
        # Ties (rare) go to the lower rowid, so repeated searches list passages in the same order.
        return sorted(fused.items(), key=lambda x: (-x[1], x[0]))

    def _result(self, query: str, mode: str, bm, de, k: int) -> SearchResult:
        bm_rank = {rid: i for i, (rid, _) in enumerate(bm, start=1)}
        de_rank = {rid: i for i, (rid, _) in enumerate(de, start=1)}
        de_score = dict(de)
        if mode == "bm25":
            scored = [(rid, s) for rid, s in bm]
        elif mode == "dense":
            scored = [(rid, s) for rid, s in de]
        else:
            scored = self.rank(bm, de)
        scored = scored[:k]
        chunks = self.cat.get_chunks([rid for rid, _ in scored])
        docs: dict[str, Document] = {}
        hits = []
        for rank, (rid, s) in enumerate(scored, start=1):
            ch = chunks.get(rid)
            if ch is None:  # removed between the two queries
                continue
            if ch.doc_id not in docs:
                docs[ch.doc_id] = self.cat.get_document(ch.doc_id)
            hits.append(Hit(ch, docs[ch.doc_id], s, rank, bm_rank.get(rid), de_rank.get(rid), de_score.get(rid)))
        return SearchResult(query, mode, hits)
