"""HTML reader: a saved report page is read without its navigation, header, footer or cookie banner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kbfixtures import run_kb

from ingest.sources import ReadOptions, SourceError, read_file
from kb.html_text import main_text

PAGE = Path(__file__).parent / "data" / "sources" / "saved-report.html"
CHROME = [
    "Accept all cookies",
    "We use cookies",
    "Skip to main content",
    "Funding opportunities",
    "About the partnership",
    "Search this site",
    "Accessibility statement",
    "Privacy notice",
    "Registered office",
    "Follow us on social media",
]


def test_saved_page_is_read_without_navigation_footer_or_banner():
    [parsed] = read_file(PAGE, ReadOptions()).documents
    doc = parsed.document
    text = "\n".join(b.text for b in parsed.blocks)
    for chrome in CHROME:
        assert chrome not in text, chrome
    assert "permanently excluded from school are far more likely" in text
    assert doc.title == "Knife crime and school exclusions: what the evidence says"
    assert (doc.authors, doc.year, doc.publisher) == (["Priya Shah"], 2024, "Northfield Violence Reduction Unit")
    assert doc.url == "https://www.northfield-vru.example.org/evidence/knife-crime-school-exclusions"
    sections = {b.section[-1] for b in parsed.blocks if b.section}
    assert {"What we found", "What works", "Recommendations for partners"} <= sections
    [items] = [b.text for b in parsed.blocks if b.section[-1:] == ["What works"]]
    assert items.count("\n") == 2  # the three list items stay items


def test_main_text_for_scanned_links_gives_paragraphs_without_menus():
    page = main_text(PAGE.read_text(encoding="utf-8"))
    paragraphs = page.text.split("\n\n")
    assert paragraphs[0] == "Knife crime and school exclusions: what the evidence says"
    assert not any(chrome in page.text for chrome in CHROME)
    assert page.date == "2024-05-14"


def test_marking_in_a_banner_makes_the_page_official_sensitive(tmp_path):
    marked = tmp_path / "marked.html"
    html = PAGE.read_text(encoding="utf-8")
    marked.write_text(html.replace("<body>", '<body><div class="banner">Official – Sensitive</div>'), encoding="utf-8")
    assert read_file(marked, ReadOptions()).documents[0].document.sensitivity == "official-sensitive"
    assert read_file(PAGE, ReadOptions()).documents[0].document.sensitivity == "official"


def test_page_without_main_text_is_refused_with_the_remedy(tmp_path):
    menu = tmp_path / "menu.html"
    menu.write_text("<html><body><nav><a href='/'>Home</a> <a href='/about'>About</a></nav></body></html>")
    with pytest.raises(SourceError) as err:
        read_file(menu)
    assert "no main text" in err.value.reason and "save the report itself" in err.value.reason


def test_saved_page_is_searchable_and_cites_its_section(tmp_path):
    data = tmp_path / "kb"
    run_kb(data, "ingest", str(PAGE), check=True)
    out = json.loads(run_kb(data, "search", "inclusion units instead of exclusion", "-k", "3", "--json").stdout)
    best = out["results"][0]["passages"][0]
    assert "Inclusion units within mainstream schools" in best["text"]
    assert "What works" in best["citation"] and best["year"] == 2024
