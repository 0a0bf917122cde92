"""Evidence briefs: the answer to a commissioner's question, as Word (python-docx) or Markdown.

Sections: the question; the toolkit approaches that bear on it, with their ratings exactly as published;
the local evidence, studies grouped by design, strongest first, each with its key passage and citation;
where the evidence is thin (its map cells); a reference list. Nothing is generated or computed: every
figure is a toolkit entry's or a cited passage's own. Official-sensitive material appears only when the
caller says the reader may see it, and is then marked.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kb.evidence_map import DESIGN_LABELS, DESIGN_ORDER, NOT_RECORDED, build_map, design_key, design_rank
from kb.models import Chunk, Document, ToolkitEntry
from kb.search import Filters, Searcher, cite
from kb.store import KnowledgeBase
from kb.taxonomy import Taxonomy
from kb.toolkit import approaches, display, resolve_factor

FORMATS = ("docx", "md")
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SENSITIVE = "official-sensitive"
MARK = "OFFICIAL-SENSITIVE"
# Local evidence is what the VRU and its partners hold beyond the national toolkit.
LOCAL_TYPES = ("research", "evaluation", "needs_assessment", "reference", "strategy", "news")
# Plans and news are not studies: they are listed after every study design.
NOT_STUDIES = ("strategy", "news")
PLANS = "plans_and_news"
GROUP_TITLES = {
    "systematic_review": "Systematic reviews and meta-analyses",
    "rct": "Randomised controlled trials",
    "quasi_experimental": "Quasi-experimental studies",
    "observational": "Observational studies",
    "qualitative": "Qualitative studies",
    "other": "Other documents (no empirical design)",
    NOT_RECORDED: "Design not recorded",
    PLANS: "Strategy, plans and news (not studies)",
}
SEARCH_DEPTH = 60
# The approaches a question alone bears on: those among the toolkit passages it finds first.
TOOLKIT_HITS = 10
MAX_STUDIES = 12
MAX_APPROACHES = 8
# A map cell with fewer studies than this, or none stronger than observational, is thin.
THIN_BELOW = 3
PASSAGE_CHARS = 700


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


# -- rendering ------------------------------------------------------------------------------------


def _scope(brief: Brief) -> str:
    parts = []
    if brief.factor:
        parts.append(f"factor: {brief.factor}")
    if brief.priority is not None:
        parts.append(f"strategy priority {brief.priority}")
    return "; ".join(parts) or "the whole knowledge base"


def _audience(brief: Brief) -> str:
    if SENSITIVE not in brief.sensitivities:
        return "Official material only: official-sensitive documents are left out of this brief."
    if brief.sensitive:
        return f"Contains {MARK} material, marked where it appears. Share only with readers allowed to see it."
    return "Includes official-sensitive documents where relevant (none matched this question)."


def _approach_lines(a: Approach) -> list[tuple[str, str]]:
    f = a.figures
    return [
        ("Impact band", f["band"]),
        ("Impact (% with the outcome it measures)", f["impact"]),
        ("Confidence", f["confidence"]),
        ("Evidence basis", f["evidence_basis"]),
        ("Cost", f["cost"]),
        ("Other outcomes", f["other_outcomes"]),
        ("Source", f["source"]),
    ]


def _passage(e: Evidence) -> str:
    text = " ".join(e.chunk.text.split())
    return text if len(text) <= PASSAGE_CHARS else text[:PASSAGE_CHARS].rsplit(" ", 1)[0] + " …"


def _thin_text(t: ThinCell) -> str:
    designs = ", ".join(f"{n} {DESIGN_LABELS[d]}" for d, n in t.designs.items()) or "none"
    return f"{t.factor} × {t.column}: {t.reason} (studies by design: {designs})"


def to_markdown(brief: Brief) -> str:
    out = []
    if brief.sensitive:
        out += [f"**{MARK}**", ""]
    out += [f"# Evidence brief: {brief.question}", "", f"Written {brief.written}. Scope: {_scope(brief)}.", ""]
    out += [f"_{_audience(brief)}_", "", "## The question", "", brief.question, ""]
    out += ["## What works: toolkit approaches", ""]
    if not brief.approaches:
        out += ["No toolkit approach bears on this question.", ""]
    for a in brief.approaches:
        mark = f" [{MARK}]" if a.sensitive else ""
        out += [f"### {a.entry.approach}{mark}", ""]
        out += [f"- **{name}:** {value}" for name, value in _approach_lines(a)]
        out.append("")
    out += ["## Local evidence, strongest design first", ""]
    if not brief.evidence:
        out += ["No local document in the knowledge base answers this question.", ""]
    for group, items in brief.groups():
        out += [f"### {GROUP_TITLES[group]}", ""]
        for e in items:
            mark = f" [{MARK}]" if e.sensitive else ""
            out += [f"**{e.document.title}**{mark} — {e.citation}", "", f"> {_passage(e)}", ""]
    out += ["## Where the evidence is thin", ""]
    out += [f"- {_thin_text(t)}" for t in brief.thin] or ["No thin cells in the evidence map for this scope."]
    out += [f"- {reason}" for reason in brief.empty_reasons]
    out += ["", "## References", ""]
    out += [f"{i}. {r}" for i, r in enumerate(brief.references(), start=1)] or ["None."]
    return "\n".join(out) + "\n"


def to_docx(brief: Brief) -> bytes:
    from docx import Document as Word
    from docx.shared import Pt, RGBColor

    doc = Word()
    if brief.sensitive:
        for section in doc.sections:
            run = section.header.paragraphs[0].add_run(MARK)
            run.bold = True
        marking = doc.add_paragraph()
        run = marking.add_run(MARK)
        run.bold, run.font.color.rgb = True, RGBColor(0xB7, 0x1C, 0x1C)
    doc.add_heading(f"Evidence brief: {brief.question}", level=0)
    doc.add_paragraph(f"Written {brief.written}. Scope: {_scope(brief)}.")
    doc.add_paragraph().add_run(_audience(brief)).italic = True

    doc.add_heading("The question", level=1)
    doc.add_paragraph(brief.question)

    doc.add_heading("What works: toolkit approaches", level=1)
    if not brief.approaches:
        doc.add_paragraph("No toolkit approach bears on this question.")
    for a in brief.approaches:
        doc.add_heading(a.entry.approach + (f" [{MARK}]" if a.sensitive else ""), level=2)
        table = doc.add_table(rows=0, cols=2)
        table.style = "Light Grid Accent 1"
        for name, value in _approach_lines(a):
            cells = table.add_row().cells
            cells[0].text, cells[1].text = name, value

    doc.add_heading("Local evidence, strongest design first", level=1)
    if not brief.evidence:
        doc.add_paragraph("No local document in the knowledge base answers this question.")
    for group, items in brief.groups():
        doc.add_heading(GROUP_TITLES[group], level=2)
        for e in items:
            p = doc.add_paragraph()
            p.add_run(e.document.title).bold = True
            if e.sensitive:
                p.add_run(f" [{MARK}]").bold = True
            p.add_run(f" — {e.citation}")
            quote = doc.add_paragraph(_passage(e), style="Quote")
            quote.runs[0].font.size = Pt(10)

    doc.add_heading("Where the evidence is thin", level=1)
    for t in brief.thin:
        doc.add_paragraph(_thin_text(t), style="List Bullet")
    for reason in brief.empty_reasons:
        doc.add_paragraph(reason, style="List Bullet")
    if not brief.thin and not brief.empty_reasons:
        doc.add_paragraph("No thin cells in the evidence map for this scope.")

    doc.add_heading("References", level=1)
    for r in brief.references():
        doc.add_paragraph(r, style="List Number")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def render(brief: Brief, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise BriefError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return to_docx(brief) if fmt == "docx" else to_markdown(brief).encode("utf-8")
