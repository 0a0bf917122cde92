"""Toolkit entries: the shipped corpus matches YEF's published facts, and bad entries are refused."""

from __future__ import annotations

import csv
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from ingest.sources import ReadOptions, SourceError, read_file
from ingest.sources.toolkit import BANDS, FIELDS, load_entry
from kb.models import ToolkitEntry

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus" / "toolkit"
BAD = ROOT / "tests" / "data" / "toolkit"
TOOLKIT_DATA = ROOT.parent / "shared" / "data" / "toolkit"
FACTS_CSV = TOOLKIT_DATA / "yef-toolkit-facts.csv"
TAXONOMY = ROOT / "kb" / "taxonomy.toml"
FORMAT_DOC = ROOT / "docs" / "toolkit-format.md"
HEADINGS = ["What is it?", "Is it effective?", "How confident are we?", "Implementation"]

ENTRY_FILES = sorted(CORPUS.glob("*.toolkit.yaml"))
# A number in prose: digits with optional thousands commas and decimals ("100,000", "0.153").
NUMBER_RE = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _numbers(text: str) -> set[str]:
    return {m.group(0).replace(",", "").rstrip(".") for m in NUMBER_RE.finditer(text)}


def _cells(cell: str) -> list[str]:
    return [x.strip() for x in cell.split(";") if x.strip()]


def _as_url(address: str) -> str:
    # The CSV writes a few addresses without a scheme; entries must hold fetchable http(s) URLs.
    return address if re.match(r"https?://", address) else "https://" + address


@pytest.fixture(scope="module")
def facts() -> dict[str, dict[str, str]]:
    if not FACTS_CSV.is_file():
        pytest.skip(f"shared data not present: {FACTS_CSV} (the YEF facts the corpus was written from)")
    with FACTS_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {row["approach"]: row for row in rows}


@pytest.fixture(scope="module")
def entries() -> dict[str, ToolkitEntry]:
    return {e.approach: e for e in map(load_entry, ENTRY_FILES)}


def test_corpus_has_entries() -> None:
    assert len(ENTRY_FILES) >= 23, f"expected the YEF entries in {CORPUS}"


@pytest.mark.parametrize("path", ENTRY_FILES, ids=lambda p: p.name)
def test_corpus_entry_reads_as_one_document(path: Path) -> None:
    result = read_file(path)
    assert len(result.documents) == 1
    parsed = result.documents[0]
    entry, doc = parsed.toolkit, parsed.document
    assert entry is not None
    assert path.name == f"{entry.slug}.toolkit.yaml"
    assert doc.doc_id == entry.doc_id == f"toolkit:{entry.slug}"
    assert doc.doc_type == "toolkit" and doc.title == entry.approach
    assert doc.url == entry.source_urls[0] and doc.year is None
    if "youthendowmentfund.org.uk" in doc.url:
        assert doc.publisher == "Youth Endowment Fund"
    assert [h for h, _ in entry.sections] == HEADINGS
    assert [b.section for b in parsed.blocks] == [[entry.approach, h] for h in HEADINGS]
    assert all(b.text for b in parsed.blocks)
    assert entry.date_retrieved == "2026-11"
    # The padlocks and cost icons could not be read: no entry may claim a rating.
    assert entry.confidence_rating is None and entry.cost_rating is None


@pytest.mark.shared_data
def test_corpus_approaches_equal_csv(facts: dict, entries: dict) -> None:
    assert set(entries) == set(facts)
    assert len(ENTRY_FILES) == len(facts)


@pytest.mark.shared_data
def test_entries_match_csv_rows_exactly(facts: dict, entries: dict) -> None:
    for approach, row in facts.items():
        e = entries[approach]
        assert e.impact_band == (row["impact_band"] or None), approach
        assert e.impact_percent == (float(row["impact_percent"]) if row["impact_percent"] else None), approach
        assert e.outcome_measured == (row["outcome_measured"] or None), approach
        assert e.confidence_words == (row["confidence_in_words"] or None), approach
        assert e.evidence_basis == (row["evidence_basis"] or None), approach
        assert e.prevention_types == _cells(row["prevention_types"]), approach
        assert e.settings == _cells(row["settings"]), approach
        assert e.themes == _cells(row["themes"]), approach
        assert e.notes == (row["notes"] or None), approach
        assert len(e.other_outcomes) == len(_cells(row["other_outcomes"])), approach


@pytest.mark.shared_data
def test_every_source_address_comes_from_the_csv_row(facts: dict, entries: dict) -> None:
    for approach, row in facts.items():
        urls = entries[approach].source_urls
        listed = [_as_url(u) for u in _cells(row["source_urls"])]
        assert urls[: len(listed)] == listed, approach
        # Extra addresses are only the second-hand sources the row's notes name.
        for extra in urls[len(listed) :]:
            assert extra.split("://", 1)[1].rstrip("/") in row["notes"], (approach, extra)


@pytest.mark.shared_data
def test_no_figure_the_csv_does_not_give(facts: dict, entries: dict) -> None:
    for approach, row in facts.items():
        e = entries[approach]
        if not row["impact_percent"]:
            assert e.impact_percent is None, approach
            assert "not published" in dict(e.sections)["Is it effective?"], approach
        published = _numbers(" ".join(v for k, v in row.items() if k != "source_urls"))
        written = " ".join(text for _, text in e.sections) + " " + " ".join(o.outcome for o in e.other_outcomes)
        invented = _numbers(written) - published
        assert not invented, f"{approach}: figures not in the CSV row: {sorted(invented)}"


@pytest.mark.shared_data
def test_other_outcomes_keep_band_and_outcome(facts: dict, entries: dict) -> None:
    for approach, row in facts.items():
        for cell, outcome in zip(_cells(row["other_outcomes"]), entries[approach].other_outcomes, strict=True):
            if outcome.band is None:
                assert outcome.outcome == cell, approach
            else:
                assert cell.upper().startswith(outcome.band) and cell.endswith(outcome.outcome), approach


def test_harmful_and_insufficient_evidence_are_distinct(entries: dict) -> None:
    harmful = {a for a, e in entries.items() if e.impact_band == "HARMFUL"}
    unknown = {a for a, e in entries.items() if e.impact_band == "INSUFFICIENT EVIDENCE"}
    assert "Prison awareness programmes" in harmful
    assert "Knife crime education programmes" in unknown
    assert harmful.isdisjoint(unknown)
    for approach in unknown:
        assert "not a finding of harm" in dict(entries[approach].sections)["Is it effective?"]


def test_percent_always_has_its_outcome(entries: dict) -> None:
    for e in entries.values():
        if e.impact_percent is not None:
            assert e.outcome_measured, e.approach
            assert f"{e.impact_percent:g}%" in dict(e.sections)["Is it effective?"], e.approach


def test_links_to_priorities_and_who_levels(entries: dict) -> None:
    for e in entries.values():
        assert e.factors, f"{e.approach}: no factor, so `kb toolkit --factor` can never show it"
        assert e.priorities and set(e.priorities) <= set(range(1, 7)), e.approach
        assert e.who_levels, e.approach


def _taxonomy_factor_ids(data: dict) -> set[str]:
    """Factor ids wherever the taxonomy keeps them: a [factors.<id>] table or [[factors]] with `id`."""
    factors = data.get("factors", {})
    if isinstance(factors, dict):
        return set(factors)
    return {f["id"] for f in factors if isinstance(f, dict) and "id" in f}


def test_factor_ids_exist_in_taxonomy(entries: dict) -> None:
    if not TAXONOMY.is_file():
        pytest.skip(f"{TAXONOMY} not present yet: factor ids cannot be checked")
    taxonomy = tomllib.loads(TAXONOMY.read_text(encoding="utf-8"))
    known = _taxonomy_factor_ids(taxonomy)
    if not known:
        pytest.skip(f"no factor ids found in {TAXONOMY} (unrecognised layout)")
    levels = {w["id"] for w in taxonomy.get("who_levels", []) if isinstance(w, dict)} or None
    for e in entries.values():
        assert set(e.factors) <= known, f"{e.approach}: unknown factors {sorted(set(e.factors) - known)}"
        if levels:
            assert set(e.who_levels) <= levels, e.approach


BAD_CASES = [
    ("bad_band_very_high.toolkit.yaml", "field impact_band: 'VERY HIGH' is not one of " + ", ".join(BANDS)),
    ("bad_percent_without_outcome.toolkit.yaml", "field outcome_measured"),
    ("bad_percent_as_text.toolkit.yaml", "field impact_percent"),
    ("bad_confidence_rating_out_of_range.toolkit.yaml", "field confidence_rating"),
    ("bad_cost_rating_out_of_range.toolkit.yaml", "field cost_rating"),
    ("bad_missing_approach.toolkit.yaml", "field approach"),
    ("bad_url_without_scheme.toolkit.yaml", "field source_urls[0]"),
    ("bad_unknown_field.toolkit.yaml", "field impact_precent"),
    ("bad_priority_out_of_range.toolkit.yaml", "field priorities[1]"),
    ("bad_other_outcome_band.toolkit.yaml", "field other_outcomes[0].band"),
    ("bad_empty_sections.toolkit.yaml", "field sections"),
    ("bad_not_yaml.toolkit.yaml", "not valid YAML"),
    ("bad_not_json.toolkit.json", "not valid JSON"),
    ("bad_top_level_list.toolkit.yaml", "expected a mapping of fields"),
]


@pytest.mark.parametrize(("name", "expected"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_malformed_entry_names_file_and_field(name: str, expected: str) -> None:
    with pytest.raises(SourceError) as info:
        read_file(BAD / name)
    assert info.value.path.endswith(name)
    assert name in str(info.value)
    assert expected in info.value.reason


def test_every_bad_fixture_is_a_case() -> None:
    assert {p.name for p in BAD.glob("bad_*")} == {name for name, _ in BAD_CASES}


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "two-faults.toolkit.yaml"
    data = yaml.safe_load(ENTRY_FILES[0].read_text(encoding="utf-8"))
    data.update(impact_band="GOOD", cost_rating=4)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SourceError) as info:
        load_entry(path)
    assert "field impact_band" in info.value.reason and "field cost_rating" in info.value.reason


def test_nested_typos_repeated_headings_and_yes_as_a_number_are_all_refused(tmp_path: Path) -> None:
    # A real corpus entry with the slips a hand edit makes; the pydantic model reports each at its place.
    data = yaml.safe_load((CORPUS / "mentoring.toolkit.yaml").read_text(encoding="utf-8"))
    data["emmie"] = {"efect": "reduces violence"}
    data["sections"].append(dict(data["sections"][0]))
    data.update(cost_rating=True, settings="School", source_urls=[])
    path = tmp_path / "slips.toolkit.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SourceError) as info:
        load_entry(path)
    reason = info.value.reason
    assert "field emmie.efect: is not a known field" in reason
    assert "field sections: heading 'What is it?' is used twice" in reason
    assert "field cost_rating: True is not a whole number" in reason
    assert "field settings: expected a list" in reason
    assert "field source_urls: needs at least one item" in reason


def _corpus_data(slug: str) -> dict:
    return yaml.safe_load((CORPUS / f"{slug}.toolkit.yaml").read_text(encoding="utf-8"))


def test_json_entry_reads_like_yaml(tmp_path: Path) -> None:
    path = tmp_path / "mentoring.toolkit.json"
    path.write_text(json.dumps(_corpus_data("mentoring")), encoding="utf-8")
    assert load_entry(path) == load_entry(CORPUS / "mentoring.toolkit.yaml")


@pytest.mark.parametrize("written", ["no clear evidence", "No Clear Evidence", "insufficient evidence"])
def test_yef_wording_for_insufficient_evidence(tmp_path: Path, written: str) -> None:
    data = _corpus_data("knife-crime-education-programmes") | {"impact_band": written}
    path = tmp_path / "knife.toolkit.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_entry(path).impact_band == "INSUFFICIENT EVIDENCE"


def test_edited_entry_keeps_its_identity(tmp_path: Path) -> None:
    data = _corpus_data("mentoring")
    before = tmp_path / "before.toolkit.yaml"
    after = tmp_path / "after.toolkit.yaml"
    before.write_text(yaml.safe_dump(data), encoding="utf-8")
    data["sections"][0]["text"] += " Corrected wording."
    after.write_text(yaml.safe_dump(data), encoding="utf-8")
    old, new = read_file(before).documents[0].document, read_file(after).documents[0].document
    assert old.doc_id == new.doc_id == "toolkit:mentoring"
    assert old.content_hash != new.content_hash


def test_unquoted_full_date_is_accepted(tmp_path: Path) -> None:
    text = (CORPUS / "cctv.toolkit.yaml").read_text(encoding="utf-8")
    text = text.replace('date_retrieved: "2026-11"', "date_retrieved: 2026-11-05")  # YAML reads a date
    path = tmp_path / "cctv.toolkit.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_entry(path).date_retrieved == "2026-11-05"


def test_options_override_type_and_sensitivity() -> None:
    options = ReadOptions(doc_type="evaluation", sensitivity="official-sensitive")
    doc = read_file(CORPUS / "cctv.toolkit.yaml", options).documents[0].document
    assert doc.doc_type == "evaluation" and doc.sensitivity == "official-sensitive"


def test_non_yef_source_has_no_yef_publisher() -> None:
    doc = read_file(CORPUS / "anti-bullying-programmes.toolkit.yaml").documents[0].document
    assert doc.url.startswith("https://docslib.org/") and doc.publisher is None


def test_format_doc_describes_every_field() -> None:
    text = FORMAT_DOC.read_text(encoding="utf-8")
    missing = [f for f in FIELDS if f"`{f}`" not in text]
    assert not missing, f"{FORMAT_DOC} does not describe: {missing}"
