"""PDF reader: page labels, text cleaning, running headers, sections, scans, encryption, corrupt files."""

from __future__ import annotations

from pathlib import Path

import pytest
from pdfmaker import make_pdf, make_scan

from ingest.sources import ReadOptions, SourceError, read_file
from ingest.sources.pdf import read
from kb.ids import doc_id_for, file_hash

HEADER = "West Yorkshire Violence Reduction Unit - Needs Assessment 2024"
REPORT_PAGES = [
    ["Foreword", "This assessment was published in March 2023 by the unit.", "i"],
    [
        HEADER,
        "1 Introduction",
        "Serious vio-",
        "lence harms communities across the county and the well-being",
        "of young people matters to every partner.",
        "A new paragraph starts here and runs on to the end of the page",
        "Page 1 of 3",
    ],
    [
        HEADER,
        "Knife crime fell in Bradford after the first year of the programme",
        "and schools reported fewer exclusions.",
        "Page 2 of 3",
    ],
    [
        HEADER,
        "2.1 Methods",
        "We interviewed forty practitioners across five districts in total,",
        "including youth workers and police officers.",
        "Page 3 of 3",
    ],
]


@pytest.fixture
def report_pdf(tmp_path: Path) -> Path:
    # Roman numerals for the foreword, then 1, 2, 3: what a reader sees printed on the pages.
    return make_pdf(
        tmp_path / "report.pdf",
        REPORT_PAGES,
        labels=[(0, 0, "/r", 1), (1, 3, "/D", 1)],
        metadata={"/Title": "Serious Violence Needs Assessment", "/Author": "A. Analyst; B. Writer"},
    )


def _blocks_with(result, phrase: str):
    return [b for b in result.documents[0].blocks if phrase in b.text]


def test_text_carries_printed_page_label_and_physical_index(report_pdf: Path) -> None:
    result = read(report_pdf, ReadOptions())
    [block] = _blocks_with(result, "Knife crime fell in Bradford")
    assert (block.page_label, block.page_index) == ("2", 3)
    [foreword] = _blocks_with(result, "This assessment was published")
    assert (foreword.page_label, foreword.page_index) == ("i", 1)


def test_hyphenation_and_line_breaks_are_cleaned(report_pdf: Path) -> None:
    result = read(report_pdf, ReadOptions())
    text = "\n".join(b.text for b in result.documents[0].blocks)
    assert "Serious violence harms communities" in text
    assert "the well-being of young people" in text
    assert "after the first year of the programme and schools" in text


def test_paragraph_ends_at_short_line_ending_a_sentence(report_pdf: Path) -> None:
    result = read(report_pdf, ReadOptions())
    [intro] = _blocks_with(result, "harms communities")
    assert intro.text.endswith("matters to every partner.")
    [following] = _blocks_with(result, "A new paragraph starts here")
    assert following.text.startswith("A new paragraph")


def test_repeated_header_and_page_numbers_are_removed(report_pdf: Path) -> None:
    result = read(report_pdf, ReadOptions())
    text = "\n".join(b.text for b in result.documents[0].blocks)
    assert "Needs Assessment 2024" not in text
    assert "Page 2 of 3" not in text
    assert not any(b.text == "i" for b in result.documents[0].blocks)


def test_heuristic_headings_become_section_paths(report_pdf: Path) -> None:
    result = read(report_pdf, ReadOptions())
    [intro] = _blocks_with(result, "harms communities")
    assert intro.section == ["1 Introduction"]
    [methods] = _blocks_with(result, "forty practitioners")
    assert methods.section == ["1 Introduction", "2.1 Methods"]


def test_metadata_title_authors_and_year(report_pdf: Path) -> None:
    doc = read(report_pdf, ReadOptions(doc_type="needs_assessment", sensitivity="official-sensitive"))
    document = doc.documents[0].document
    assert document.title == "Serious Violence Needs Assessment"
    assert document.authors == ["A. Analyst", "B. Writer"]
    assert document.year == 2023  # "published in March 2023" beats the file's creation date
    assert document.doc_type == "needs_assessment"
    assert document.sensitivity == "official-sensitive"
    assert document.status == "ok"
    assert document.doc_id.startswith("sha256:")


def test_outline_assigns_sections_by_page(tmp_path: Path) -> None:
    pdf = make_pdf(
        tmp_path / "outlined.pdf",
        [
            ["Summary", "this page sits under the summary bookmark."],
            ["Findings", "exclusion from school raises the risk."],
            ["mentoring results are described here in lower case."],
        ],
        outline=[("Summary", 0, None), ("Findings", 1, None), ("Mentoring", 2, "Findings")],
    )
    blocks = read(pdf, ReadOptions()).documents[0].blocks
    by_text = {b.text: b.section for b in blocks}
    assert by_text["this page sits under the summary bookmark."] == ["Summary"]
    assert by_text["exclusion from school raises the risk."] == ["Findings"]
    assert by_text["mentoring results are described here in lower case."] == ["Findings", "Mentoring"]


def test_contents_page_gives_the_sections_of_a_pdf_without_bookmarks(tmp_path: Path) -> None:
    """A report exported without bookmarks lists its sections on a contents page. Each entry starts its section on
    the page it names: a sentence-case heading ("3.Informed consent") the layout rules refuse, a heading that wraps
    onto a second line, and one printed in slightly other words ("Part 2: Methods & sampling")."""
    pdf = make_pdf(
        tmp_path / "guide.pdf",
        [
            ["Referring victims: a guide"],
            [
                "Contents",
                "Introduction 3",
                "Part 2 Methods and sampling 3",
                "2.1 Who took part 4",
                "3.Informed consent 4",
                "4.Identifying potential victims of modern slavery 5",
            ],
            [
                "Introduction",
                "this guide is for first responders.",
                "Part 2: Methods & sampling",
                "we spoke to twelve officers in four forces.",
            ],
            [
                "2.1 Who took part",
                "officers from police and councils took part.",
                "3.Informed consent",
                "consent is required for adults to enter the process.",
            ],
            ["4.Identifying potential victims of", "modern slavery", "signs can be physical or behavioural."],
        ],
    )
    by_text = {b.text: b.section for b in read(pdf, ReadOptions()).documents[0].blocks}
    assert by_text["this guide is for first responders."] == ["Introduction"]
    assert by_text["we spoke to twelve officers in four forces."] == ["Part 2: Methods & sampling"]
    assert by_text["officers from police and councils took part."] == [
        "Part 2: Methods & sampling",
        "2.1 Who took part",
    ]
    assert by_text["consent is required for adults to enter the process."] == ["3.Informed consent"]
    assert by_text["signs can be physical or behavioural."] == ["4.Identifying potential victims of modern slavery"]
    assert "modern slavery" not in by_text, "the heading's second line is part of the heading"
    assert [s for t, s in by_text.items() if t.startswith("Introduction 3")] == [["Contents"]]


def test_a_contents_page_that_does_not_hold_is_not_used(tmp_path: Path) -> None:
    """Entries that are not found on their pages (a contents page of another edition) give no sections: the layout
    rules do, as before."""
    pdf = make_pdf(
        tmp_path / "other.pdf",
        [
            ["Contents", "Background 2", "Findings 2", "Discussion 3", "Annex 3"],
            ["Summary Of Work", "The report sets out what we found."],
            ["Nothing here is a heading from the list above."],
        ],
    )
    by_text = {b.text: b.section for b in read(pdf, ReadOptions()).documents[0].blocks}
    assert by_text["The report sets out what we found."] == ["Summary Of Work"]


def test_bookmarks_named_for_places_are_not_sections(tmp_path: Path) -> None:
    """PLOS ONE bookmarks its PDFs "Section_1", "TABLE_1", "Figure 2", "Reference 23": no section a reader can find.
    Such bookmarks are left out, and an outline of nothing else gives way to the layout's headings."""
    pdf = make_pdf(
        tmp_path / "plos.pdf",
        [
            ["Introduction", "Frogs reproduce in many ways."],
            ["Results", "Females carry about one hundred eggs.", "References", "1. Smith J (2011) Frogs. Nature."],
        ],
        outline=[("Section_1", 0, None), ("Section_2", 1, None), ("Figure 2", 1, None), ("Reference 1", 1, None)],
    )
    by_text = {b.text: b.section for b in read(pdf, ReadOptions()).documents[0].blocks}
    assert by_text["Frogs reproduce in many ways."] == ["Introduction"]
    assert by_text["Females carry about one hundred eggs."] == ["Results"]
    assert by_text["1. Smith J (2011) Frogs. Nature."] == ["References"]


def test_a_footer_is_known_whatever_its_spacing(tmp_path: Path) -> None:
    """PLOS ONE prints its footer "... 2014 2/14" up to page 9 and "... 2014 12 / 14" from page 10; the last pages'
    footers (and the running title above them) were kept in the text."""
    words = "frogs eggs froglets females males clutches pools streams forests islands rivers leaves".split()
    pages = [
        [
            f"{word.capitalize()} are described on this page.",
            "A New Tadpole-Bearing Frog",
            f"PLOS ONE | December 31, 2014 {i}{' / ' if i >= 10 else '/'}12",
        ]
        for i, word in enumerate(words, start=1)
    ]
    text = " ".join(b.text for b in read(make_pdf(tmp_path / "f.pdf", pages), ReadOptions()).documents[0].blocks)
    assert "Leaves are described on this page." in text
    assert "PLOS ONE" not in text and "Tadpole" not in text


def test_a_footer_with_its_page_number_on_alternate_sides_is_known(tmp_path: Path) -> None:
    """BMJ Open prints "2 Corder K, et al. BMJ Open 2016;6:e012335." on even pages and "... 2016;6:e012335. 3" on odd
    ones: neither form is on half the pages, and the footer stayed in the text of every page."""
    words = "pupils mentors schools teachers points prizes classes monitors parents lessons games".split()
    pages = [
        [
            f"{word.capitalize()} are described on this page.",
            f"{i} Corder K, et al. BMJ Open 2016;6:e012335."
            if i % 2 == 0
            else f"Corder K, et al. BMJ Open 2016;6:e012335. {i}",
        ]
        for i, word in enumerate(words, start=1)
    ]
    text = " ".join(b.text for b in read(make_pdf(tmp_path / "bmj.pdf", pages), ReadOptions()).documents[0].blocks)
    assert "Games are described on this page." in text and "Corder K" not in text


def test_running_heads_of_left_and_right_hand_pages_are_known(tmp_path: Path) -> None:
    """A journal sets its authors over left-hand pages and its name over right-hand ones: each head is on half the
    pages less one, and both stayed in the text (Peach and Martin 2016)."""
    words = "plans snacks fruit schools pupils booklets habits goals diaries classes lessons".split()
    pages = [
        [
            f"{word.capitalize()} are described on this page.",
            f"{i} E. PEACH AND J. MARTIN" if i % 2 == 0 else f"HEALTH PSYCHOLOGY AND BEHAVIORAL MEDICINE {i}",
        ]
        for i, word in enumerate(words, start=1)
    ]
    text = " ".join(b.text for b in read(make_pdf(tmp_path / "tf.pdf", pages), ReadOptions()).documents[0].blocks)
    assert "Lessons are described on this page." in text
    assert "PEACH" not in text and "BEHAVIORAL" not in text


def test_a_contents_entry_is_not_the_running_line_of_its_heading(tmp_path: Path) -> None:
    """Page numbers at either end of a line are set aside to find running heads, so a short report's contents
    entry "Findings 2" and its heading "Findings" must still differ: once both were stripped as running lines."""
    pdf = make_pdf(
        tmp_path / "short.pdf",
        [
            ["Contents", "Introduction 1", "Findings 2"],
            ["Introduction", "This evaluation looked at youth work in Kirklees."],
            ["Findings", "Referrals to the boxing club rose sharply."],
        ],
    )
    by_text = {b.text: (b.section, b.page_label) for b in read(pdf, ReadOptions()).documents[0].blocks}
    assert by_text["Referrals to the boxing club rose sharply."] == (["Findings"], "3")


def test_doi_on_first_page_becomes_doc_id(tmp_path: Path) -> None:
    pdf = make_pdf(
        tmp_path / "paper.pdf",
        [["Mentoring and Youth Violence", "doi: 10.1016/J.AVB.2020.101234", "Body text here."]],
    )
    document = read(pdf, ReadOptions()).documents[0].document
    assert document.doi == "10.1016/j.avb.2020.101234"
    assert document.doc_id == doc_id_for("10.1016/j.avb.2020.101234", "")


def test_title_falls_back_to_first_line_when_metadata_is_a_filename(tmp_path: Path) -> None:
    pdf = make_pdf(
        tmp_path / "x.pdf",
        [["Youth Violence in Leeds", "Some text about the city."]],
        metadata={"/Title": "Microsoft Word - draft3.docx"},
    )
    assert read(pdf, ReadOptions()).documents[0].document.title == "Youth Violence in Leeds"


def test_scan_without_text_layer_is_no_text(tmp_path: Path) -> None:
    pdf = make_scan(tmp_path / "scan.pdf")
    [parsed] = read(pdf, ReadOptions()).documents
    assert parsed.document.status == "no_text"
    assert parsed.blocks == []
    assert parsed.document.doc_id == "sha256:" + file_hash(pdf.read_bytes())[:32]


def test_password_protected_pdf_raises_encrypted(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "locked.pdf", [["Secret text."]], user_password="s3cret")
    with pytest.raises(SourceError) as err:
        read(pdf, ReadOptions())
    assert err.value.reason.startswith("encrypted: password required; ")


def test_pdf_encrypted_with_empty_password_is_read(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "owner-only.pdf", [["Open to all readers."]], user_password="")
    [block] = read(pdf, ReadOptions()).documents[0].blocks
    assert block.text == "Open to all readers."


def test_truncated_pdf_is_reported_as_corrupt(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\ntrailer << /Root 1 0 R >>\n")
    with pytest.raises(SourceError) as err:
        read_file(bad)
    assert err.value.reason.startswith("corrupt PDF: ")


@pytest.mark.shared_data
def test_shared_minimal_document_dehyphenates_and_drops_page_number(shared_data: Path) -> None:
    [parsed] = read_file(shared_data / "pdfs" / "minimal-document.pdf").documents
    # Regression (real-data audit): it prints no title, and its title was its first body line, cut mid-sentence
    # ("Lorem ipsum dolor sit amet, consetetur sadipscing elitr, sed diam nonumy eirmod"): the file name it is.
    assert (parsed.document.title, parsed.document.field_sources.get("title")) == ("minimal-document", None)
    [block] = parsed.blocks
    assert "no sea takimata sanctus" in block.text
    assert block.text.endswith("sanctus est Lorem ipsum dolor sit amet.")
    assert (block.page_label, block.page_index) == ("1", 1)


@pytest.mark.shared_data
def test_shared_multicolumn_expands_ligatures_and_keeps_pages(shared_data: Path) -> None:
    [parsed] = read_file(shared_data / "pdfs" / "multicolumn.pdf").documents
    assert parsed.document.title == "Two-Column Document with Lorem Ipsum"
    # Regression (real-data audit): the LaTeX template's "Your Name" under the title was taken as its author.
    assert parsed.document.authors == []
    assert (parsed.document.year, parsed.document.field_sources["year"]) == (2024, "layout")  # "January 3, 2024"
    text = " ".join(b.text for b in parsed.blocks)
    assert "two columns filled with Lorem Ipsum" in text
    assert "\ufb01" not in text
    [page2] = [b for b in parsed.blocks if b.text.startswith("Suspendisse vel felis")]
    assert page2.page_label == "2"


@pytest.mark.shared_data
def test_shared_scan_is_no_text(shared_data: Path) -> None:
    [parsed] = read_file(shared_data / "pdfs" / "imagemagick-CCITTFaxDecode.pdf").documents
    assert parsed.document.status == "no_text"
    assert parsed.blocks == []
    # Its /Title is the file name plus a NUL: no title, and no source claimed for the file name.
    assert (parsed.document.title, parsed.document.field_sources.get("title")) == ("imagemagick-CCITTFaxDecode", None)


@pytest.mark.shared_data
def test_shared_encrypted_pdf_asks_for_password_and_says_what_to_do(shared_data: Path) -> None:
    """Regression (real-data audit): "encrypted: password required" named no remedy, and kb ingest takes no
    password; the reason now says how to make a copy it can read."""
    with pytest.raises(SourceError) as err:
        read_file(shared_data / "pdfs" / "libreoffice-writer-password.pdf")
    assert err.value.reason.startswith("encrypted: password required")
    assert "save a copy without the password" in err.value.reason and "ingest that copy" in err.value.reason


@pytest.mark.shared_data
def test_shared_corrupt_pdf_names_pypdf_error(shared_data: Path) -> None:
    with pytest.raises(SourceError) as err:
        read_file(shared_data / "pdfs" / "unreadablemetadata.pdf")
    assert err.value.reason == "corrupt PDF: Invalid object in /Pages; get a fresh copy or re-save it as PDF"
