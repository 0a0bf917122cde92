"""Evidence briefs: the answer to a commissioner's question, gathered from the toolkit, local studies and the map.

Sections: the question; the toolkit approaches that bear on it, with their ratings exactly as published;
the local evidence, studies grouped by design, strongest first, each with its key passage and citation;
where the evidence is thin (its map cells); a reference list (rendered by kb.brief_render). Nothing is
generated or computed: every figure is a toolkit entry's or a cited passage's own. Official-sensitive
material appears only when the caller says the reader may see it, and is then marked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from kb.evidence_map import DESIGN_ORDER, NOT_RECORDED, build_map, design_key, design_rank
from kb.models import Chunk, Document, ToolkitEntry
from kb.search import Filters, Searcher, cite
from kb.store import KnowledgeBase
from kb.taxonomy import Taxonomy
from kb.toolkit import approaches, display, resolve_factor

SENSITIVE = "official-sensitive"
MARK = "OFFICIAL-SENSITIVE"
# Local evidence is what the VRU and its partners hold beyond the national toolkit.
LOCAL_TYPES = ("research", "evaluation", "needs_assessment", "reference", "strategy", "news")
# Plans and news are not studies: they are listed after every study design.
NOT_STUDIES = ("strategy", "news")
PLANS = "plans_and_news"
SEARCH_DEPTH = 60
# The approaches a question alone bears on: those among the toolkit passages it finds first.
TOOLKIT_HITS = 10
MAX_STUDIES = 12
MAX_APPROACHES = 8
# A map cell with fewer studies than this, or none stronger than observational, is thin.
THIN_BELOW = 3


class BriefError(ValueError):
    """The brief cannot be written as asked; the message says what to change."""


@dataclass
class Approach:
    entry: ToolkitEntry
    figures: dict[str, str]  # kb.toolkit.display(): band, impact, confidence, cost, evidence basis, source
    sensitive: bool


@dataclass
class Evidence:
    """One local document and the passage that answers the question best."""

    document: Document
    chunk: Chunk
    citation: str  # always with a page or a section
    group: str  # a design label, NOT_RECORDED or PLANS

    @property
    def sensitive(self) -> bool:
        return self.document.sensitivity == SENSITIVE


@dataclass
class ThinCell:
    factor: str
    column: str
    documents: int
    designs: dict[str, int]
    reason: str


@dataclass
class Brief:
    question: str
    factor: str | None
    priority: int | None
    sensitivities: list[str]
    approaches: list[Approach] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    thin: list[ThinCell] = field(default_factory=list)
    empty_reasons: list[str] = field(default_factory=list)
    written: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d"))

    @property
    def sensitive(self) -> bool:
        return any(a.sensitive for a in self.approaches) or any(e.sensitive for e in self.evidence)

    def groups(self) -> list[tuple[str, list[Evidence]]]:
        order = [*DESIGN_ORDER, NOT_RECORDED, PLANS]
        return [
            (g, [e for e in self.evidence if e.group == g]) for g in order if any(e.group == g for e in self.evidence)
        ]

    def references(self) -> list[str]:
        """Each cited work once: toolkit entries with their address, local documents as a reference."""
        refs = [_toolkit_reference(a) for a in self.approaches]
        seen: set[str] = set()
        for e in self.evidence:
            if e.document.doc_id not in seen:
                seen.add(e.document.doc_id)
                refs.append(_reference(e.document))
        return refs


def _with_location(doc: Document, chunk: Chunk) -> str:
    """The citation, with the passage's place in the document when it has neither page nor heading."""
    text = cite(doc, chunk)
    if ", p. " in text or ", pp. " in text or "§ " in text:
        return text
    return f"{text}, § passage {chunk.index + 1} of {doc.n_chunks or chunk.index + 1}"


def _reference(doc: Document) -> str:
    who = "; ".join(doc.authors) or doc.publisher or "Author not recorded"
    parts = [f"{who} ({doc.year or 'n.d.'}). {doc.title}."]
    if doc.journal:
        parts.append(f"{doc.journal}.")
    if doc.publisher and doc.authors:
        parts.append(f"{doc.publisher}.")
    if doc.doi:
        parts.append(f"https://doi.org/{doc.doi}")
    elif doc.url:
        parts.append(doc.url)
    if doc.sensitivity == SENSITIVE:
        parts.append(f"[{MARK}]")
    return " ".join(parts)


def _toolkit_reference(a: Approach) -> str:
    e = a.entry
    retrieved = f" Retrieved {e.date_retrieved}." if e.date_retrieved else ""
    mark = f" [{MARK}]" if a.sensitive else ""
    return f"{e.approach}: toolkit entry. {a.figures['source']}.{retrieved}{mark}"


def _group(doc: Document) -> str:
    return PLANS if doc.doc_type in NOT_STUDIES else design_key(doc.study_design)


def _toolkit_hits(searcher: Searcher, question: str, filters: Filters) -> list[str]:
    result = searcher.search(question, k=TOOLKIT_HITS, filters=filters, depth=SEARCH_DEPTH)
    return list(dict.fromkeys(h.document.doc_id for h in result.hits))


def build_brief(
    kb: KnowledgeBase,
    question: str,
    factor: str | None = None,
    priority: int | None = None,
    sensitivities: list[str] | None = None,
    searcher: Searcher | None = None,
    taxonomy: Taxonomy | None = None,
) -> Brief:
    """Gather the brief. `sensitivities` is what the reader may see; None means official material only,
    so a brief made without knowing its reader never carries official-sensitive content."""
    if not question.strip():
        raise BriefError("the question is empty: write the question the brief answers")
    tax = taxonomy or kb.taxonomy
    allowed = list(sensitivities) if sensitivities is not None else ["official"]
    fid = resolve_factor(tax, factor) if factor else None
    searcher = searcher or Searcher(kb)
    brief = Brief(question.strip(), fid, priority, allowed)

    # Toolkit approaches: those the entries link to the factor or priority; else those the question finds.
    linked = approaches(kb, factor=fid, priority=priority, taxonomy=tax, sensitivities=allowed)
    if fid is None and priority is None:
        found = _toolkit_hits(searcher, brief.question, Filters(doc_types=["toolkit"], sensitivities=allowed))
        rank = {doc_id: i for i, doc_id in enumerate(found)}
        linked = sorted((e for e in linked if e.doc_id in rank), key=lambda e: rank[e.doc_id])
    sens_of = {d.doc_id: d.sensitivity for d in kb.catalogue.documents("doc_type = 'toolkit'")}
    brief.approaches = [Approach(e, display(e), sens_of.get(e.doc_id) == SENSITIVE) for e in linked[:MAX_APPROACHES]]

    # Local evidence: the best passage of each local document the question finds, within the filters.
    filters = Filters(
        factors=[fid] if fid else [],
        priorities=[priority] if priority is not None else [],
        doc_types=list(LOCAL_TYPES),
        sensitivities=allowed,
    )
    result = searcher.search(brief.question, k=SEARCH_DEPTH, filters=filters, depth=SEARCH_DEPTH)
    best: dict[str, Evidence] = {}
    for h in result.hits:  # best first: the first passage of a document is its key passage
        if h.document.doc_id not in best and h.document.sensitivity in allowed:
            best[h.document.doc_id] = Evidence(
                h.document, h.chunk, _with_location(h.document, h.chunk), _group(h.document)
            )
    order = [*DESIGN_ORDER, NOT_RECORDED, PLANS]
    brief.evidence = sorted(best.values(), key=lambda e: order.index(e.group))[:MAX_STUDIES]

    # Where the evidence is thin: the map cells the question's factor or priority fall in.
    emap = build_map(kb, sensitivities=allowed, taxonomy=tax)
    factors = {fid} if fid else {f.factor for e in brief.evidence for f in e.chunk.tags.factors}
    if priority is not None and fid is None:
        factors = {f.id for f in tax.factors_for_priority(priority)} or factors
    labels = {c.id: f"Priority {c.id} ({c.label})" for c in emap.columns}
    for row in emap.rows:
        if row.factor not in factors:
            continue
        for col, cell in row.cells.items():
            if not (cell.linked or (priority is not None and col == str(priority))):
                continue
            strongest = cell.strongest_design
            if cell.documents < THIN_BELOW:
                reason = f"{cell.documents} {'study' if cell.documents == 1 else 'studies'}"
            elif strongest is None or design_rank(strongest) > DESIGN_ORDER.index("observational"):
                reason = "no study stronger than observational"
            else:
                continue
            brief.thin.append(
                ThinCell(tax.factors[row.factor].label, labels[col], cell.documents, cell.designs, reason)
            )
    if priority is not None:
        column = next((c for c in emap.columns if c.id == str(priority)), None)
        if column is not None and column.empty_reason:
            brief.empty_reasons.append(column.empty_reason)
    return brief
