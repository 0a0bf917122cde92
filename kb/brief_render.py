"""Evidence briefs rendered for reading: Word (python-docx) or Markdown, marked where official-sensitive."""

from __future__ import annotations

import io

from kb.brief import MARK, PLANS, SENSITIVE, Approach, Brief, BriefError, Evidence, ThinCell
from kb.evidence_map import DESIGN_LABELS, NOT_RECORDED

FORMATS = ("docx", "md")
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PASSAGE_CHARS = 700
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
