"""Text and Markdown reader: front matter, heading paths, page markers, paragraphs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.sources import ReadOptions, SourceError, read_file

DATA = Path(__file__).resolve().parent / "data" / "sources"


def _block(result, phrase: str):
    [block] = [b for b in result.documents[0].blocks if phrase in b.text]
    return block


def test_front_matter_fills_document_fields() -> None:
    result = read_file(DATA / "strategy.md")
    document = result.documents[0].document
    assert (document.title, document.field_sources["title"]) == ("Serious Violence Strategy 2022-2025", "metadata")
    assert document.year == 2022
    assert document.authors == ["West Yorkshire Violence Reduction Unit", "Smith, Jane"]
    assert document.publisher == "West Yorkshire Combined Authority"
    assert document.doc_type == "strategy"
    assert document.districts == ["Bradford", "Calderdale", "Kirklees", "Leeds", "Wakefield"]
    assert document.url == "https://example.org/strategy"
    assert result.problems == []


def test_option_doc_type_overrides_front_matter() -> None:
    result = read_file(DATA / "strategy.md", ReadOptions(doc_type="evaluation", sensitivity="official-sensitive"))
    document = result.documents[0].document
    assert (document.doc_type, document.sensitivity) == ("evaluation", "official-sensitive")


def test_markdown_headings_nest_by_level() -> None:
    result = read_file(DATA / "strategy.md")
    assert _block(result, "preventable").section == ["Our Strategy"]
    assert _block(result, "excluded from school").section == ["Our Strategy", "Priority 1: Early Intervention"]
    assert _block(result, "Mentoring reduces").section == [
        "Our Strategy",
        "Priority 1: Early Intervention",
        "Evidence",
    ]
    assert _block(result, "Hotspot").section == ["Our Strategy", "Priority 2: Places"]


def test_code_fence_hides_heading_syntax() -> None:
    result = read_file(DATA / "strategy.md")
    assert "# this is code" in _block(result, "this is code").text
    assert all("this is code" not in part for b in result.documents[0].blocks for part in b.section)


def test_page_markers_label_following_paragraphs() -> None:
    result = read_file(DATA / "strategy.md")
    assert _block(result, "preventable").page_label is None
    assert _block(result, "excluded from school").page_label == "12"
    assert _block(result, "Mentoring reduces").page_label == "13"
    assert _block(result, "Mentoring reduces").page_index is None


def test_paragraphs_unwrap_but_lists_keep_their_lines() -> None:
    result = read_file(DATA / "strategy.md")
    assert _block(result, "excluded from school").text == (
        "Young people excluded from school are at greater risk of becoming involved in violence."
    )
    assert _block(result, "mentoring in schools").text == "- mentoring in schools\n- trauma-informed practice"


def test_plain_text_underlined_headings_and_pages() -> None:
    result = read_file(DATA / "needs-assessment.txt")
    document = result.documents[0].document
    assert document.title == "Strategic Needs Assessment"
    assert document.doc_type == "research"
    knife = _block(result, "Knife crime rose")
    assert knife.section == ["Strategic Needs Assessment"]
    assert knife.text == "Knife crime rose in the year to March, mainly among young men aged 15 to 24."
    trusted = _block(result, "Trusted adults")
    assert trusted.section == ["Strategic Needs Assessment", "Protective Factors"]
    assert trusted.page_label == "iv"


def test_plain_text_without_headings_has_no_sections(tmp_path: Path) -> None:
    note = tmp_path / "briefing-note.txt"
    note.write_text("# not markdown here\n\nA paragraph.\n", encoding="utf-8")
    result = read_file(note)
    assert result.documents[0].document.title == "briefing-note"
    assert [(b.text, b.section) for b in result.documents[0].blocks] == [
        ("# not markdown here", []),
        ("A paragraph.", []),
    ]


def test_title_defaults_to_first_h1_then_stem(tmp_path: Path) -> None:
    with_h1 = tmp_path / "notes.md"
    with_h1.write_text("Intro text.\n\n## Second\n\nMore.\n\n# Real Title\n\nBody.\n", encoding="utf-8")
    doc = read_file(with_h1).documents[0].document
    assert (doc.title, doc.field_sources["title"]) == ("Real Title", "layout")
    without = tmp_path / "county-lines.md"
    without.write_text("Just text.\n", encoding="utf-8")
    doc = read_file(without).documents[0].document
    # The first H1 is read off the page ("layout"); a file name claims no source.
    assert (doc.title, doc.field_sources.get("title")) == ("county-lines", None)


def test_latin1_file_is_read_with_a_problem() -> None:
    result = read_file(DATA / "latin1.md")
    assert result.documents[0].document.title == "été"
    assert result.documents[0].blocks[0].text == "Café culture and violence."
    assert any("Latin-1" in p for p in result.problems)


def test_bad_front_matter_is_a_problem_not_a_failure(tmp_path: Path) -> None:
    doc = tmp_path / "bad.md"
    doc.write_text("---\ntitle: [unclosed\n---\n\nBody text.\n", encoding="utf-8")
    result = read_file(doc)
    assert result.documents[0].blocks[0].text == "Body text."
    assert result.problems and result.problems[0].startswith("front matter ignored")


def test_unknown_doc_type_in_front_matter_is_reported(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("---\ndoc_type: leaflet\n---\nText.\n", encoding="utf-8")
    result = read_file(doc)
    assert result.documents[0].document.doc_type == "research"
    assert "doc_type 'leaflet' ignored" in result.problems[0]


def test_same_text_gives_same_id_and_hash(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("Violence is preventable.\n", encoding="utf-8")
    b.write_text("Violence   is\npreventable.\n", encoding="utf-8")
    da, db = read_file(a).documents[0].document, read_file(b).documents[0].document
    assert da.doc_id == db.doc_id and da.doc_id.startswith("sha256:")
    assert da.content_hash == db.content_hash


def test_empty_file_fails_with_reason(tmp_path: Path) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("---\ntitle: Nothing\n---\n\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        read_file(empty)
    assert err.value.reason.startswith("no text")


@pytest.mark.parametrize(
    "marking", ["OFFICIAL-SENSITIVE", "Official Sensitive", "Official – Sensitive", "official:\nsensitive"]
)
def test_marking_in_the_text_makes_it_official_sensitive(tmp_path, marking):
    note = tmp_path / "briefing.txt"
    note.write_text(f"{marking}\n\nNames of the young people referred are in annex B.\n", encoding="utf-8")
    assert read_file(note).documents[0].document.sensitivity == "official-sensitive"


def test_official_alone_is_not_a_sensitive_marking(tmp_path):
    note = tmp_path / "briefing.md"
    note.write_text("OFFICIAL\n\nThe official figures are sensitive to the way offences are recorded.\n")
    assert read_file(note).documents[0].document.sensitivity == "official"
