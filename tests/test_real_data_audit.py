"""Regressions found by the audit of every real file in ../shared/data: titles that were made up, not printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.sources import ReadOptions, read_file
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
