"""The evidence map: taxonomy factors x priorities (or WHO levels), with passage counts and toolkit bands."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from kb.models import ToolkitEntry
from kb.store import KnowledgeBase
from kb.taxonomy import Taxonomy, load_taxonomy
from kb.toolkit import HARMFUL, all_entries, band_rank

COLUMN_KINDS = ("priority", "who_level")
# Enough ids to open the first few passages and documents from a cell; the counts say how many there are.
ID_CAP = 20


class MapError(ValueError):
    pass


@dataclass
class Column:
    id: str  # "1".."6" for priorities, "individual".. for WHO levels: the value stored in chunk_tags
    label: str

    def to_dict(self) -> dict:
        return {"id": self.id, "label": self.label}


@dataclass
class Cell:
    """One factor under one priority or WHO level: how much local and national evidence there is."""

    linked: bool  # the taxonomy files this factor under this column
    passages: int = 0
    documents: int = 0
    documents_by_type: dict[str, int] = field(default_factory=dict)
    band: str | None = None  # strongest impact band among the toolkit approaches linked to both
    confidence: str | None = None  # that approach's confidence, in the toolkit's words
    best_approach: str | None = None
    approaches: list[str] = field(default_factory=list)
    harmful: list[str] = field(default_factory=list)  # never hidden behind a stronger band
    doc_ids: list[str] = field(default_factory=list)  # the first ID_CAP, most passages first
    chunk_ids: list[str] = field(default_factory=list)  # the first ID_CAP, in document order

    def to_dict(self) -> dict:
        return {
            "linked": self.linked,
            "passages": self.passages,
            "documents": self.documents,
            "documents_by_type": self.documents_by_type,
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

    def to_dict(self) -> dict:
        return {
            "columns_kind": self.columns_kind,
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
                        cell.passages,
                        cell.documents,
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
    "passages",
    "documents",
    "band",
    "confidence",
    "best_approach",
    "approaches",
    "harmful_approaches",
    "doc_ids",
    "chunk_ids",
)


def _columns(tax: Taxonomy, kind: str) -> list[Column]:
    if kind == "priority":
        return [Column(str(n), p.name) for n, p in sorted(tax.priorities.items())]
    return [Column(w.id, w.label) for w in tax.who_levels.values()]


def _linked(entry: ToolkitEntry, kind: str, column: str) -> bool:
    return int(column) in entry.priorities if kind == "priority" else column in entry.who_levels


def _tag_join(sensitivities: list[str] | None) -> tuple[str, list[str]]:
    """Passages tagged with a factor and a column value, as (factor, col, passage, document) rows."""
    sql = """SELECT DISTINCT f.value AS factor, k.value AS col, c.rowid AS rid, c.chunk_id, c.doc_id,
                 d.doc_type FROM chunk_tags f
             JOIN chunk_tags k ON k.chunk_rowid = f.chunk_rowid AND k.kind = ?
             JOIN chunks c ON c.rowid = f.chunk_rowid JOIN documents d ON d.doc_id = c.doc_id
             WHERE f.kind = 'factor'"""
    if sensitivities is None:
        return sql, []
    return sql + f" AND d.sensitivity IN ({','.join('?' * len(sensitivities)) or 'NULL'})", list(sensitivities)


def build_map(
    kb: KnowledgeBase,
    columns: str = "priority",
    sensitivities: list[str] | None = None,
    taxonomy: Taxonomy | None = None,
) -> EvidenceMap:
    """Factors x priorities (or WHO levels); `sensitivities` limits which documents count (None = all)."""
    if columns not in COLUMN_KINDS:
        raise MapError(f"columns must be one of {', '.join(COLUMN_KINDS)}, not {columns!r}")
    tax = taxonomy or load_taxonomy()
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

    tagged, params = _tag_join(sensitivities)
    cat = kb.catalogue
    for r in cat.query(
        f"""SELECT factor, col, COUNT(*), COUNT(DISTINCT doc_id) FROM ({tagged}) GROUP BY factor, col""",
        [columns, *params],
    ):
        if (c := cell(r[0], r[1])) is not None:
            c.passages, c.documents = r[2], r[3]
    for r in cat.query(
        f"""SELECT factor, col, doc_type, COUNT(DISTINCT doc_id) FROM ({tagged})
            GROUP BY factor, col, doc_type ORDER BY doc_type""",
        [columns, *params],
    ):
        if (c := cell(r[0], r[1])) is not None:
            c.documents_by_type[r[2]] = r[3]
    for r in cat.query(
        f"""SELECT factor, col, chunk_id FROM (SELECT factor, col, chunk_id,
                ROW_NUMBER() OVER (PARTITION BY factor, col ORDER BY rid) AS n FROM ({tagged}))
            WHERE n <= ? ORDER BY factor, col, n""",
        [columns, *params, ID_CAP],
    ):
        if (c := cell(r[0], r[1])) is not None:
            c.chunk_ids.append(r[2])
    for r in cat.query(
        f"""SELECT factor, col, doc_id FROM (SELECT factor, col, doc_id, ROW_NUMBER() OVER
                (PARTITION BY factor, col ORDER BY COUNT(*) DESC, doc_id) AS n
                FROM ({tagged}) GROUP BY factor, col, doc_id)
            WHERE n <= ? ORDER BY factor, col, n""",
        [columns, *params, ID_CAP],
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
    return EvidenceMap(columns, cols, list(rows.values()), sensitivities)
