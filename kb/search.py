"""Hybrid search: BM25 (FTS5) and dense runs fused by a weighted sum of normalised scores, grouped by document."""

from __future__ import annotations

import itertools
import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import ClassVar

import numpy as np
from pyroaring import BitMap

from kb.filterindex import FilterIndex
from kb.models import Chunk, Document
from kb.store import KnowledgeBase
from kb.text import STOPWORDS
from kb.vectors import ExactIndex

MODES = ("hybrid", "dense", "bm25")
# Tuned on the SciFact training split (docs/benchmarks.md): a convex combination of max-normalised scores
# beat reciprocal-rank fusion (nDCG@10 0.746 vs 0.725-0.730), and title words count as much as text words.
DENSE_WEIGHT = 0.6
BM25_COLUMN_WEIGHTS = (1.0, 1.0)  # chunks_fts columns: text, heading (= document title + section path)
# A passage under a reference-list heading ("References", "Bibliography") scores this share of its fused score:
# a list of titles shares many words with a question yet answers none (real-PDF questions, docs/benchmarks.md).
REFERENCES_WEIGHT = 0.5
# Both runs are read this deep before fusing, whatever `depth` asks: fusion needs each run's tail
# (it sets the score a passage missing from one run gets), and 300 scored better than 100.
FUSION_DEPTH = 300
# Beyond this many passages a filtered dense search asks Chroma for more and intersects,
# instead of scoring every allowed passage exactly.
EXACT_FILTER_LIMIT = 20_000
# Up to this many passages (embedded mode) dense search is exact over vectors held in memory (150 MB at
# 100k): recall 1.0, filters at no extra cost, and a new process need not import Chroma (seconds).
# Beyond it, or with a Chroma server, Chroma's HNSW index. See docs/benchmarks.md.
EXACT_INDEX_LIMIT = 200_000
# Above this many passages an unfiltered dense search goes to HNSW, which is faster there (50 vs 66 ms p50
# hybrid at 100k); a filtered one stays exact, since Chroma's `where` scans every row.
UNFILTERED_EXACT_LIMIT = 50_000
# A BM25 query drops its terms found in more than this fraction of passages, as long as a rarer term remains.
# FTS5 scores every passage holding any query term, so one common word ("patients", "cells") makes a query score
# a tenth of the corpus or more while adding little to the ranking (low IDF). At 100k passages this halves the
# BM25 stage (p50 31 -> 15 ms) for SciFact train nDCG@10 0.7463 -> 0.7453 (0.2: 0.7475, 0.05: 0.7329); keeping
# only the K rarest terms cost more (K=6: 0.7326). See docs/benchmarks.md. None keeps every term.
BM25_MAX_DF: float | None = 0.1
# ... from this many passages on. Below it BM25 is cheap (5 ms p50 at 11k), and in a small, focused collection
# a word like "crime" can be common and still be what the user means, so every term is kept.
BM25_PRUNE_FROM = 50_000
# chunks_fts's tokenizer (kb/catalogue.py); query terms are stemmed by FTS5 itself with it to look up their df.
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"


class SearchError(ValueError):
    pass


# Document-level filters: Filters field -> documents column; the passages of a document whose column holds
# one of the listed values pass. One line here adds such a filter to both the SQL clause and the bitmaps.
DOC_FIELDS = {"doc_types": "doc_type", "study_designs": "study_design", "sensitivities": "sensitivity"}


@dataclass
class Filters:
    factors: list[str] = field(default_factory=list)
    polarity: str | None = None
    priorities: list[int] = field(default_factory=list)
    who_levels: list[str] = field(default_factory=list)
    doc_types: list[str] = field(default_factory=list)
    year_from: int | None = None
    year_to: int | None = None
    districts: list[str] = field(default_factory=list)
    study_designs: list[str] = field(default_factory=list)
    # None = every sensitivity; the app narrows this for viewers who are not signed in as internal.
    sensitivities: list[str] | None = None

    # Fields where an empty list allows nothing (rather than meaning "no filter"): fail closed.
    EMPTY_MEANS_NONE: ClassVar[frozenset[str]] = frozenset({"sensitivities"})

    def is_empty(self) -> bool:
        return not any(
            v is not None if f.name in self.EMPTY_MEANS_NONE else bool(v)
            for f in fields(self)
            for v in [getattr(self, f.name)]
        )

    def district_slugs(self) -> list[str]:
        """Passage place tags are taxonomy slugs ("leeds"); document districts are labels ("Leeds")."""
        return [re.sub(r"\s+", "-", d.strip().lower()) for d in self.districts]

    def sql(self) -> tuple[str, list]:
        """A WHERE clause over `chunks c JOIN documents d` (kb.filterindex resolves the same rows from bitmaps)."""
        where: list[str] = []
        params: list = []

        def tag_exists(kind: str, values: list[str], polarity: str | None = None) -> None:
            cond = "t.chunk_rowid = c.rowid AND t.kind = ?"
            p: list = [kind]
            if values:
                cond += f" AND t.value IN ({','.join('?' * len(values))})"
                p += values
            if polarity:
                cond += " AND t.polarity = ?"
                p.append(polarity)
            where.append(f"EXISTS (SELECT 1 FROM chunk_tags t WHERE {cond})")
            params.extend(p)

        if self.factors or self.polarity:
            tag_exists("factor", self.factors, self.polarity)
        if self.priorities:
            tag_exists("priority", [str(p) for p in self.priorities])
        if self.who_levels:
            tag_exists("who_level", self.who_levels)
        for name, column in DOC_FIELDS.items():
            values = getattr(self, name)
            if values is not None and (values or name in self.EMPTY_MEANS_NONE):
                where.append(f"d.{column} IN ({','.join('?' * len(values)) or 'NULL'})")
                params += values
        if self.year_from:
            where.append("d.year >= ?")
            params.append(self.year_from)
        if self.year_to:
            where.append("d.year <= ?")
            params.append(self.year_to)
        if self.districts:
            slugs = self.district_slugs()
            marks = ",".join("?" * len(slugs))
            where.append(
                f"""(EXISTS (SELECT 1 FROM chunk_tags t WHERE t.chunk_rowid = c.rowid AND t.kind = 'place'
                    AND t.value IN ({marks}))
                    OR EXISTS (SELECT 1 FROM json_each(d.districts) j
                               WHERE replace(lower(j.value), ' ', '-') IN ({marks})))"""
            )
            params += slugs + slugs
        return (" AND ".join(where) or "1"), params


@dataclass
class Hit:
    chunk: Chunk
    document: Document
    score: float
    rank: int
    bm25_rank: int | None = None
    dense_rank: int | None = None
    dense_score: float | None = None

    @property
    def citation(self) -> str:
        return cite(self.document, self.chunk)

    def to_dict(self) -> dict:
        return {
            "chunk_id": self.chunk.chunk_id,
            "doc_id": self.document.doc_id,
            "rank": self.rank,
            "score": round(self.score, 6),
            "bm25_rank": self.bm25_rank,
            "dense_rank": self.dense_rank,
            "citation": self.citation,
            "title": self.document.title,
            "year": self.document.year,
            "doc_type": self.document.doc_type,
            "status": self.document.status,
            "page_start": self.chunk.page_start,
            "page_end": self.chunk.page_end,
            "page_index": self.chunk.page_index,
            "section": self.chunk.section,
            "text": self.chunk.text,
            "tags": self.chunk.tags.to_dict(),
        }


@dataclass
class Group:
    document: Document
    hits: list[Hit]

    @property
    def score(self) -> float:
        return self.hits[0].score


@dataclass
class SearchResult:
    query: str
    mode: str
    hits: list[Hit]

    @property
    def groups(self) -> list[Group]:
        order: dict[str, Group] = {}
        for h in self.hits:
            g = order.get(h.document.doc_id)
            if g is None:
                order[h.document.doc_id] = Group(h.document, [h])
            else:
                g.hits.append(h)
        return list(order.values())

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "mode": self.mode,
            "count": len(self.hits),
            "results": [
                {
                    "doc_id": g.document.doc_id,
                    "title": g.document.title,
                    "year": g.document.year,
                    "doc_type": g.document.doc_type,
                    "study_design": g.document.study_design,
                    "url": g.document.url,
                    "source": g.document.source,
                    "score": round(g.score, 6),
                    "passages": [h.to_dict() for h in g.hits],
                }
                for g in self.groups
            ],
        }


def cite(doc: Document, chunk: Chunk) -> str:
    """'Title (Year), p. N, § Section' — the page printed on the page, the innermost headings."""
    parts = [f"{doc.title} ({doc.year})" if doc.year else doc.title]
    if chunk.page_start:
        if chunk.page_end and chunk.page_end != chunk.page_start:
            parts.append(f"pp. {chunk.page_start}-{chunk.page_end}")
        else:
            parts.append(f"p. {chunk.page_start}")
    section = [s for s in chunk.section if s and s != doc.title]
    if section:
        parts.append("§ " + " › ".join(section[-2:]))
    if doc.status == "ocr":
        parts.append("OCR text")  # read from a scan: words may be misread, check the page
    return ", ".join(parts)


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


# The allowed rowids of each filtered BM25 run in flight, by key: kb_allowed(key, rowid) is one SQL function
# per connection, shared by every Searcher and thread on it.
_LIVE: dict[int, BitMap] = {}
_keys = itertools.count()


def _is_allowed(key: int, rowid: int) -> bool:
    return rowid in _LIVE[key]


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="kb-bm25")


class Searcher:
    def __init__(self, kb: KnowledgeBase, weights: tuple[float, float] = (1 - DENSE_WEIGHT, DENSE_WEIGHT)):
        self.kb = kb
        self.cat = kb.catalogue
        self.w_bm25, self.w_dense = weights
        self._exact: ExactIndex | None = None
        self._df_lock = threading.Lock()
        self._df_sig: tuple[int, int] | None = None
        self._df: dict[str, int] = {}
        self._n_passages = 0
        self._filter_index = FilterIndex(self.cat, DOC_FIELDS)
        self._udf = False  # kb_allowed() registered on the catalogue connection

    def _exact_index(self) -> ExactIndex | None:
        if self.kb.settings.chroma_url:
            return None
        if self._exact is None:
            self._exact = ExactIndex(self.cat, self.kb.embedder.model_id, EXACT_INDEX_LIMIT)
        return self._exact if self._exact.refresh() else None

    # -- the two runs -----------------------------------------------------------------------------
    def _term_df(self, terms: list[str]) -> tuple[dict[str, int], int]:
        """Passages holding each query term (a multi-token term: its rarest token), and all passages.

        Read from an fts5vocab table in the connection's temp schema (nothing is written to the catalogue)
        and cached per index term until the catalogue changes: counting a common term reads its whole list.
        """
        with self._df_lock:
            sig = (self.cat.query("PRAGMA data_version")[0][0], self.cat.conn.total_changes)
            if sig != self._df_sig:
                if self._df_sig is None:
                    self.cat.query(
                        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_fts_vocab "
                        "USING fts5vocab(main, chunks_fts, 'row')"
                    )
                self._df, self._df_sig = {}, sig
                self._n_passages = self.cat.query("SELECT COUNT(*) FROM chunks")[0][0]
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
        terms = query_terms(query)
        if len(terms) <= 1 or BM25_MAX_DF is None:
            return terms
        df, n = self._term_df(terms)
        return prune_terms(terms, df, n, BM25_MAX_DF) if n >= BM25_PRUNE_FROM else terms

    def bm25(self, query: str, filters: Filters, n: int, allowed: BitMap | None = None) -> list[tuple[int, float]]:
        """Best n (rowid, BM25 score) passages; `allowed` (from `allowed()`) spares resolving the filters again."""
        q = fts_query(self.bm25_terms(query))
        if q is None:
            return []
        w_text, w_heading = BM25_COLUMN_WEIGHTS
        if filters.is_empty():
            # Ranking inside FTS5 before any join halves the cost: broad OR queries match thousands of rows.
            rows = self.cat.query(
                f"""SELECT rowid, bm25(chunks_fts, {w_text}, {w_heading}) AS s FROM chunks_fts
                    WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?""",
                [q, n],
            )
            return [(r[0], -float(r[1])) for r in rows]
        allowed = self.allowed(filters) if allowed is None else allowed
        if not len(allowed):
            return []
        # FTS5 restricted by rowid: SQLite tests the WHERE clause before it computes bm25() for the ORDER BY,
        # so only allowed passages are scored, and no join or EXISTS runs per matching row.
        if not self._udf:
            self.cat.conn.create_function("kb_allowed", 2, _is_allowed)
            self._udf = True
        key = next(_keys)
        _LIVE[key] = allowed
        try:
            rows = self.cat.query(
                f"""SELECT rowid, bm25(chunks_fts, {w_text}, {w_heading}) AS s FROM chunks_fts
                    WHERE chunks_fts MATCH ? AND kb_allowed(?, rowid) ORDER BY s LIMIT ?""",
                [q, key, n],
            )
        finally:
            del _LIVE[key]
        return [(r[0], -float(r[1])) for r in rows]

    def allowed(self, filters: Filters) -> BitMap:
        """The rowids of the passages the (non-empty) filters allow, from the in-memory bitmaps."""
        return self._filter_index.resolve(filters)

    def dense(
        self, vector: np.ndarray, filters: Filters, n: int, allowed: BitMap | None = None
    ) -> list[tuple[int, float]]:
        return self._dense(vector, filters, n, allowed, self._exact_index())

    def _dense(
        self, vector: np.ndarray, filters: Filters, n: int, allowed: BitMap | None, exact: ExactIndex | None
    ) -> list[tuple[int, float]]:
        if filters.is_empty():
            if exact is not None and len(exact) <= UNFILTERED_EXACT_LIMIT:
                return exact.search(vector, n)
            hits = self.kb.vectors.query(vector, n)
            ids = self.cat.rowids_for_chunk_ids([i for i, _ in hits])
            return [(ids[i], s) for i, s in hits if i in ids]
        allowed = self.allowed(filters) if allowed is None else allowed
        if not len(allowed):
            return []
        if exact is not None:
            return exact.search(vector, n, np.frombuffer(allowed.to_array(), dtype=np.uint32))
        if len(allowed) <= EXACT_FILTER_LIMIT:
            rowids, mat = self.cat.vectors_for_rowids(self.kb.embedder.model_id, list(allowed))
            if not rowids:
                return []
            scores = mat @ vector
            top = np.argsort(-scores)[:n]
            return [(rowids[i], float(scores[i])) for i in top]
        hits = self.kb.vectors.query(vector, min(n * 20, 5000))
        ids = self.cat.rowids_for_chunk_ids([i for i, _ in hits])
        return [(ids[i], s) for i, s in hits if ids.get(i) in allowed][:n]

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
        # Filters are resolved and the exact index refreshed here, once, before the runs start: both read
        # the catalogue connection, which the BM25 run holds while FTS5 works.
        allowed = None if filters.is_empty() else self.allowed(filters)
        exact = self._exact_index() if mode in ("hybrid", "dense") else None
        bm: list[tuple[int, float]] = []
        de: list[tuple[int, float]] = []
        if mode == "bm25":
            bm = self.bm25(query, filters, n, allowed)
        elif mode == "dense":
            de = self._dense(self.kb.embedder.encode_query(query), filters, n, allowed, exact)
        else:
            # BM25 in a second thread while this one embeds the query and runs the dense search: SQLite,
            # ONNX Runtime and numpy all release the GIL, so on two cores the runs overlap.
            pending = _pool().submit(self.bm25, query, filters, n, allowed)
            de = self._dense(self.kb.embedder.encode_query(query), filters, n, allowed, exact)
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

    def rank(self, query: str, bm: list[tuple[int, float]], de: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """The hybrid ordering of passages, best first: what `search(mode="hybrid")` returns."""
        fused = self.fuse(bm, de)
        refs = self._filter_index.references() if fused else None
        if refs:
            for rid in refs.intersection(BitMap(fused)):
                fused[rid] *= REFERENCES_WEIGHT
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
            scored = self.rank(query, bm, de)
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
