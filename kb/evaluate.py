"""Retrieval evaluation on BEIR-layout collections: nDCG@10 and recall@10/100 for every search mode."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kb.config import Settings
from kb.ids import sha256_text
from kb.ingestion import pipeline
from kb.models import Block, Document
from kb.store import KnowledgeBase

# Passages asked of each run: SciFact abstracts give ~2.2 passages each, so 300 passages reach past
# the 100 documents recall@100 needs.
EVAL_DEPTH = 300
INGEST_BATCH = 256
MODES = ("bm25", "dense", "hybrid", "rrf")
MODE_HELP = {
    "bm25": "product BM25 (FTS5, fielded)",
    "dense": "product dense (passage vectors, max per document)",
    "hybrid": "product hybrid (the default search)",
    "rrf": "baseline: plain RRF k=60 of the product's bm25 and dense document runs",
}


class EvalError(ValueError):
    """The collection is not in BEIR layout; the message names the missing file."""


@dataclass
class BeirCollection:
    root: Path
    corpus_path: Path
    split: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    @property
    def name(self) -> str:
        return self.root.resolve().name


@dataclass
class ModeScores:
    mode: str
    ndcg_at_10: float
    recall_at_10: float
    recall_at_100: float
    per_query: dict[str, float] = field(default_factory=dict)  # nDCG@10, for paired comparisons

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "description": MODE_HELP.get(self.mode, self.mode),
            "ndcg@10": round(self.ndcg_at_10, 4),
            "recall@10": round(self.recall_at_10, 4),
            "recall@100": round(self.recall_at_100, 4),
        }


@dataclass
class EvalReport:
    collection: str
    split: str
    queries: int
    documents: int
    passages: int
    depth: int
    embedded: int
    seconds: dict[str, float]
    data_dir: str
    modes: list[ModeScores]
    runs: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # mode -> query -> ranked documents

    def to_dict(self) -> dict:
        return {
            "collection": self.collection,
            "split": self.split,
            "queries": self.queries,
            "documents": self.documents,
            "passages": self.passages,
            "depth": self.depth,
            "newly_embedded": self.embedded,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "data_dir": self.data_dir,
            "modes": [m.to_dict() for m in self.modes],
        }


# -- the collection -------------------------------------------------------------------------------
def _jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    raise EvalError(f"{path}:{n}: not a JSON object") from None


def load_collection(root: str | Path, split: str | None = None) -> BeirCollection:
    """Read queries and qrels; the corpus is streamed later. Only queries with judgements are kept."""
    root = Path(root)
    corpus = next((root / n for n in ("corpus.jsonl", "corpus.jsonl.gz") if (root / n).is_file()), None)
    if corpus is None:
        raise EvalError(f"{root}: no corpus.jsonl or corpus.jsonl.gz (BEIR layout expected)")
    if not (root / "queries.jsonl").is_file():
        raise EvalError(f"{root}: no queries.jsonl (BEIR layout expected)")
    qdir = root / "qrels"
    available = sorted(p.stem for p in qdir.glob("*.tsv")) if qdir.is_dir() else []
    if split is None:
        if "test" in available:
            split = "test"
        elif len(available) == 1:
            split = available[0]
        else:
            raise EvalError(f"{qdir}: choose a split with --split ({', '.join(available) or 'no .tsv files'})")
    qrels_path = qdir / f"{split}.tsv"
    if not qrels_path.is_file():
        raise EvalError(f"{qrels_path} not found (available splits: {', '.join(available) or 'none'})")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0] == "query-id":
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries = {str(q["_id"]): q["text"] for q in _jsonl(root / "queries.jsonl") if str(q["_id"]) in qrels}
    return BeirCollection(root, corpus, split, queries, {q: r for q, r in qrels.items() if q in queries})


# -- metrics (as pytrec_eval computes them: linear gain, log2 discount) -------------------------------
def ndcg_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    if idcg == 0:
        return 0.0
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if rels.get(d, 0) > 0)
    return dcg / idcg


def recall_at(ranked: list[str], rels: dict[str, int], k: int) -> float:
    relevant = {d for d, r in rels.items() if r > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def per_document(scored: list[tuple[int, float]], doc_of: dict[int, str]) -> list[str]:
    """Passage scores -> documents ranked by their best passage (BEIR judges whole documents)."""
    best: dict[str, float] = {}
    for rid, s in scored:
        d = doc_of.get(rid)
        if d is not None and s > best.get(d, -math.inf):
            best[d] = s
    return sorted(best, key=lambda d: -best[d])


def rrf_documents(runs: list[list[str]], k: int = 60) -> list[str]:
    """Plain reciprocal-rank fusion, equal weights: the baseline every hybrid should beat."""
    fused: dict[str, float] = {}
    for run in runs:
        for rank, d in enumerate(run, start=1):
            fused[d] = fused.get(d, 0.0) + 1.0 / (k + rank)
    return sorted(fused, key=lambda d: -fused[d])


def score_runs(mode: str, runs: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> ModeScores:
    per_query = {q: ndcg_at(runs.get(q, []), rels) for q, rels in qrels.items()}
    n = max(len(qrels), 1)
    return ModeScores(
        mode,
        sum(per_query.values()) / n,
        sum(recall_at(runs.get(q, []), r, 10) for q, r in qrels.items()) / n,
        sum(recall_at(runs.get(q, []), r, 100) for q, r in qrels.items()) / n,
        per_query,
    )


# -- the scratch knowledge base -------------------------------------------------------------------
def scratch_settings(collection: BeirCollection, settings: Settings, cache_root: Path) -> Settings:
    """A data dir keyed by the corpus bytes and every setting that changes passages or vectors.

    Kept between runs, so evaluating again after a search change embeds nothing.
    """
    from kb.embed import Embedder
    from kb.vectors import collection_name

    h = hashlib.sha256()
    with collection.corpus_path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    emb = Embedder(settings)
    h.update(collection_name(emb.model_id, emb.dim, settings, emb.passage_format).encode())
    data_dir = cache_root / f"{collection.name}-{h.hexdigest()[:16]}"
    # Always embedded Chroma: an evaluation must not write into a shared server.
    return settings.model_copy(update={"data_dir": data_dir, "chroma_url": None, "config_path": None})


def ingest_corpus(kb: KnowledgeBase, corpus_path: Path, on_progress: Callable[[int], None] | None = None) -> int:
    """Write the corpus through the pipeline's own chunker, embedding cache and stores; returns newly embedded.

    One record is one document, so it goes straight to the lower layers instead of through files.
    Tagging is skipped: BEIR scores do not depend on tags. Resumable: documents already in the
    catalogue are skipped, and vectors are written before the catalogue rows that point at them.
    """
    cat = kb.catalogue
    chunker = pipeline().chunker(kb)
    have = {r[0] for r in cat.query("SELECT doc_id FROM documents")}
    embedded = 0
    batch: list[dict] = []

    def flush() -> None:
        nonlocal embedded
        docs, per_doc, texts = [], [], []
        for rec in batch:
            title = (rec.get("title") or "").strip()
            text = (rec.get("text") or "").strip()
            doc = Document(
                doc_id=str(rec["_id"]),
                title=title or str(rec["_id"]),
                doc_type="research",
                source=f"{corpus_path.name}#{rec['_id']}",
                content_hash=sha256_text(title + "\n" + text),
            )
            chunks = chunker.chunk(doc.doc_id, [Block(text)]) if text else []
            if not chunks:
                doc.status = "no_text"
            embed_texts = [c.text for c in chunks]  # as kb.store embeds them
            docs.append(doc)
            per_doc.append((chunks, embed_texts))
            texts.extend(embed_texts)
        vectors, n_new = kb.embedder.encode_cached(texts, cat)
        embedded += n_new
        ids = [c.chunk_id for chunks, _ in per_doc for c in chunks]
        if ids:
            kb.vectors.upsert(ids, vectors, [c.doc_id for chunks, _ in per_doc for c in chunks])
        with cat.transaction() as c:
            for doc, (chunks, embed_texts) in zip(docs, per_doc, strict=True):
                cat.write_document(c, doc, chunks, [sha256_text(t) for t in embed_texts])
        if on_progress:
            on_progress(len(batch))
        batch.clear()

    for rec in _jsonl(corpus_path):
        if str(rec.get("_id")) in have:
            continue
        batch.append(rec)
        if len(batch) >= INGEST_BATCH:
            flush()
    if batch:
        flush()
    return embedded


# -- the evaluation -------------------------------------------------------------------------------
def evaluate(
    collection: BeirCollection,
    settings: Settings,
    cache_root: Path,
    modes: tuple[str, ...] = MODES,
    on_progress: Callable[[str, int], None] | None = None,
) -> EvalReport:
    """Ingest (or reuse) the scratch knowledge base, run every judged query, score each mode."""
    from kb.search import Filters, Searcher

    seconds: dict[str, float] = {}
    kb = KnowledgeBase(scratch_settings(collection, settings, cache_root))
    try:
        t = time.perf_counter()
        embedded = ingest_corpus(
            kb, collection.corpus_path, (lambda n: on_progress("ingest", n)) if on_progress else None
        )
        seconds["ingest"] = time.perf_counter() - t

        cat = kb.catalogue
        doc_of = {r[0]: r[1] for r in cat.query("SELECT rowid, doc_id FROM chunks")}
        searcher = Searcher(kb)
        qids = list(collection.queries)
        need_dense = any(m != "bm25" for m in modes)
        t = time.perf_counter()
        qvecs = (
            kb.embedder.encode([collection.queries[q] for q in qids])
            if need_dense
            else np.zeros((len(qids), 0), dtype=np.float32)
        )
        seconds["embed_queries"] = time.perf_counter() - t

        runs: dict[str, dict[str, list[str]]] = {m: {} for m in modes}
        t = time.perf_counter()
        none = Filters()
        for i, q in enumerate(qids):
            text = collection.queries[q]
            bm = searcher.bm25(text, none, EVAL_DEPTH)
            de = searcher.dense(qvecs[i], none, EVAL_DEPTH) if need_dense else []
            bm_docs, de_docs = per_document(bm, doc_of), per_document(de, doc_of)
            if "bm25" in runs:
                runs["bm25"][q] = bm_docs
            if "dense" in runs:
                runs["dense"][q] = de_docs
            if "hybrid" in runs:
                runs["hybrid"][q] = per_document(searcher.rank(bm, de), doc_of)
            if "rrf" in runs:
                runs["rrf"][q] = rrf_documents([bm_docs, de_docs])
            if on_progress:
                on_progress("query", 1)
        seconds["queries"] = time.perf_counter() - t
        stats = cat.stats()
        return EvalReport(
            collection=collection.name,
            split=collection.split,
            queries=len(qids),
            documents=stats["documents"],
            passages=stats["passages"],
            depth=EVAL_DEPTH,
            embedded=embedded,
            seconds=seconds,
            data_dir=str(kb.settings.data_dir),
            modes=[score_runs(m, runs[m], collection.qrels) for m in modes],
            runs=runs,
        )
    finally:
        kb.close()
