"""Local evidence for a toolkit approach: local passages that name it and are close in meaning to its name."""

from __future__ import annotations

import hashlib
import json
import re
import threading

import numpy as np

from kb.ids import sha256_text
from kb.map_designs import documents_by_id
from kb.models import ToolkitEntry
from kb.search import STOPWORDS, Filters, Hit, Searcher
from kb.store import KnowledgeBase

# Local evidence is what the VRU and its partners wrote or commissioned, not national ratings or
# bibliography entries.
LOCAL_DOC_TYPES = ("strategy", "needs_assessment", "research", "evaluation")
# Words in approach names that say what kind of thing it is, not what it is about: a passage
# mentioning "programmes" is not evidence about "Parenting programmes".
GENERIC_NAME_WORDS = frozenset(
    "approach approaches intervention interventions programme programmes program programs therapy therapies "
    "training scheme schemes service services".split()
)
# A passage can share the name's words by coincidence ("focusing on deterrents" is not focused
# deterrence; "sporting violence" is not a sports programme), so it must also be close in meaning to the
# name (cosine). Set on the sample corpus: passages that discuss an approach scored 0.41-0.51 against its
# name, the coincidences at most 0.39. Raise it for fewer, surer passages.
MIN_SIMILARITY = 0.4
# The name's words may sit this many words apart ("social, emotional and behavioural skills").
NEAR_WORDS = 6
CANDIDATES = 100
# Candidates embedded and scored at a time; scoring stops once enough are kept.
SCORE_BATCH = 4


def _plain_name(approach: str) -> str:
    # "(older strand)" qualifies the toolkit's version, it is not part of what the approach is.
    return " ".join(re.sub(r"\([^)]*\)", " ", approach).split())


def _name_words(approach: str) -> list[str]:
    words = [w for w in re.findall(r"\w+", _plain_name(approach).lower()) if len(w) > 1]
    return list(dict.fromkeys(w for w in words if w not in STOPWORDS and w not in GENERIC_NAME_WORDS))


def _all_near(words: list[str]) -> str:
    quoted = " ".join(f'"{w}"' for w in words)
    return f"NEAR({quoted}, {NEAR_WORDS})" if len(words) > 1 else quoted


def name_match_query(entry: ToolkitEntry) -> str | None:
    """FTS5 query true for passages that use every distinctive word of the approach's name, close together.

    Adjacent words also match written as one ("hot spots" / "hotspot"), the way reports spell them.
    """
    words = _name_words(entry.approach)
    if not words:
        return None
    variants = [words] + [[*words[:i], words[i] + words[i + 1], *words[i + 2 :]] for i in range(len(words) - 1)]
    return " OR ".join(_all_near(v) for v in variants)


def evidence_query(entry: ToolkitEntry) -> str:
    """What to search for: the approach's name and its key terms (themes, settings, what it is)."""
    what = dict(entry.sections).get("What is it?", "")
    terms = [_plain_name(entry.approach), *entry.themes, *entry.settings]
    return ". ".join([", ".join(terms), what]).strip(". ")


def local_evidence(
    kb: KnowledgeBase,
    entry: ToolkitEntry,
    k: int = 5,
    sensitivities: list[str] | None = None,
    min_similarity: float = MIN_SIMILARITY,
    searcher: Searcher | None = None,
) -> list[Hit]:
    """Passages of local documents that discuss the approach, best first; often none, and that is the answer.

    Candidates come from a hybrid search for the approach's name and key terms. A candidate is kept only
    if it names the approach (every distinctive word of the name, near each other) and is close in
    meaning to that name, so a shared word alone or a vaguely similar paragraph is never shown.
    """
    match = name_match_query(entry)
    if match is None:
        return []
    cat = kb.catalogue
    filters = Filters(doc_types=list(LOCAL_DOC_TYPES), sensitivities=sensitivities)
    where, params = filters.sql()
    named = {
        r[0]
        for r in cat.query(
            f"""SELECT c.rowid FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid
                JOIN documents d ON d.doc_id = c.doc_id WHERE chunks_fts MATCH ? AND {where}""",
            [match, *params],
        )
    }
    if not named:
        return []
    searcher = searcher or Searcher(kb)
    result = searcher.search(evidence_query(entry), k=CANDIDATES, filters=filters, depth=CANDIDATES)
    rowid_of = cat.rowids_for_chunk_ids([h.chunk.chunk_id for h in result.hits])
    candidates = [h for h in result.hits if rowid_of.get(h.chunk.chunk_id) in named]
    if not candidates:
        return []
    # The passage's own words, not its stored vector: that one also reads the document title and heading,
    # which lifts a passage under a heading such as "Child to Parent Violence" towards "Parenting programmes".
    # Scored in rank order a few at a time, stopping once k are kept: the first k close enough are the
    # answer whatever follows, and embedding every candidate (69 for one approach on the sample corpus)
    # was most of the first What works open after a knowledge-base change.
    name = kb.embedder.encode_query(_plain_name(entry.approach))
    kept: list[Hit] = []
    for i in range(0, len(candidates), SCORE_BATCH):
        part = candidates[i : i + SCORE_BATCH]
        scores = _plain_vectors(kb, [h.chunk.text for h in part]) @ name
        kept += [h for h, s in zip(part, scores.tolist(), strict=True) if s >= min_similarity]
        if len(kept) >= k:
            break
    kept = kept[:k]
    for rank, h in enumerate(kept, start=1):
        h.rank = rank
    return kept


def _plain_vectors(kb: KnowledgeBase, texts: list[str]) -> np.ndarray:
    """Vectors of passages' own words, kept in the embedding cache: the same candidates come back for many
    approaches and after every knowledge-base change, and embedding them again took most of a page open."""
    cat, model = kb.catalogue, kb.embedder.model_id
    hashes = [sha256_text(t) for t in texts]
    have = cat.cached_vectors(model, hashes)
    todo = list(dict.fromkeys(h for h in hashes if h not in have))
    if todo:
        by_hash = dict(zip(hashes, texts, strict=True))
        vecs = kb.embedder.encode_queries([by_hash[h] for h in todo])
        cat.cache_vectors(model, list(zip(todo, vecs, strict=True)))
        have.update(zip(todo, vecs, strict=True))
    return np.vstack([have[h] for h in hashes])


LOCAL_EVIDENCE_META = "toolkit_local_evidence"


def evidence_version(kb: KnowledgeBase) -> str:
    """Changes whenever anything local evidence depends on changes: a document ingested, replaced, edited
    (title, year, type, sensitivity) or removed, or a passage added. One indexed scan of the documents."""
    digest = hashlib.sha256()
    for r in kb.catalogue.query(
        "SELECT doc_id, content_hash, doc_type, sensitivity, title, year, n_chunks FROM documents ORDER BY doc_id"
    ):
        digest.update("\x1f".join("" if v is None else str(v) for v in r).encode("utf-8") + b"\x1e")
    last = kb.catalogue.query("SELECT COUNT(*), MAX(rowid) FROM chunks")[0]
    digest.update(f"{last[0]}:{last[1]}".encode())
    return digest.hexdigest()[:32]


class LocalEvidence:
    """Local evidence for each approach, computed once per knowledge-base change and kept in the catalogue.

    Opening What works then runs no search and loads no model: the stored passage ids are read back, and
    recomputed only when `evidence_version` says the knowledge base changed (or a new view is asked for).
    """

    def __init__(self, kb: KnowledgeBase, searcher: Searcher | None = None):
        self.kb = kb
        self.searcher = searcher
        self._lock = threading.Lock()
        self.computed = 0  # approaches searched on the last call: 0 when everything came from the store

    def for_entries(
        self, entries: list[ToolkitEntry], k: int = 3, sensitivities: list[str] | None = None
    ) -> dict[str, list[Hit]]:
        cat = self.kb.catalogue
        view = f"{k}|{','.join(sorted(sensitivities)) if sensitivities is not None else '*'}"
        with self._lock:
            version = evidence_version(self.kb)
            stored = json.loads(cat.get_meta(LOCAL_EVIDENCE_META) or "{}")
            if stored.get("version") != version:
                stored = {"version": version, "views": {}}
            found = stored["views"].setdefault(view, {})
            todo = [e for e in entries if e.slug not in found]
            if todo:
                searcher = self.searcher or Searcher(self.kb)
                for e in todo:
                    hits = local_evidence(self.kb, e, k=k, sensitivities=sensitivities, searcher=searcher)
                    found[e.slug] = [[h.chunk.chunk_id, h.score] for h in hits]
                cat.set_meta(LOCAL_EVIDENCE_META, json.dumps(stored))
            self.computed = len(todo)
        return {e.slug: self._hits(found.get(e.slug, [])) for e in entries}

    def _hits(self, stored: list[list]) -> list[Hit]:
        cat = self.kb.catalogue
        rowids = cat.rowids_for_chunk_ids([c for c, _ in stored])
        chunks = cat.get_chunks(list(rowids.values()))
        docs = documents_by_id(self.kb, (ch.doc_id for ch in chunks.values()))
        hits = []
        for chunk_id, score in stored:
            chunk = chunks.get(rowids.get(chunk_id, -1))
            doc = docs.get(chunk.doc_id) if chunk else None
            if chunk is not None and doc is not None:
                hits.append(Hit(chunk=chunk, document=doc, score=score, rank=len(hits) + 1))
        return hits
