"""The evidence map's second view: toolkit approaches x factors (the axes of YEF's evidence and gap map)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kb.map_designs import (
    ID_CAP,
    check_doc_types,
    design_column,
    design_key,
    design_rank,
    documents_by_id,
    in_clause,
    ordered_designs,
    strongest,
)
from kb.models import Document
from kb.store import KnowledgeBase
from kb.taxonomy import Taxonomy
from kb.toolkit import all_entries, name_match_query


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
    type_sql, type_params = in_clause("d.doc_type", types)
    sens_sql, sens_params = in_clause("d.sensitivity", sensitivities)
    design = design_column(kb)
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
            cell.designs = ordered_designs(counts)
            cell.doc_ids = sorted(docs, key=lambda d: (design_rank(docs[d][0]), -docs[d][1], d))
    return ApproachMap(cols, rows, types, sensitivities)


def approach_documents(kb: KnowledgeBase, cell: ApproachCell) -> list[Document]:
    """The local studies counted in one cell, in the cell's order (strongest design first), read in one batch."""
    docs = documents_by_id(kb, cell.doc_ids)
    return [docs[d] for d in cell.doc_ids if d in docs]
