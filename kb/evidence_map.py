"""The evidence map: taxonomy factors x priorities (or WHO levels, or toolkit approaches), counting studies."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from kb.approach_map import (
    ApproachCell,
    ApproachColumn,
    ApproachMap,
    approach_documents,
    build_approach_map,
)
from kb.map_designs import (
    COLUMN_KINDS,
    DESIGN_LABELS,
    DESIGN_ORDER,
    EVIDENCE_DOC_TYPES,
    ID_CAP,
    NOT_RECORDED,
    OPTIONAL_DOC_TYPES,
    MapError,
    check_columns,
    check_doc_types,
    design_key,
    design_rank,
    ordered_designs,
    strongest,
    tag_join,
)
from kb.map_studies import Study, cell_studies
from kb.models import ToolkitEntry
from kb.store import KnowledgeBase
from kb.taxonomy import Taxonomy
from kb.toolkit import HARMFUL, all_entries, band_rank

# The drill-down (map_studies), the approach view (approach_map) and what the views share (map_designs) live
# beside the grid; their names stay importable from here, as before the split.
__all__ = [
    "COLUMN_KINDS", "CSV_HEADER", "DESIGN_LABELS", "DESIGN_ORDER", "EVIDENCE_DOC_TYPES", "ID_CAP", "NOT_RECORDED",
    "OPTIONAL_DOC_TYPES", "UNITS", "ApproachCell", "ApproachColumn", "ApproachMap", "Cell", "Column", "EvidenceMap",
    "MapError", "Row", "Study", "approach_documents", "build_approach_map", "build_map", "cell_studies",
    "check_doc_types", "design_key", "design_rank", "strongest",
]  # fmt: skip

UNITS = ("documents", "passages")


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
    check_columns(columns)
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

    tagged, params = tag_join(kb, sensitivities, types)
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
            c.designs = ordered_designs(counts)
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
