"""What works: toolkit approaches filtered by the strategy's axes, shown as published, beside local evidence."""

from __future__ import annotations

import json
from dataclasses import dataclass

from kb.local_evidence import (
    LOCAL_DOC_TYPES,
    LOCAL_EVIDENCE_META,
    MIN_SIMILARITY,
    LocalEvidence,
    evidence_query,
    evidence_version,
    local_evidence,
    name_match_query,
)
from kb.models import NOT_CAPTURED, NOT_PUBLISHED, Emmie, OtherOutcome, ToolkitEntry
from kb.store import KnowledgeBase
from kb.taxonomy import Taxonomy
from kb.visibility import EXTERNAL, INTERNAL, Audience, allowed

# Strongest first, as the YEF Toolkit lists them: a commissioner reads down from what works best.
# HARMFUL is the floor of that scale (evidence the approach makes things worse), not an unknown, so it
# sorts after INSUFFICIENT EVIDENCE; displays flag it loudly so being last never means being missed.
# An approach whose band was not published has no place on the scale and comes after all of them.
BAND_ORDER = ("HIGH", "MODERATE", "LOW", "INSUFFICIENT EVIDENCE", "HARMFUL")
HARMFUL = "HARMFUL"

COMPARE_MIN, COMPARE_MAX = 2, 4
# Local passages shown beside each approach on the What works page (and computed ahead for it).
LOCAL_EVIDENCE_K = 3


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


def refresh_local_evidence(kb: KnowledgeBase) -> int:
    """Local evidence beside every approach, for each audience the What works page draws, computed and kept
    now: `kb ingest` runs it after new documents, so the page's next open searches and embeds nothing.
    Returns how many approaches were searched (0: what is kept still matches)."""
    evidence, searched = LocalEvidence(kb), 0
    for clearance in (EXTERNAL, INTERNAL):
        sens = allowed(Audience("kb ingest", clearance))
        entries = all_entries(kb, sens)
        if entries:
            evidence.for_entries(entries, k=LOCAL_EVIDENCE_K, sensitivities=sens)
            searched += evidence.computed
    return searched


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


# Local evidence lives in kb.local_evidence; its names stay importable from here (callers and tests use them).
__all__ = [
    "BAND_ORDER", "COMPARE_MAX", "COMPARE_MIN", "COMPARE_ROWS", "HARMFUL", "LOCAL_DOC_TYPES", "LOCAL_EVIDENCE_K",
    "LOCAL_EVIDENCE_META", "MIN_SIMILARITY", "Comparison", "LocalEvidence", "ToolkitError", "all_entries", "approaches",
    "band_rank", "check_priority", "check_who_level", "compare", "display", "display_band", "display_confidence",
    "display_cost", "display_evidence_basis", "display_other_outcomes", "display_percent", "display_source",
    "entry_from_dict", "evidence_query", "evidence_version", "local_evidence", "missing", "name_match_query",
    "refresh_local_evidence", "resolve_factor", "sort_key",
]  # fmt: skip
