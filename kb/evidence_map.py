"""The evidence map: taxonomy factors x priorities (or WHO levels, or toolkit approaches), counting studies."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from kb.models import Chunk, Document, ToolkitEntry
from kb.search import cite
from kb.store import KnowledgeBase
from kb.taxonomy import Taxonomy
from kb.toolkit import HARMFUL, all_entries, band_rank, name_match_query

COLUMN_KINDS = ("priority", "who_level")
UNITS = ("documents", "passages")
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


def _ordered_designs(counts: dict[str, int]) -> dict[str, int]:
    return {d: counts[d] for d in (*DESIGN_ORDER, NOT_RECORDED) if counts.get(d)}


@dataclass
class Column:
    id: str  # "1".."6" for priorities, "individual".. for WHO levels: the value stored in chunk_tags
    label: str
    # Why no factor can fall in this column, when the strategy files none under it; None otherwise.
    empty_reason: str | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, "label": self.label, "empty_reason": self.empty_reason}


@dataclass
class Cell:
    """One factor under one priority or WHO level: how many studies speak to it, how strong, and the toolkit."""

    linked: bool  # the taxonomy files this factor under this column
    passages: int = 0
    documents: int = 0
    documents_by_type: dict[str, int] = field(default_factory=dict)
    designs: dict[str, int] = field(default_factory=dict)  # documents per study design, strongest first
    band: str | None = None  # strongest impact band among the toolkit approaches linked to both
    confidence: str | None = None  # that approach's confidence, in the toolkit's words
    best_approach: str | None = None
    approaches: list[str] = field(default_factory=list)
    harmful: list[str] = field(default_factory=list)  # never hidden behind a stronger band
    doc_ids: list[str] = field(default_factory=list)  # the first ID_CAP, strongest design then most passages first
    chunk_ids: list[str] = field(default_factory=list)  # the first ID_CAP, in document order

    @property
    def strongest_design(self) -> str | None:
        return strongest(self.designs)

    def count(self, unit: str) -> int:
        return self.documents if unit == "documents" else self.passages

    def to_dict(self) -> dict:
        return {
            "linked": self.linked,
            "documents": self.documents,
            "passages": self.passages,
            "documents_by_type": self.documents_by_type,
            "designs": self.designs,
            "strongest_design": self.strongest_design,
            "band": self.band,
            "confidence": self.confidence,
            "best_approach": self.best_approach,
            "approaches": self.approaches,
            "harmful": self.harmful,
            "doc_ids": self.doc_ids,
            "doc_ids_truncated": self.documents > len(self.doc_ids),
            "chunk_ids": self.chunk_ids,
            "chunk_ids_truncated": self.passages > len(self.chunk_ids),
        }


@dataclass
class Row:
    factor: str
    label: str
    polarity: str
    cells: dict[str, Cell]

    def to_dict(self) -> dict:
        return {
            "factor": self.factor,
            "label": self.label,
            "polarity": self.polarity,
            "cells": {col: cell.to_dict() for col, cell in self.cells.items()},
        }


@dataclass
class EvidenceMap:
    """Every factor is a row and every column is kept, evidence or not: the empty cells are the gaps."""

    columns_kind: str
    columns: list[Column]
    rows: list[Row]
    sensitivities: list[str] | None = None
    doc_types: list[str] = field(default_factory=lambda: list(EVIDENCE_DOC_TYPES))
    unit: str = "documents"

    def to_dict(self) -> dict:
        return {
            "columns_kind": self.columns_kind,
            "unit": self.unit,
            "doc_types": self.doc_types,
            "design_order": [*DESIGN_ORDER, NOT_RECORDED],
            "columns": [c.to_dict() for c in self.columns],
            "sensitivities": self.sensitivities,
            "id_cap": ID_CAP,
            "rows": [r.to_dict() for r in self.rows],
        }

    def to_csv(self) -> str:
        """One line per cell (long format): filter or pivot it in a spreadsheet into any grid."""
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(CSV_HEADER)
        labels = {c.id: c.label for c in self.columns}
        for row in self.rows:
            for col, cell in row.cells.items():
                w.writerow(
                    [
                        row.factor,
                        row.label,
                        row.polarity,
                        self.columns_kind,
                        col,
                        labels[col],
                        "yes" if cell.linked else "no",
                        cell.documents,
                        cell.passages,
                        *(cell.designs.get(d, 0) for d in (*DESIGN_ORDER, NOT_RECORDED)),
                        cell.strongest_design or "",
                        cell.band or "",
                        cell.confidence or "",
                        cell.best_approach or "",
                        "; ".join(cell.approaches),
                        "; ".join(cell.harmful),
                        "; ".join(cell.doc_ids),
                        "; ".join(cell.chunk_ids),
                    ]
                )
        return out.getvalue()


CSV_HEADER = (
    "factor",
    "factor_label",
    "polarity",
    "column_kind",
    "column",
    "column_label",
    "linked_in_taxonomy",
    "documents",
    "passages",
    *(f"design_{d}" for d in (*DESIGN_ORDER, NOT_RECORDED)),
    "strongest_design",
    "band",
    "confidence",
    "best_approach",
    "approaches",
    "harmful_approaches",
    "doc_ids",
    "chunk_ids",
)


def check_doc_types(doc_types: list[str] | None) -> list[str]:
    """The evidence types by default; any other list must name only known evidence or optional types."""
    if doc_types is None:
        return list(EVIDENCE_DOC_TYPES)
    known = (*EVIDENCE_DOC_TYPES, *OPTIONAL_DOC_TYPES)
    bad = [t for t in doc_types if t not in known]
    if bad:
        raise MapError(f"unknown document type {bad[0]!r}; choose from {', '.join(known)}")
    return list(dict.fromkeys(doc_types))


def _empty_reason(tax: Taxonomy, number: int) -> str | None:
    if tax.factors_for_priority(number):
        return None
    p = tax.priorities[number]
    return (
        f"The strategy files no risk or protective factor under Priority {number} ({p.name}): {p.description} "
        "Its column counts only passages that name the priority and a factor; evidence on any factor serves it."
    )


def _columns(tax: Taxonomy, kind: str) -> list[Column]:
    if kind == "priority":
        return [Column(str(n), p.name, _empty_reason(tax, n)) for n, p in sorted(tax.priorities.items())]
    return [Column(w.id, w.label) for w in tax.who_levels.values()]


def _linked(entry: ToolkitEntry, kind: str, column: str) -> bool:
    return int(column) in entry.priorities if kind == "priority" else column in entry.who_levels


def _design_column(kb: KnowledgeBase) -> str:
    # Catalogues made before documents had a study design have no such column: every design is "not recorded".
    cols = {r[1] for r in kb.catalogue.query("PRAGMA table_info(documents)")}
    return "d.study_design" if "study_design" in cols else "NULL"


def _in(column: str, values: list[str] | None) -> tuple[str, list[str]]:
    if values is None:
        return "", []
    return f" AND {column} IN ({','.join('?' * len(values)) or 'NULL'})", list(values)


def _tag_join(kb: KnowledgeBase, sensitivities: list[str] | None, doc_types: list[str]) -> tuple[str, list[str]]:
    """Passages tagged with a factor and a column value, as (factor, col, passage, document, design) rows."""
    sql = f"""SELECT DISTINCT f.value AS factor, k.value AS col, c.rowid AS rid, c.chunk_id, c.doc_id,
                 d.doc_type, {_design_column(kb)} AS design FROM chunk_tags f
             JOIN chunk_tags k ON k.chunk_rowid = f.chunk_rowid AND k.kind = ?
             JOIN chunks c ON c.rowid = f.chunk_rowid JOIN documents d ON d.doc_id = c.doc_id
             WHERE f.kind = 'factor'"""
    type_sql, type_params = _in("d.doc_type", doc_types)
    sens_sql, sens_params = _in("d.sensitivity", sensitivities)
    return sql + type_sql + sens_sql, type_params + sens_params


def build_map(
    kb: KnowledgeBase,
    columns: str = "priority",
    sensitivities: list[str] | None = None,
    taxonomy: Taxonomy | None = None,
    doc_types: list[str] | None = None,
    unit: str = "documents",
) -> EvidenceMap:
    """Factors x priorities (or WHO levels), counting the documents (studies) of `doc_types` in each cell.

    `doc_types` defaults to the evidence types (the strategy and news only when listed); `sensitivities`
    limits which documents count (None = all); `unit` is what a grid shows first, both are always counted.
    """
    if columns not in COLUMN_KINDS:
        raise MapError(f"columns must be one of {', '.join(COLUMN_KINDS)}, not {columns!r}")
    if unit not in UNITS:
        raise MapError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
    types = check_doc_types(doc_types)
    tax = taxonomy or kb.taxonomy
    cols = _columns(tax, columns)
    home = {
        f.id: ({str(p) for p in f.priorities} if columns == "priority" else {f.who_level}) for f in tax.factors.values()
    }
    rows = {
        f.id: Row(f.id, f.label, f.polarity, {c.id: Cell(linked=c.id in home[f.id]) for c in cols})
        for f in tax.factors.values()
    }

    def cell(factor: str, col: str) -> Cell | None:
        # Tags from a taxonomy edited since ingestion may name a factor or column no longer defined.
        row = rows.get(factor)
        return row.cells.get(col) if row else None

    tagged, params = _tag_join(kb, sensitivities, types)
    params = [columns, *params]
    cat = kb.catalogue
    for r in cat.query(
        f"SELECT factor, col, COUNT(*), COUNT(DISTINCT doc_id) FROM ({tagged}) GROUP BY factor, col", params
    ):
        if (c := cell(r[0], r[1])) is not None:
            c.passages, c.documents = r[2], r[3]
    for r in cat.query(
        f"""SELECT factor, col, doc_type, COUNT(DISTINCT doc_id) FROM ({tagged})
            GROUP BY factor, col, doc_type ORDER BY doc_type""",
        params,
    ):
        if (c := cell(r[0], r[1])) is not None:
            c.documents_by_type[r[2]] = r[3]
    designs: dict[tuple[str, str], dict[str, int]] = {}
    for r in cat.query(
        f"SELECT factor, col, design, COUNT(DISTINCT doc_id) FROM ({tagged}) GROUP BY factor, col, design", params
    ):
        counts = designs.setdefault((r[0], r[1]), {})
        key = design_key(r[2])
        counts[key] = counts.get(key, 0) + r[3]
    for (factor, col), counts in designs.items():
        if (c := cell(factor, col)) is not None:
            c.designs = _ordered_designs(counts)
    for r in cat.query(
        f"""SELECT factor, col, chunk_id FROM (SELECT factor, col, chunk_id,
                ROW_NUMBER() OVER (PARTITION BY factor, col ORDER BY rid) AS n FROM ({tagged}))
            WHERE n <= ? ORDER BY factor, col, n""",
        [*params, ID_CAP],
    ):
        if (c := cell(r[0], r[1])) is not None:
            c.chunk_ids.append(r[2])
    rank_sql = " ".join(f"WHEN '{d}' THEN {i}" for i, d in enumerate(DESIGN_ORDER))
    for r in cat.query(
        f"""SELECT factor, col, doc_id FROM (SELECT factor, col, doc_id, ROW_NUMBER() OVER
                (PARTITION BY factor, col ORDER BY CASE design {rank_sql} ELSE {len(DESIGN_ORDER)} END,
                 COUNT(*) DESC, doc_id) AS n
                FROM ({tagged}) GROUP BY factor, col, doc_id)
            WHERE n <= ? ORDER BY factor, col, n""",
        [*params, ID_CAP],
    ):
        if (c := cell(r[0], r[1])) is not None:
            c.doc_ids.append(r[2])

    # Entries arrive strongest band first, then by name: among equal bands the first named is the best.
    for entry in all_entries(kb, sensitivities):
        for fid in entry.factors:
            for col in cols:
                c = cell(fid, col.id)
                if c is None or not _linked(entry, columns, col.id):
                    continue
                c.approaches.append(entry.slug)
                if entry.impact_band == HARMFUL:
                    c.harmful.append(entry.slug)
                if entry.impact_band and (c.band is None or band_rank(entry.impact_band) < band_rank(c.band)):
                    c.band, c.confidence, c.best_approach = entry.impact_band, entry.confidence_words, entry.slug
    return EvidenceMap(columns, cols, list(rows.values()), sensitivities, types, unit)


# -- drill-down: the studies behind a cell --------------------------------------------------------


@dataclass
class Study:
    """One document in a cell: its design, how many of its passages are tagged there, and the best of them."""

    document: Document
    design: str  # a DESIGN_ORDER label or NOT_RECORDED
    design_evidence: str | None
    passages: int
    best: Chunk

    def to_dict(self) -> dict:
        return {
            "doc_id": self.document.doc_id,
            "title": self.document.title,
            "year": self.document.year,
            "doc_type": self.document.doc_type,
            "sensitivity": self.document.sensitivity,
            "design": self.design,
            "design_evidence": self.design_evidence,
            "passages": self.passages,
            "best_chunk_id": self.best.chunk_id,
            "citation": cite(self.document, self.best),
        }


def _passage_strength(chunk: Chunk, factor: str) -> tuple[int, int, int]:
    """How plainly a passage speaks to the factor: a polarity cue, more trigger words, then earlier in the text."""
    tags = [f for f in chunk.tags.factors if f.factor == factor]
    return (
        -any(t.cue for t in tags),
        -sum(len(t.matched) for t in tags),
        chunk.index,
    )


def cell_studies(
    kb: KnowledgeBase,
    factor: str,
    column: str,
    columns: str = "priority",
    sensitivities: list[str] | None = None,
    doc_types: list[str] | None = None,
    limit: int | None = None,
) -> list[Study]:
    """The studies of one cell, strongest design first, then most passages; each with its best passage."""
    if columns not in COLUMN_KINDS:
        raise MapError(f"columns must be one of {', '.join(COLUMN_KINDS)}, not {columns!r}")
    tagged, params = _tag_join(kb, sensitivities, check_doc_types(doc_types))
    cat = kb.catalogue
    by_doc: dict[str, list[int]] = {}
    for r in cat.query(
        f"SELECT doc_id, rid FROM ({tagged}) WHERE factor = ? AND col = ? ORDER BY rid",
        [columns, *params, factor, column],
    ):
        by_doc.setdefault(r[0], []).append(r[1])
    chunks = cat.get_chunks([rid for rids in by_doc.values() for rid in rids])
    studies = []
    for doc_id, rids in by_doc.items():
        doc = cat.get_document(doc_id)
        if doc is None:
            continue
        best = min((chunks[r] for r in rids if r in chunks), key=lambda ch: _passage_strength(ch, factor))
        studies.append(Study(doc, design_key(doc.study_design), doc.study_design_evidence, len(rids), best))
    studies.sort(key=lambda s: (design_rank(s.design), -s.passages, s.document.title.lower()))
    return studies[:limit] if limit is not None else studies


# -- the second view: toolkit approaches x factors (the axes of YEF's evidence and gap map) -------


@dataclass
class ApproachCell:
    """One approach and one factor: whether the toolkit links them, and local studies that name the approach."""

    linked: bool
    documents: int = 0
    passages: int = 0
    designs: dict[str, int] = field(default_factory=dict)
    doc_ids: list[str] = field(default_factory=list)

    @property
    def strongest_design(self) -> str | None:
        return strongest(self.designs)

    def to_dict(self) -> dict:
        return {
            "linked": self.linked,
            "documents": self.documents,
            "passages": self.passages,
            "designs": self.designs,
            "strongest_design": self.strongest_design,
            "doc_ids": self.doc_ids[:ID_CAP],
        }


@dataclass
class ApproachColumn:
    slug: str
    approach: str
    band: str | None
    confidence: str | None

    def to_dict(self) -> dict:
        return {"slug": self.slug, "approach": self.approach, "band": self.band, "confidence": self.confidence}


@dataclass
class ApproachMap:
    """Factors x toolkit approaches: the toolkit's links (with its band) beside local studies naming each one."""

    approaches: list[ApproachColumn]
    rows: list[tuple[str, str, dict[str, ApproachCell]]]  # factor id, label, cells by slug
    doc_types: list[str]
    sensitivities: list[str] | None = None

    def to_dict(self) -> dict:
        return {
            "columns_kind": "approach",
            "doc_types": self.doc_types,
            "sensitivities": self.sensitivities,
            "approaches": [a.to_dict() for a in self.approaches],
            "rows": [
                {"factor": f, "label": label, "cells": {s: c.to_dict() for s, c in cells.items()}}
                for f, label, cells in self.rows
            ],
        }


def build_approach_map(
    kb: KnowledgeBase,
    sensitivities: list[str] | None = None,
    taxonomy: Taxonomy | None = None,
    doc_types: list[str] | None = None,
) -> ApproachMap:
    """Every factor x every ingested approach. A local study counts in a cell when one of its passages is
    tagged with the factor and names the approach (every distinctive word of its name, close together);
    toolkit entries themselves are the national column, not local studies, so they are not counted."""
    tax = taxonomy or kb.taxonomy
    types = [t for t in check_doc_types(doc_types) if t != "toolkit"]
    entries = all_entries(kb, sensitivities)
    cols = [ApproachColumn(e.slug, e.approach, e.impact_band, e.confidence_words) for e in entries]
    rows = [
        (f.id, f.label, {e.slug: ApproachCell(linked=f.id in e.factors) for e in entries}) for f in tax.factors.values()
    ]
    by_factor = {f: cells for f, _, cells in rows}
    type_sql, type_params = _in("d.doc_type", types)
    sens_sql, sens_params = _in("d.sensitivity", sensitivities)
    design = _design_column(kb)
    cat = kb.catalogue
    for e in entries:
        match = name_match_query(e)
        if match is None:
            continue
        per: dict[str, dict[str, tuple[str | None, int]]] = {}
        for r in cat.query(
            f"""SELECT t.value, c.doc_id, {design}, COUNT(DISTINCT c.rowid) FROM chunks_fts
                JOIN chunks c ON c.rowid = chunks_fts.rowid JOIN documents d ON d.doc_id = c.doc_id
                JOIN chunk_tags t ON t.chunk_rowid = c.rowid AND t.kind = 'factor'
                WHERE chunks_fts MATCH ?{type_sql}{sens_sql} GROUP BY t.value, c.doc_id""",
            [match, *type_params, *sens_params],
        ):
            per.setdefault(r[0], {})[r[1]] = (r[2], r[3])
        for factor, docs in per.items():
            cell = by_factor.get(factor, {}).get(e.slug)
            if cell is None:
                continue
            counts: dict[str, int] = {}
            for d, _ in docs.values():
                counts[design_key(d)] = counts.get(design_key(d), 0) + 1
            cell.documents, cell.passages = len(docs), sum(n for _, n in docs.values())
            cell.designs = _ordered_designs(counts)
            cell.doc_ids = sorted(docs, key=lambda d: (design_rank(docs[d][0]), -docs[d][1], d))
    return ApproachMap(cols, rows, types, sensitivities)
