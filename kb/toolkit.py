"""What works: toolkit approaches filtered by the strategy's axes, shown as published, beside local evidence."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass

import numpy as np

from kb.ids import sha256_text
from kb.models import NOT_CAPTURED, NOT_PUBLISHED, Emmie, OtherOutcome, ToolkitEntry
from kb.search import STOPWORDS, Filters, Hit, Searcher
from kb.store import KnowledgeBase
from kb.taxonomy import Taxonomy

# Strongest first, as the YEF Toolkit lists them: a commissioner reads down from what works best.
# HARMFUL is the floor of that scale (evidence the approach makes things worse), not an unknown, so it
# sorts after INSUFFICIENT EVIDENCE; displays flag it loudly so being last never means being missed.
# An approach whose band was not published has no place on the scale and comes after all of them.
BAND_ORDER = ("HIGH", "MODERATE", "LOW", "INSUFFICIENT EVIDENCE", "HARMFUL")
HARMFUL = "HARMFUL"

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

COMPARE_MIN, COMPARE_MAX = 2, 4


class ToolkitError(ValueError):
    """A filter names something the taxonomy does not know; the message lists what it does know."""


def entry_from_dict(d: dict) -> ToolkitEntry:
    """Rebuild an entry from the JSON the catalogue stores (the reverse of ToolkitEntry.to_dict)."""
    d = dict(d)
    d["other_outcomes"] = [OtherOutcome(**o) for o in d.get("other_outcomes", [])]
    d["emmie"] = Emmie(**(d.get("emmie") or {}))
    d["sections"] = [tuple(s) for s in d.get("sections", [])]
    return ToolkitEntry(**d)


def band_rank(band: str | None) -> int:
    """Position on the strength scale: 0 is HIGH; a band not published sorts after HARMFUL."""
    return BAND_ORDER.index(band) if band in BAND_ORDER else len(BAND_ORDER)


def sort_key(entry: ToolkitEntry) -> tuple[int, str]:
    return band_rank(entry.impact_band), entry.approach.lower()


def all_entries(kb: KnowledgeBase, sensitivities: list[str] | None = None) -> list[ToolkitEntry]:
    """Every ingested approach, strongest band first; `sensitivities` limits them by their document's."""
    sql = "SELECT t.entry FROM toolkit t JOIN documents d ON d.doc_id = t.doc_id"
    params: list[str] = []
    if sensitivities is not None:
        sql += f" WHERE d.sensitivity IN ({','.join('?' * len(sensitivities)) or 'NULL'})"
        params = list(sensitivities)
    entries = [entry_from_dict(json.loads(r["entry"])) for r in kb.catalogue.query(sql, params)]
    return sorted(entries, key=sort_key)


def resolve_factor(taxonomy: Taxonomy, factor: str) -> str:
    """A factor id from an id, label or synonym, or ToolkitError listing the known ids."""
    fid = taxonomy.resolve_factor(factor)
    if fid is None:
        raise ToolkitError(f"unknown factor {factor!r}; known factor ids: {', '.join(sorted(taxonomy.factors))}")
    return fid


def check_priority(taxonomy: Taxonomy, priority: int) -> int:
    if priority not in taxonomy.priorities:
        known = ", ".join(f"{n} {p.name}" for n, p in sorted(taxonomy.priorities.items()))
        raise ToolkitError(f"unknown priority {priority!r}; the strategy's priorities are {known}")
    return priority


def check_who_level(taxonomy: Taxonomy, who_level: str) -> str:
    level = who_level.strip().lower()
    if level not in taxonomy.who_levels:
        raise ToolkitError(f"unknown WHO level {who_level!r}; known: {', '.join(taxonomy.who_levels)}")
    return level


def approaches(
    kb: KnowledgeBase,
    factor: str | None = None,
    priority: int | None = None,
    who_level: str | None = None,
    taxonomy: Taxonomy | None = None,
    sensitivities: list[str] | None = None,
) -> list[ToolkitEntry]:
    """Approaches whose entry links the given factor, priority and WHO level (all that are given)."""
    tax = taxonomy or kb.taxonomy
    fid = resolve_factor(tax, factor) if factor else None
    prio = check_priority(tax, priority) if priority is not None else None
    level = check_who_level(tax, who_level) if who_level else None
    return [
        e
        for e in all_entries(kb, sensitivities)
        if (fid is None or fid in e.factors)
        and (prio is None or prio in e.priorities)
        and (level is None or level in e.who_levels)
    ]


def _number(value: float) -> str:
    return f"{value:g}"


def missing(entry: ToolkitEntry, field: str) -> str:
    """How to show a figure we do not hold: the source publishes it but our copy did not capture it, or
    the source publishes none. Never the first as the second: that would tell a commissioner a falsehood."""
    return NOT_CAPTURED if field in entry.not_captured else NOT_PUBLISHED


def display_percent(entry: ToolkitEntry) -> str:
    """'33% (crime (average reduction))': the published figure with its outcome, else why there is none."""
    if entry.impact_percent is None:
        return missing(entry, "impact_percent")
    figure = f"{_number(entry.impact_percent)}%"
    return f"{figure} ({entry.outcome_measured})" if entry.outcome_measured else figure


def display_band(entry: ToolkitEntry) -> str:
    return entry.impact_band or missing(entry, "impact_band")


def display_confidence(entry: ToolkitEntry) -> str:
    """YEF's words and its padlock rating, each as read, or said to be unrecorded where YEF gives it."""
    parts = []
    if entry.confidence_words:
        parts.append(entry.confidence_words)
    elif "confidence_words" in entry.not_captured:
        parts.append(NOT_CAPTURED)
    if entry.confidence_rating is not None:
        parts.append(f"{entry.confidence_rating}/5 padlocks")
    elif "confidence_rating" in entry.not_captured and NOT_CAPTURED not in parts:
        parts.append(f"padlock rating {NOT_CAPTURED}" if parts else NOT_CAPTURED)
    return "; ".join(parts) or NOT_PUBLISHED


def display_cost(entry: ToolkitEntry) -> str:
    if entry.cost_rating is None:
        return missing(entry, "cost_rating")
    return f"{'£' * entry.cost_rating} ({entry.cost_rating}/3)"


def display_evidence_basis(entry: ToolkitEntry) -> str:
    return entry.evidence_basis or missing(entry, "evidence_basis")


def display_source(entry: ToolkitEntry) -> str:
    return entry.source_urls[0] if entry.source_urls else NOT_PUBLISHED


def display_other_outcomes(entry: ToolkitEntry) -> str:
    items = [f"{o.band} {o.outcome}" if o.band else o.outcome for o in entry.other_outcomes]
    return "; ".join(items) or NOT_PUBLISHED


def display(entry: ToolkitEntry) -> dict[str, str]:
    """Every figure as a person should read it; missing ones say 'not published' or 'not recorded here'."""
    return {
        "band": display_band(entry),
        "impact": display_percent(entry),
        "confidence": display_confidence(entry),
        "cost": display_cost(entry),
        "evidence_basis": display_evidence_basis(entry),
        "source": display_source(entry),
        "other_outcomes": display_other_outcomes(entry),
    }


# -- local evidence -------------------------------------------------------------------------------


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
    vectors = _plain_vectors(kb, [h.chunk.text for h in candidates])
    scores = vectors @ kb.embedder.encode_query(_plain_name(entry.approach))
    kept = [h for h, s in zip(candidates, scores.tolist(), strict=True) if s >= min_similarity][:k]
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
        hits = []
        for chunk_id, score in stored:
            chunk = chunks.get(rowids.get(chunk_id, -1))
            doc = cat.get_document(chunk.doc_id) if chunk else None
            if chunk is not None and doc is not None:
                hits.append(Hit(chunk=chunk, document=doc, score=score, rank=len(hits) + 1))
        return hits


# -- comparison -----------------------------------------------------------------------------------


@dataclass
class Comparison:
    """2-4 approaches side by side: one row per attribute, one value per approach, as published."""

    approaches: list[str]
    slugs: list[str]
    rows: list[tuple[str, list[str]]]

    def to_dict(self) -> dict:
        return {
            "approaches": self.approaches,
            "slugs": self.slugs,
            "rows": [{"attribute": name, "values": values} for name, values in self.rows],
        }


def _listed(values: list) -> str:
    return ", ".join(str(v) for v in values) or NOT_PUBLISHED


COMPARE_ROWS = (
    ("Impact band", display_band),
    ("Impact (% with outcome)", display_percent),
    ("Confidence", display_confidence),
    ("Evidence basis", display_evidence_basis),
    ("Cost", display_cost),
    ("Other outcomes", display_other_outcomes),
    ("Prevention types", lambda e: _listed(e.prevention_types)),
    ("Settings", lambda e: _listed(e.settings)),
    ("Factors", lambda e: _listed(e.factors)),
    ("Priorities", lambda e: _listed(e.priorities)),
    ("WHO levels", lambda e: _listed(e.who_levels)),
    ("Source", display_source),
    ("Date retrieved", lambda e: e.date_retrieved or NOT_PUBLISHED),
    ("Notes", lambda e: e.notes or ""),
)


def compare(entries: list[ToolkitEntry]) -> Comparison:
    """Side-by-side table of 2-4 approaches, in the order given."""
    if not COMPARE_MIN <= len(entries) <= COMPARE_MAX:
        raise ToolkitError(f"compare {COMPARE_MIN} to {COMPARE_MAX} approaches, not {len(entries)}")
    return Comparison(
        approaches=[e.approach for e in entries],
        slugs=[e.slug for e in entries],
        rows=[(name, [fn(e) for e in entries]) for name, fn in COMPARE_ROWS],
    )
