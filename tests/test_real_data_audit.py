"""Regressions found by the audit of every real file in ../shared/data: titles that were made up, not printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.sources import ReadOptions, pdf_layout, read_file
from ingest.sources.pdf_title import fallback_title


@pytest.mark.shared_data
def test_a_book_page_scan_with_no_title_line_keeps_its_file_name(shared_data: Path) -> None:
    """c02-22.pdf was titled "Achapter", and its passages cited "§ Achapter": Tesseract reads the drop capital and
    "Chapter II." as one word (confidence 41), which then passed as the first heading; the illustration came out
    as "Wy ee oe ‘ Sl Fat 4" (30-40). A book page prints no title of the book, so the file name it is, with no
    source claimed for it; lines read below ocr.MIN_LINE_CONFIDENCE are not text."""
    [parsed] = read_file(shared_data / "scans" / "c02-22.pdf", ReadOptions()).documents
    assert parsed.document.status == "ocr"
    assert (parsed.document.title, parsed.document.field_sources.get("title")) == ("c02-22", None)
    text = " ".join(b.text for b in parsed.blocks)
    assert "Achapter" not in text and "Sl Fat" not in text and not any(b.section for b in parsed.blocks)
    assert "THEY TIP-TOED ALONG." in text  # the caption reads at 89+: kept


@pytest.mark.shared_data
def test_a_scan_that_prints_its_title_keeps_it(shared_data: Path) -> None:
    """The other side of the fix above: the LinnSequencer brochure's first heading is its title."""
    [parsed] = read_file(shared_data / "scans" / "linn.pdf", ReadOptions()).documents
    assert (parsed.document.title, parsed.document.field_sources["title"]) == ("The LinnSequencer", "layout")


@pytest.mark.parametrize(
    ("first_line", "headings", "title"),
    [
        ("", ["Achapter"], None),  # an OCR fragment
        ("", ["Chapter II."], None),  # where a chapter starts, not what the document is
        ("", ["Introduction", "Part 3"], None),
        ("", ["Contents", "1.What is modern slavery?"], None),  # headings a contents page lists are sections
        ("", ["2.1 Methods", "Youth Violence in Leeds"], "Youth Violence in Leeds"),
        ("", ["2020 Vision for Youth Services"], "2020 Vision for Youth Services"),
        ("", ["Abstract", "Youth Violence in Leeds"], "Youth Violence in Leeds"),
        ("Knife Crime Needs Assessment", ["Methods"], "Knife Crime Needs Assessment"),
        ("DRAFT", ["Youth Violence in Leeds"], "Youth Violence in Leeds"),
        ("x" * 151 + " words", ["Youth Violence in Leeds"], "Youth Violence in Leeds"),
    ],
)
def test_fallback_title_takes_only_what_reads_as_a_title(first_line: str, headings: list[str], title) -> None:
    assert fallback_title(first_line, headings) == title


@pytest.mark.shared_data
def test_a_label_tree_out_of_step_with_the_printed_page_numbers_is_corrected(shared_data: Path) -> None:
    """The BMC article's /PageLabels name its pages "0", "1", ... while they print "Page 2 of 13" on the second:
    every passage cited a page short of what the reader sees."""
    path = shared_data / "real-pdfs" / "bmcpublichealth2014_epton_uatuni_students.pdf"
    [parsed] = read_file(path, ReadOptions()).documents
    [background] = [b for b in parsed.blocks if b.text.startswith("Young people are at risk of developing serious")]
    assert (background.page_label, background.page_index) == ("2", 2)
    assert {b.page_label for b in parsed.blocks if b.page_index == 1} == {"1"}


@pytest.mark.shared_data
def test_a_publishers_cover_before_page_1_is_not_counted_as_a_page(shared_data: Path) -> None:
    """Taylor & Francis put a download cover before the article, and the label tree numbers it 1: every passage
    cited a page ahead of the number printed in the article's running head ("2 E. PEACH AND J. MARTIN")."""
    path = shared_data / "real-pdfs" / "hpbm2016_peach_adolescent_healthy_eating_tandf_coverpage.pdf"
    [parsed] = read_file(path, ReadOptions()).documents
    labels = {b.page_index: b.page_label for b in parsed.blocks}
    assert labels[1] == "[cover]" and labels[2] == "1" and labels[5] == "4"  # page_index counts from 1
    [method] = [b for b in parsed.blocks if "Participants were 107 students" in b.text]
    assert method.page_label == "4", "Method 2.1 starts on the page printed 4"


@pytest.mark.parametrize(
    ("labels", "printed", "want"),
    [
        (["0", "1", "2", "3"], [None, 2, 3, 4], ["1", "2", "3", "4"]),  # the tree a page short: the pages win
        (["i", "ii", "1", "2", "3"], [None, None, 1, 2, 3], ["i", "ii", "1", "2", "3"]),  # tree and pages agree
        (["1", "2", "3", "4"], [None, 1, 2, 3], ["[cover]", "1", "2", "3"]),  # a cover before page 1
        (["1", "2", "3", "4", "5"], [None, None, 1, 2, 3], ["[front 1]", "[front 2]", "1", "2", "3"]),
        ([str(n) for n in range(1, 9)], [None] * 5 + [1, 2, 3], [str(n) for n in range(1, 9)]),  # 1 too late
        (["1", "2", "3", "4"], [None, 7, None, 4], ["1", "2", "3", "4"]),  # two numbers are not a pattern
        (["1", "2", "3", "4", "5"], [12, 40, 3, 17, 99], ["1", "2", "3", "4", "5"]),  # numbers, no steady offset
    ],
)
def test_printed_page_numbers_replace_labels_only_when_steady(labels: list[str], printed: list, want: list) -> None:
    pages = [["Body text of the page."] + ([f"Report 2014 Page {n} of 13"] if n else []) for n in printed]
    assert pdf_layout.printed_labels(labels, pages) == want


def test_a_publishers_cover_before_journal_pages_is_the_cover() -> None:
    """A JSTOR download: a cover sheet, then an article printing its journal's page numbers from 233. The steady
    offset alone would have labelled the cover 232, a page the journal never printed."""
    cover = ["To cite this article: A. Author (1999)", "Stable URL: http://www.jstor.org/stable/1", "Body."]
    numbers = (None, 234, 235, 236)
    article = [["Body text of the page."] + ([f"Report 2014 Page {n} of 13"] if n else []) for n in numbers]
    labels = ["1", "2", "3", "4", "5"]
    assert pdf_layout.printed_labels(labels, [cover, *article]) == ["[cover]", "233", "234", "235", "236"]
    # One cue is not a cover: a first page the article does not number takes the offset's number.
    assert pdf_layout.printed_labels(labels, [cover[1:], *article]) == ["232", "233", "234", "235", "236"]


@pytest.mark.shared_data
def test_a_title_that_is_only_the_file_name_says_so_in_kb_docs(shared_data: Path, tmp_path: Path) -> None:
    """minimal-document.pdf prints no title, so it is listed by its file name; `kb docs` said that title came
    from the file's "metadata", which it never held."""
    import json

    from kbfixtures import run_kb

    data = tmp_path / "kb"
    run_kb(data, "ingest", str(shared_data / "pdfs" / "minimal-document.pdf"), check=True)
    [doc] = json.loads(run_kb(data, "docs", "--json", check=True).stdout)["documents"]
    assert (doc["title"], doc["field_sources"]["title"]) == ("minimal-document", "file name")


def _sections(path: Path) -> dict[str, list[str]]:
    """{section path joined by ' › ': the page labels its blocks start on}."""
    out: dict[str, list[str]] = {}
    for b in read_file(path, ReadOptions()).documents[0].blocks:
        out.setdefault(" › ".join(b.section), []).append(b.page_label)
    return out


def test_a_report_without_bookmarks_takes_its_sections_from_its_contents_page() -> None:
    """The Home Office first responder guide (in the sample corpus) has no bookmarks. Its sentence-case headings
    ("3.Informed consent", "4.Duty to Notify") failed the layout rules, so 180 blocks from pages 4 to 26 were cited
    "§ Introduction" and the Duty to Notify passage "§ Introduction › 2.What is the NRM process?". Its contents page
    lists all 16 sections with their pages; each now starts where the page prints it."""
    guide = Path(__file__).resolve().parents[1] / "corpus" / "research"
    sections = _sections(guide / "homeoffice2025_first_responder_guide_modern_slavery_OGL.pdf")
    assert sections["Introduction"] == ["4"] * 6
    assert set(sections["4.Duty to Notify"]) == {"9"}
    assert set(sections["6.Identifying potential victims of modern slavery"]) == {"12"}  # a heading on two lines
    assert sections["Annex A: General indicators of Modern Slavery"][0] == "32"
    assert len([s for s in sections if s]) == 17  # the contents page itself, and the 16 sections it lists


@pytest.mark.shared_data
def test_hmrc_report_sections_follow_its_contents_page(shared_data: Path) -> None:
    """HMRC Research Report 361: the layout rules missed 3.1, 3.2 and eight subsections, and filed pages 22-28 under
    "Keytime Iris Andica", three software names in a table. The contents page prints "Part 1 Introduction and
    Background" for the page's "Part 1: Introduction & Background", and "return process" for "returns process"."""
    sections = _sections(shared_data / "real-pdfs" / "hmrc2015_research_report_361_risk_triggers.pdf")
    assert "Keytime Iris Andica" not in " ".join(sections)
    assert sections["Part 1: Introduction & Background › 1.2 Research objectives"][0] == "6"
    assert sections["Part 3: Main Findings › 3.2 The HMRC risk triggers › 3.2.4 Responses to the triggers"][0] == "14"
    assert set(sections["Appendix 3 – Case studies"]) == {"26", "27", "28"}


@pytest.mark.shared_data
def test_plos_bookmarks_named_for_places_give_way_to_the_printed_headings(shared_data: Path) -> None:
    """PLOS ONE's bookmarks are "Section_1" ... "Section_20", "TABLE_1", "Reference 23": the frog paper's passages
    were cited "§ Section_16", and its reference list, under "Reference 2", escaped the reference prior. Its footer,
    spaced "12 / 14" from page 10 on, stayed in the text of the last five pages with the running title."""
    from kb.rank import section_kind

    pdf = shared_data / "real-pdfs" / "plosone2014_iskandar_fanged_frog.pdf"
    sections = _sections(pdf)
    assert {"Introduction", "Materials and Methods", "Results", "Discussion", "References"} <= set(sections)
    assert not any("Section_" in s or "Reference " in s for s in sections)
    assert section_kind('["References"]') == "references" and set(sections["References"]) == {"12", "13", "14"}
    text = " ".join(b.text for b in read_file(pdf, ReadOptions()).documents[0].blocks)
    assert "journal.pone.0115884 December 31" not in text and "A New Tadpole-Bearing Frog" not in text


@pytest.mark.shared_data
def test_bmj_footer_is_stripped_from_every_page(shared_data: Path) -> None:
    """The GoActive trial (BMJ Open) printed "Corder K, et al. BMJ Open 2016;6:e012335. doi:10.1136/bmjopen-2016-012335"
    inside the text of all 14 pages, where a passage began "... 012335 11 emphasis on the importance of wear"."""
    pdf = shared_data / "real-pdfs" / "bmjopen2016_corder_goactive_adolescents.pdf"
    blocks = read_file(pdf, ReadOptions()).documents[0].blocks
    assert not [b.page_label for b in blocks if "Corder K, et al. BMJ Open" in b.text]
    assert any("emphasis on the importance of wear and return" in b.text for b in blocks)


@pytest.mark.shared_data
def test_taylor_and_francis_running_heads_are_stripped(shared_data: Path) -> None:
    """Peach and Martin (2016) set "2 E. PEACH AND J. MARTIN" over even pages and "HEALTH PSYCHOLOGY AND BEHAVIORAL
    MEDICINE 3" over odd ones; each was on five of eleven pages, under the half-the-pages rule, and both ran into
    the text. The page numbers they carry still give the printed pages."""
    pdf = shared_data / "real-pdfs" / "hpbm2016_peach_adolescent_healthy_eating_tandf_coverpage.pdf"
    blocks = read_file(pdf, ReadOptions()).documents[0].blocks
    assert not [b.page_label for b in blocks if "PEACH AND J. MARTIN" in b.text]
    heads = [b.text.count("BEHAVIORAL MEDICINE") for b in blocks]
    assert sum(heads) == 1 and "BEHAVIORAL MEDICINE, 2016 VOL. 5" in " ".join(b.text for b in blocks), "the masthead"
    assert {b.page_label for b in blocks} >= {"[cover]", "1", "7", "10"}
