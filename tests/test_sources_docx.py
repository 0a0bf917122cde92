"""Word reader: headings as sections, tables as rows, list items, plausible core properties, markings."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime
from pathlib import Path

import docx
import pytest
from kbfixtures import run_kb

from ingest.sources import ReadOptions, SourceError, read_file

TITLE_LINE = "Serious Violence in Bradford"


def make_docx(path: Path, *, title="Knife Crime Needs Assessment 2024", author="Jane Smith", header=None) -> Path:
    """A Word document as an analyst writes one: a title line, headings, a list, a table, core properties."""
    d = docx.Document()
    d.add_paragraph(TITLE_LINE, style="Title")
    d.add_heading("Introduction", level=1)
    d.add_paragraph("This assessment describes serious violence among young people in Bradford.")
    d.add_heading("Methods", level=2)
    d.add_paragraph("We used three sources of data:")
    for item in ("hospital admissions for assault", "police recorded knife crime", "school exclusions"):
        d.add_paragraph(item, style="List Bullet")
    d.add_heading("Findings", level=1)
    table = d.add_table(rows=3, cols=3)
    for r, row in enumerate([("District", "Offences", "Change"), ("Bradford", "412", "-8%"), ("Leeds", "655", "+3%")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.add_paragraph("Knife crime fell in Bradford after the mentoring programme began.")
    cp = d.core_properties
    cp.title = title
    cp.author = author
    cp.created = datetime(2024, 3, 1)
    if header:
        d.sections[0].header.paragraphs[0].text = header
    d.save(path)
    return path


def test_headings_tables_lists_and_core_properties(tmp_path):
    result = read_file(make_docx(tmp_path / "assessment.docx"), ReadOptions())
    [parsed] = result.documents
    doc = parsed.document
    assert (doc.title, doc.authors, doc.year) == ("Knife Crime Needs Assessment 2024", ["Jane Smith"], 2024)
    assert doc.sensitivity == "official"
    by_text = {b.text: b for b in parsed.blocks}
    assert by_text["This assessment describes serious violence among young people in Bradford."].section == [
        "Introduction"
    ]
    listing = by_text["- hospital admissions for assault\n- police recorded knife crime\n- school exclusions"]
    assert listing.section == ["Introduction", "Methods"]
    table = by_text["District | Offences | Change\nBradford | 412 | -8%\nLeeds | 655 | +3%"]
    assert table.section == ["Findings"] and table.page_label is None
    assert TITLE_LINE not in by_text  # the Title line names the document, it is not a passage


def test_placeholder_core_properties_are_not_metadata(tmp_path):
    path = make_docx(tmp_path / "draft.docx", title="Document1", author="Administrator")
    doc = read_file(path, ReadOptions()).documents[0].document
    assert doc.authors == []
    assert doc.title == TITLE_LINE  # Word's default "Document1" is no title: the Title-style line is
    d = docx.Document(str(path))
    d.paragraphs[0].style = d.styles["Normal"]
    d.core_properties.title = "draft.docx"
    d.save(path)
    # No title line, a file name for a title property, and "Introduction" first: the file name is the last resort,
    # recorded with no source, since "Introduction" names a section, never a document.
    doc = read_file(path, ReadOptions()).documents[0].document
    assert (doc.title, doc.field_sources.get("title")) == ("draft", None)


@pytest.mark.parametrize("marking", ["OFFICIAL-SENSITIVE", "official sensitive", "Official – Sensitive"])
def test_marking_in_the_header_makes_it_official_sensitive(tmp_path, marking):
    result = read_file(make_docx(tmp_path / "marked.docx", header=marking), ReadOptions())
    assert result.documents[0].document.sensitivity == "official-sensitive"
    assert all(marking not in b.text for b in result.documents[0].blocks)  # a header is no passage


def test_marking_in_a_header_table_or_first_page_footer_is_read(tmp_path):
    from docx.shared import Inches

    path = make_docx(tmp_path / "plain.docx")
    assert read_file(path, ReadOptions()).documents[0].document.sensitivity == "official"
    d = docx.Document(str(path))
    d.sections[0].header.add_table(rows=1, cols=2, width=Inches(6)).cell(0, 1).text = "OFFICIAL SENSITIVE"
    d.save(tmp_path / "table.docx")
    d = docx.Document(str(path))
    d.sections[0].different_first_page_header_footer = True
    d.sections[0].first_page_footer.paragraphs[0].text = "Official-Sensitive: Personal"
    d.save(tmp_path / "first-page.docx")
    for name in ("table.docx", "first-page.docx"):
        assert read_file(tmp_path / name, ReadOptions()).documents[0].document.sensitivity == "official-sensitive"


def test_doc_and_corrupt_docx_are_refused_with_the_remedy(tmp_path):
    old = tmp_path / "old.doc"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))
    with pytest.raises(SourceError) as err:
        read_file(old)
    assert "save as .docx" in err.value.reason
    bad = tmp_path / "bad.docx"
    bad.write_bytes(make_docx(tmp_path / "good.docx").read_bytes()[:3000])
    with pytest.raises(SourceError) as err:
        read_file(bad)
    assert err.value.reason.startswith("corrupt Word file") and "save it again" in err.value.reason


def test_docx_passages_are_searchable_and_cite_their_section(tmp_path):
    path = make_docx(tmp_path / "assessment.docx", header="OFFICIAL-SENSITIVE")
    data = tmp_path / "kb"
    run_kb(data, "ingest", str(path), check=True)
    out = json.loads(run_kb(data, "search", "knife crime fell in Bradford", "-k", "3", "--json", check=True).stdout)
    best = out["results"][0]["passages"][0]
    assert "mentoring programme" in best["text"]
    assert best["section"] == ["Findings"] and "§ Findings" in best["citation"] and best["page_start"] is None
    docs = json.loads(run_kb(data, "docs", "--json", check=True).stdout)["documents"]
    assert [d["sensitivity"] for d in docs] == ["official-sensitive"]


@pytest.mark.shared_data
def test_shared_word_files_read_with_their_headings_as_sections(shared_data):
    folder = shared_data / "docx"
    handbook = read_file(folder / "handbook-872p.docx").documents[0]
    sections = {tuple(b.section) for b in handbook.blocks}
    assert ("CHAPTER 1 – INTRODUCTION", "A. PURPOSE") in sections
    assert len({s[-1] for s in sections if s}) > 120  # most of its ~300 headings head some text
    assert all("\t" not in part for s in sections for part in s)
    assert handbook.document.year == 2012  # "October 1, 2012" on the cover, not the 2023 conversion date
    assert handbook.document.authors == []

    phs = read_file(folder / "phs_offstats_summary_skeleton.docx").documents[0]
    assert [s[0] for s in dict.fromkeys(tuple(b.section) for b in phs.blocks) if s] == [
        "About this release",
        "Main Points",
        "Background",
        "Contact",
        "Further information",
        "NHS Performs",
    ]
    small = read_file(folder / "category-level.docx").documents[0]
    assert ("A Heading 1", "A Heading 2") in {tuple(b.section) for b in small.blocks}
    assert any(b.text.startswith("Call me Ishmael.") for b in small.blocks)


@pytest.mark.shared_data
def test_shared_small_word_files_ingest(tmp_path, shared_data):
    data = tmp_path / "kb"
    folder = shared_data / "docx"
    files = [str(folder / "category-level.docx"), str(folder / "phs_offstats_summary_skeleton.docx")]
    proc = run_kb(data, "ingest", *files, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = json.loads(proc.stdout)["files"]
    assert [f["status"] for f in files] == ["ok", "ok"] and all(f["passages"] > 0 for f in files)


@pytest.mark.shared_data
@pytest.mark.slow
def test_shared_handbook_ingests_its_text_once(tmp_path, shared_data):
    """Regression: the handbook .docx holds its body four times over (paragraphs 164, 1349, 2534 and 3724 open the
    same text), and every passage was stored, embedded and found four times: 1157 passages, 694 of them copies.
    Each text is now stored once, and the ingest report says how many copies were left out."""
    proc = run_kb(tmp_path / "kb", "ingest", str(shared_data / "docx" / "handbook-872p.docx"), "--json", timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [f] = json.loads(proc.stdout)["files"]
    assert f["status"] == "ok" and 400 < f["passages"] < 600
    [note] = [p for p in f["problems"] if "repeat earlier text" in p]
    assert note.startswith("Handbook for Chapter 13 Standing Trustees: ") and int(note.split(": ")[1].split()[0]) > 600
    con = sqlite3.connect(tmp_path / "kb" / "catalogue.sqlite3")
    texts = [" ".join(t.split()) for (t,) in con.execute("SELECT text FROM chunks")]
    con.close()
    assert len(texts) == f["passages"] == len(set(texts))
    hits = json.loads(
        run_kb(
            tmp_path / "kb",
            "search",
            "final report and account of the administration of the estate",
            "--mode",
            "bm25",
            "--json",
            check=True,
        ).stdout
    )["results"]
    found = [p["text"] for g in hits for p in g["passages"]]
    assert found and len(found) == len({" ".join(t.split()) for t in found}), "no passage comes back twice"


@pytest.mark.shared_data
def test_real_word_titles_come_from_the_cover_not_a_chapter_heading_or_a_template_placeholder(shared_data):
    """Regression: the handbook came out as "CHAPTER 1 – INTRODUCTION" (its title is set in 36 pt on the cover, in
    Normal style, with empty core properties); the PHS template's "Publication title" is its placeholder."""
    folder = shared_data / "docx"
    handbook = read_file(folder / "handbook-872p.docx", ReadOptions()).documents[0].document
    assert handbook.title == "Handbook for Chapter 13 Standing Trustees"
    sources = handbook.field_sources
    assert (handbook.year, sources["title"], sources["year"]) == (2012, "layout", "layout")
    phs = read_file(folder / "phs_offstats_summary_skeleton.docx", ReadOptions()).documents[0].document
    assert phs.title.lower() != "publication title"


@pytest.mark.shared_data
def test_a_template_is_not_named_after_its_first_section_heading(shared_data):
    """Regression (real-data audit): the Public Health Scotland template came out titled "About this release",
    the first of its six Heading 1 sections, because its only title line is the placeholder "Publication title".
    Nothing better than the file name is printed there, so the file name it is, with no source claimed; the
    same holds for category-level.docx, whose "A Heading 1" is the first of two Heading 1 sections."""
    folder = shared_data / "docx"
    for name in ("phs_offstats_summary_skeleton.docx", "category-level.docx"):
        doc = read_file(folder / name, ReadOptions()).documents[0].document
        assert (doc.title, doc.field_sources.get("title")) == (Path(name).stem, None)


def test_a_lone_top_heading_still_names_a_document_without_a_title_line(tmp_path):
    d = docx.Document()
    d.add_heading("Knife Crime in Calderdale", level=1)
    d.add_heading("Findings", level=2)
    d.add_paragraph("Knife crime fell in Halifax.")
    d.add_heading("Methods", level=2)
    d.add_paragraph("We counted offences.")
    d.save(tmp_path / "lone.docx")
    doc = read_file(tmp_path / "lone.docx", ReadOptions()).documents[0].document
    assert (doc.title, doc.field_sources["title"]) == ("Knife Crime in Calderdale", "layout")


@pytest.mark.shared_data
def test_a_typed_table_of_contents_is_no_passage(shared_data):
    """Regression (real-data audit): the handbook's contents list, typed as ~150 Normal paragraphs ("A. PURPOSE1-1")
    after "Table of Contents" (four times: the file repeats the handbook), became 616 passages matching any query
    on its headings."""
    parsed = read_file(shared_data / "docx" / "handbook-872p.docx", ReadOptions()).documents[0]
    texts = [b.text for b in parsed.blocks]
    assert "Table of Contents" not in texts
    assert "A. PURPOSE1-1" not in texts
    assert not [t for t in texts if re.search(r"[A-Z]\d{1,2}-\d{1,2}$", t)]
    assert texts.count("CHAPTER 1") == 4  # the chapter's opening line after each list is text, not an entry
    first_body = next(b for b in parsed.blocks if b.section)
    assert first_body.section == ["CHAPTER 1 – INTRODUCTION", "A. PURPOSE"]
    assert first_body.text.startswith("The United States Trustee appoints and supervises standing trustees")
    assert "October 1, 2012" in texts  # the cover before the contents stays


def test_word_generated_contents_lines_are_no_passages(tmp_path):
    from docx.enum.style import WD_STYLE_TYPE

    d = docx.Document()
    d.add_paragraph("Youth Violence Review", style="Title")
    toc = d.styles.add_style("toc 1", WD_STYLE_TYPE.PARAGRAPH)
    d.add_paragraph("Findings\t3", style=toc)
    d.add_heading("Findings", level=1)
    d.add_paragraph("Knife crime fell in Halifax.")
    d.save(tmp_path / "toc.docx")
    blocks = read_file(tmp_path / "toc.docx", ReadOptions()).documents[0].blocks
    assert [(b.section, b.text) for b in blocks] == [(["Findings"], "Knife crime fell in Halifax.")]
