"""The evidence map's drill-down: the studies behind one cell, strongest design first, each with its best passage."""

from __future__ import annotations

from dataclasses import dataclass

from kb.map_designs import check_columns, check_doc_types, design_key, design_rank, documents_by_id, tag_join
from kb.models import Chunk, Document
from kb.search import cite
from kb.store import KnowledgeBase


@dataclass
class Study:
    """One document in a cell: its design, how many of its passages are tagged there, and the best of them."""

    document: Document
    design: str  # a DESIGN_ORDER label or NOT_RECORDED
    design_evidence: str | None
    passages: int
    best: Chunk

    @property
    def citation(self) -> str:
        return cite(self.document, self.best)

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
            "citation": self.citation,
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
    check_columns(columns)
    tagged, params = tag_join(kb, sensitivities, check_doc_types(doc_types))
    cat = kb.catalogue
    by_doc: dict[str, list[int]] = {}
    for r in cat.query(
        f"SELECT doc_id, rid FROM ({tagged}) WHERE factor = ? AND col = ? ORDER BY rid",
        [columns, *params, factor, column],
    ):
        by_doc.setdefault(r[0], []).append(r[1])
    chunks = cat.get_chunks([rid for rids in by_doc.values() for rid in rids])
    docs = documents_by_id(kb, by_doc)
    studies = []
    for doc_id, rids in by_doc.items():
        doc = docs.get(doc_id)
        if doc is None:
            continue
        best = min((chunks[r] for r in rids if r in chunks), key=lambda ch: _passage_strength(ch, factor))
        studies.append(Study(doc, design_key(doc.study_design), doc.study_design_evidence, len(rids), best))
    studies.sort(key=lambda s: (design_rank(s.design), -s.passages, s.document.title.lower()))
    return studies[:limit] if limit is not None else studies
