"""Evidence briefs: `kb brief` writes Word or Markdown with the agreed sections, figures exactly as their
sources give them, every passage cited, and no official-sensitive content for a reader not allowed it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from docx import Document as Word
from kbfixtures import CORPUS, ROOT, open_kb, run_kb

from ingest.sources.toolkit import load_entry
from kb.brief import MARK, build_brief
from kb.brief_render import to_markdown
from kb.toolkit import display

DATA = ROOT / "tests" / "data" / "briefs"
ENTRIES = {e.slug: e for e in (load_entry(p) for p in sorted((CORPUS / "toolkit").glob("*.toolkit.yaml")))}
QUESTION = "What works to reduce violence in hotspots?"
FACTOR = "high-crime-neighbourhood"
SECTIONS = [
    "The question",
    "What works: toolkit approaches",
    "Local evidence, strongest design first",
    "Where the evidence is thin",
    "References",
]
SECRET = "Operation Nightjar"


@pytest.fixture(scope="module")
def brief_kb(corpus_data_dir, tmp_path_factory) -> Path:
    """The sample corpus plus a randomised evaluation and an official-sensitive briefing about hotspots."""
    from ingest.pipeline import Ingestor

    data = tmp_path_factory.mktemp("brief-kb") / "kb"
    shutil.copytree(corpus_data_dir, data)
    kb = open_kb(data)
    try:
        assert not Ingestor(kb, doc_type="research").run([DATA / "hotspots-evaluation.md"]).failed
        sensitive = Ingestor(kb, doc_type="research", sensitivity="official-sensitive")
        assert not sensitive.run([DATA / "sensitive-briefing.md"]).failed
        # The design classifier (another branch) fills this column; here it is set as it would set it.
        with kb.catalogue.transaction() as c:
            c.execute(
                "UPDATE documents SET study_design = 'rct', study_design_evidence = 'randomly assigned' "
                "WHERE title LIKE 'Wakefield hotspot patrols%'"
            )
    finally:
        kb.close()
    return data


def _docx(brief_kb: Path, tmp_path: Path, *args: str) -> tuple[Word, str]:
    out = tmp_path / f"brief{len(args)}.docx"
    proc = run_kb(brief_kb, "brief", QUESTION, "--factor", FACTOR, "-o", str(out), *args, check=True)
    assert str(out) in proc.stdout
    doc = Word(str(out))
    parts = [p.text for p in doc.paragraphs]
    parts += [cell.text for t in doc.tables for row in t.rows for cell in row.cells]
    parts += [p.text for s in doc.sections for p in s.header.paragraphs]
    return doc, "\n".join(parts)


@pytest.fixture(scope="module")
def plain(brief_kb, tmp_path_factory) -> tuple[Word, str]:
    """The brief as `kb brief` writes it by default: for a reader not known to be allowed more."""
    return _docx(brief_kb, tmp_path_factory.mktemp("plain"))


@pytest.fixture(scope="module")
def sensitive(brief_kb, tmp_path_factory) -> tuple[Word, str]:
    return _docx(brief_kb, tmp_path_factory.mktemp("sensitive"), "--include-sensitive")


def _headings(doc: Word, level: int) -> list[str]:
    return [p.text for p in doc.paragraphs if p.style.name == f"Heading {level}"]


def test_kb_brief_writes_a_word_file_with_every_section(plain) -> None:
    doc, text = plain
    assert _headings(doc, 1) == SECTIONS
    assert QUESTION in text
    # Toolkit approaches linked to the factor, each with its ratings exactly as kb.toolkit displays them.
    linked = [e for e in ENTRIES.values() if FACTOR in e.factors]
    assert linked and set(_headings(doc, 2)) >= {e.approach for e in linked}
    tables = {t.rows[0].cells[1].text: t for t in doc.tables}
    for e in linked:
        shown = display(e)
        table = next(t for t in doc.tables if t.rows[-1].cells[1].text == shown["source"])
        values = {row.cells[0].text: row.cells[1].text for row in table.rows}
        assert values["Impact band"] == shown["band"]
        assert values["Impact (% with the outcome it measures)"] == shown["impact"]
        assert values["Confidence"] == shown["confidence"] and values["Cost"] == shown["cost"]
    assert tables


def test_studies_are_grouped_by_design_strongest_first(plain) -> None:
    doc, _ = plain
    groups = _headings(doc, 2)
    trials, plans = "Randomised controlled trials", "Strategy, plans and news (not studies)"
    assert trials in groups and plans in groups
    assert groups.index(trials) < groups.index(plans)
    paragraphs = [p.text for p in doc.paragraphs]
    rct = paragraphs.index(trials)
    assert paragraphs[rct + 1].startswith("Wakefield hotspot patrols: a randomised evaluation — ")


def test_every_passage_is_cited_with_page_or_section(plain, sensitive) -> None:
    for doc, _ in (plain, sensitive):
        _all_cited(doc)


def _all_cited(doc: Word) -> None:
    quotes = [i for i, p in enumerate(doc.paragraphs) if p.style.name == "Quote"]
    assert quotes
    for i in quotes:
        citation = doc.paragraphs[i - 1].text.split(" — ", 1)[1]
        assert re.search(r", pp?\. \S+|§ \S", citation), citation


def test_every_figure_is_a_toolkit_entrys_or_a_cited_passages_own(brief_kb, plain) -> None:
    _, text = plain
    kb = open_kb(brief_kb)
    try:
        brief = build_brief(kb, QUESTION, factor=FACTOR)
        passages = " ".join(e.chunk.text for e in brief.evidence)
    finally:
        kb.close()
    published = " ".join(v for a in brief.approaches for v in a.figures.values())
    figures = re.findall(r"\d+(?:\.\d+)?%", text)
    assert "14%" in figures and "11%" in figures, "the toolkit's and the evaluation's figures are both there"
    for figure in figures:
        assert figure in published or figure in passages, figure
    # The map counts in "where the evidence is thin" are the map's own.
    for t in brief.thin:
        assert f"{t.documents} stud" in text or "no study stronger" in text


def test_without_sign_in_no_official_sensitive_content_appears(brief_kb, plain) -> None:
    _, text = plain
    assert SECRET not in text and "27%" not in text and MARK not in text
    assert "Official material only" in text
    kb = open_kb(brief_kb)
    try:
        # The app passes None when sign-in is not configured: a brief still fails closed.
        for allowed in (None, ["official"]):
            md = to_markdown(build_brief(kb, QUESTION, factor=FACTOR, sensitivities=allowed))
            assert SECRET not in md and MARK not in md
    finally:
        kb.close()


def test_a_reader_allowed_to_see_it_gets_official_sensitive_content_marked(sensitive) -> None:
    doc, text = sensitive
    assert SECRET in text and "27%" in text
    assert doc.sections[0].header.paragraphs[0].text == MARK
    cited = next(p.text for p in doc.paragraphs if p.text.startswith(SECRET))
    assert f"[{MARK}]" in cited
    assert any(SECRET in r and f"[{MARK}]" in r for r in text.splitlines())


def test_markdown_format_has_the_same_sections(brief_kb, tmp_path) -> None:
    out = tmp_path / "brief.md"
    run_kb(brief_kb, "brief", QUESTION, "--priority", "3", "--format", "md", "-o", str(out), check=True)
    md = out.read_text(encoding="utf-8")
    assert [line[3:] for line in md.splitlines() if line.startswith("## ")] == SECTIONS
    assert SECRET not in md


def test_priority_6_brief_says_why_its_map_column_is_empty(brief_kb, tmp_path) -> None:
    out = tmp_path / "p6.md"
    run_kb(brief_kb, "brief", "How do we use evidence?", "--priority", "6", "-o", str(out), check=True)
    assert "no risk or protective factor under Priority 6" in out.read_text(encoding="utf-8")


def test_bad_requests_are_specific_errors(brief_kb, tmp_path) -> None:
    proc = run_kb(brief_kb, "brief", "q", "--factor", "no-such-factor", "-o", str(tmp_path / "x.docx"))
    assert proc.returncode == 2 and "unknown factor 'no-such-factor'" in proc.stderr
    proc = run_kb(brief_kb, "brief", " ", "-o", str(tmp_path / "x.docx"))
    assert proc.returncode == 2 and "the question is empty" in proc.stderr
    assert not (tmp_path / "x.docx").exists()
