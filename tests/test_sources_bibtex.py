"""BibTeX reader: one reference per entry, LaTeX decoded, macros and crossrefs resolved, bad blocks reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.sources import ReadOptions, SourceError, read_file
from kb.ids import doc_id_for

DATA = Path(__file__).resolve().parent / "data" / "sources"


def _by_key(result) -> dict:
    return {p.document.source.rsplit("#", 1)[1]: p for p in result.documents}


def test_entry_becomes_reference_document() -> None:
    result = read_file(DATA / "vru-references.bib")
    parsed = _by_key(result)["Gaffney2021"]
    document = parsed.document
    assert document.doc_type == "reference"
    assert document.title.endswith("at Risk of Involvement in Violence: A Systematic Review")
    assert document.authors == ["Gaffney, Hannah", "Jolliffe, Darrick", "White, Howard"]
    assert document.year == 2021
    assert document.doi == "10.1177/08862605211016295"
    assert document.doc_id == "doi:10.1177/08862605211016295"
    assert document.journal == "Journal of Interpersonal Violence"
    assert document.keywords == ["mentoring", "youth violence", "systematic review"]
    assert document.source == f"{DATA / 'vru-references.bib'}#Gaffney2021"
    assert result.problems == []


def test_block_is_title_and_abstract() -> None:
    parsed = _by_key(read_file(DATA / "vru-references.bib"))
    [block] = parsed["Gaffney2021"].blocks
    assert block.section == ["Abstract"]
    assert block.text.endswith("Systematic Review. Mentoring programmes reduce violence by around 21%.")
    [title_only] = parsed["YEF2022"].blocks
    assert (title_only.text, title_only.section) == ("What Works Toolkit: Mentoring", [])


def test_string_macros_and_concatenation() -> None:
    document = _by_key(read_file(DATA / "vru-references.bib"))["YEF2022"].document
    assert document.publisher == "Youth Endowment Fund (London)"
    assert document.authors == ["Youth Endowment Fund"]
    assert document.url == "https://youthendowmentfund.org.uk/toolkit/mentoring/"
    expected = doc_id_for(None, "What Works Toolkit: Mentoring 2022 Youth Endowment Fund")
    assert document.doc_id == expected


def test_latex_accents_decode_in_names() -> None:
    document = _by_key(read_file(DATA / "vru-references.bib"))["Mu2020"].document
    assert document.authors == ["Müller, Jörg", "Cañada, María"]


def test_crossref_inherits_missing_fields() -> None:
    document = _by_key(read_file(DATA / "vru-references.bib"))["Mu2020"].document
    assert document.year == 2020
    assert document.publisher == "Springer"
    assert document.journal == "Handbook of Violence Prevention"
    assert document.title == "Violence Prevention in Europe"


def test_options_override_type_and_sensitivity() -> None:
    result = read_file(
        DATA / "vru-references.bib", ReadOptions(doc_type="evaluation", sensitivity="official-sensitive")
    )
    assert {(p.document.doc_type, p.document.sensitivity) for p in result.documents} == {
        ("evaluation", "official-sensitive")
    }


def test_malformed_entry_is_reported_with_line_and_others_kept() -> None:
    result = read_file(DATA / "malformed.bib")
    assert sorted(_by_key(result)) == ["good1", "good2"]
    malformed = [p for p in result.problems if "malformed entry" in p]
    assert len(malformed) == 1 and malformed[0].startswith("line 8: malformed entry @article{broken")


def test_missing_crossref_is_a_problem_and_entry_kept() -> None:
    result = read_file(DATA / "malformed.bib")
    assert "entry good2: crossref to missingparent not found" in result.problems
    assert _by_key(result)["good2"].document.publisher == "Policy Press"


def test_latin1_file_falls_back_with_problem() -> None:
    result = read_file(DATA / "latin1.bib")
    document = result.documents[0].document
    assert document.title == "Violencia juvenil en España"
    assert document.authors == ["García, José"]
    assert document.year == 2018
    assert any("Latin-1" in p for p in result.problems)


def test_file_without_entries_fails() -> None:
    with pytest.raises(SourceError) as err:
        read_file(DATA / "empty.bib")
    assert err.value.reason.startswith("no BibTeX entries found")


@pytest.mark.shared_data
def test_shared_accents_and_braces(shared_data: Path) -> None:
    document = read_file(shared_data / "bibtex" / "traps.bib").documents[0].document
    assert document.title == "An amazing title"
    assert document.authors == ["Jean Laidé, Ben Loaeb"]


@pytest.mark.shared_data
def test_shared_utf8_encoding(shared_data: Path) -> None:
    result = read_file(shared_data / "bibtex" / "encoding.bib")
    document = result.documents[0].document
    assert document.authors == ["César, Jean"]
    assert document.journal == "Elémentaire"
    assert "french érudit word" in result.documents[0].blocks[0].text
    assert result.problems == []


@pytest.mark.shared_data
def test_shared_string_macros_concatenate(shared_data: Path) -> None:
    document = read_file(shared_data / "bibtex" / "article_with_strings.bib").documents[0].document
    assert document.authors == ["César, Jean"]
    assert document.journal == "Nice Journal"
    assert document.keywords == ["keyword1", "keyword2"]


@pytest.mark.shared_data
def test_shared_crossrefs_resolve(shared_data: Path) -> None:
    result = read_file(shared_data / "bibtex" / "crossref_entries.bib")
    by_key = _by_key(result)
    assert len(by_key) == 14
    cr1 = by_key["cr1"].document
    assert (cr1.year, cr1.publisher, cr1.journal) == (1974, "Grimble", "Graphs of the Continent")
    assert by_key["cr6"].document.journal == "Manual booktitle"  # the child's own booktitle wins
    assert result.problems == []
