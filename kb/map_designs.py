"""What the evidence map's views share: the evidence types, study designs strongest first, the tag query."""

from __future__ import annotations

from collections.abc import Iterable

from kb.catalogue.rows import in_batches
from kb.models import Document
from kb.store import KnowledgeBase

COLUMN_KINDS = ("priority", "who_level")
# What counts as evidence: a plan (the strategy) and news are not studies, so they count only when asked for.
EVIDENCE_DOC_TYPES = ("research", "evaluation", "needs_assessment", "reference", "toolkit")
OPTIONAL_DOC_TYPES = ("strategy", "news")
# Strongest design first, the order evidence-and-gap maps use; a document without a design is "not recorded".
DESIGN_ORDER = ("systematic_review", "rct", "quasi_experimental", "observational", "qualitative", "other")
NOT_RECORDED = "not_recorded"
DESIGN_LABELS = {
    "systematic_review": "systematic review",
    "rct": "RCT",
    "quasi_experimental": "quasi-experimental",
    "observational": "observational",
    "qualitative": "qualitative",
    "other": "other (no empirical design)",
    NOT_RECORDED: "design not recorded",
}
# Enough ids to open the first few passages and documents from a cell; the counts say how many there are.
ID_CAP = 20


class MapError(ValueError):
    pass


def design_rank(design: str | None) -> int:
    """0 is the strongest design; unknown or missing designs sort after every recorded one."""
    return DESIGN_ORDER.index(design) if design in DESIGN_ORDER else len(DESIGN_ORDER)


def design_key(design: str | None) -> str:
    return design if design in DESIGN_ORDER else NOT_RECORDED


def strongest(designs: dict[str, int]) -> str | None:
    """The strongest design among a cell's documents, None when none has one recorded."""
    recorded = [d for d in designs if d in DESIGN_ORDER and designs[d]]
    return min(recorded, key=design_rank) if recorded else None


def ordered_designs(counts: dict[str, int]) -> dict[str, int]:
    return {d: counts[d] for d in (*DESIGN_ORDER, NOT_RECORDED) if counts.get(d)}


def check_doc_types(doc_types: list[str] | None) -> list[str]:
    """The evidence types by default; any other list must name only known evidence or optional types."""
    if doc_types is None:
        return list(EVIDENCE_DOC_TYPES)
    known = (*EVIDENCE_DOC_TYPES, *OPTIONAL_DOC_TYPES)
    bad = [t for t in doc_types if t not in known]
    if bad:
        raise MapError(f"unknown document type {bad[0]!r}; choose from {', '.join(known)}")
    return list(dict.fromkeys(doc_types))


def check_columns(columns: str) -> str:
    if columns not in COLUMN_KINDS:
        raise MapError(f"columns must be one of {', '.join(COLUMN_KINDS)}, not {columns!r}")
    return columns


def design_column(kb: KnowledgeBase) -> str:
    # Catalogues made before documents had a study design have no such column: every design is "not recorded".
    cols = {r[1] for r in kb.catalogue.query("PRAGMA table_info(documents)")}
    return "d.study_design" if "study_design" in cols else "NULL"


def in_clause(column: str, values: list[str] | None) -> tuple[str, list[str]]:
    if values is None:
        return "", []
    return f" AND {column} IN ({','.join('?' * len(values)) or 'NULL'})", list(values)


def tag_join(kb: KnowledgeBase, sensitivities: list[str] | None, doc_types: list[str]) -> tuple[str, list[str]]:
    """Passages tagged with a factor and a column value, as (factor, col, passage, document, design) rows."""
    sql = f"""SELECT DISTINCT f.value AS factor, k.value AS col, c.rowid AS rid, c.chunk_id, c.doc_id,
                 d.doc_type, {design_column(kb)} AS design FROM chunk_tags f
             JOIN chunk_tags k ON k.chunk_rowid = f.chunk_rowid AND k.kind = ?
             JOIN chunks c ON c.rowid = f.chunk_rowid JOIN documents d ON d.doc_id = c.doc_id
             WHERE f.kind = 'factor'"""
    type_sql, type_params = in_clause("d.doc_type", doc_types)
    sens_sql, sens_params = in_clause("d.sensitivity", sensitivities)
    return sql + type_sql + sens_sql, type_params + sens_params


def documents_by_id(kb: KnowledgeBase, doc_ids: Iterable[str]) -> dict[str, Document]:
    """The documents with these ids (missing ones left out), read a batch at a time, not one query each."""
    ids = list(dict.fromkeys(doc_ids))
    out: dict[str, Document] = {}
    for part, marks in in_batches(ids):
        for d in kb.catalogue.documents(f"doc_id IN ({marks})", part):
            out[d.doc_id] = d
    return out
