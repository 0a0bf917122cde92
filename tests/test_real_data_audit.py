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
