"""What works: `kb toolkit` shows every approach as published, filters by the entries' links, finds local evidence."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from kbfixtures import CORPUS, open_kb, run_kb

from ingest.sources.toolkit import load_entry
from kb.models import NOT_PUBLISHED, ToolkitEntry
from kb.taxonomy import load_taxonomy
from kb.toolkit import (
    LOCAL_DOC_TYPES,
    ToolkitError,
    approaches,
    compare,
    display_percent,
    entry_from_dict,
    local_evidence,
)

ENTRIES = [load_entry(p) for p in sorted((CORPUS / "toolkit").glob("*.toolkit.yaml"))]
BY_SLUG = {e.slug: e for e in ENTRIES}
TAXONOMY = load_taxonomy()
STRENGTH = ["HIGH", "MODERATE", "LOW", "INSUFFICIENT EVIDENCE", "HARMFUL"]


def _json(data_dir: Path, *args: str) -> dict:
    return json.loads(run_kb(data_dir, "toolkit", *args, "--json", check=True).stdout)


def _as_url(address: str) -> str:
    return address if re.match(r"https?://", address) else "https://" + address


@pytest.fixture(scope="module")
def listed(corpus_data_dir) -> dict:
    return _json(corpus_data_dir)


@pytest.fixture(scope="module")
def kb(corpus_data_dir):
    kb = open_kb(corpus_data_dir)
    yield kb
    kb.close()


@pytest.mark.shared_data
def test_toolkit_json_lists_every_approach_exactly_as_published(listed, shared_data) -> None:
    with (shared_data / "toolkit" / "yef-toolkit-facts.csv").open(encoding="utf-8", newline="") as fh:
        facts = list(csv.DictReader(fh))
    shown = {a["approach"]: a for a in listed["approaches"]}
    assert listed["count"] == len(facts) == len(shown)
    for row in facts:
        a = shown[row["approach"]]
        assert a["impact_band"] == (row["impact_band"] or None), row["approach"]
        assert a["outcome_measured"] == (row["outcome_measured"] or None), row["approach"]
        assert a["confidence_words"] == (row["confidence_in_words"] or None), row["approach"]
        urls = [_as_url(u.strip()) for u in row["source_urls"].split(";") if u.strip()]
        assert a["source_urls"][: len(urls)] == urls, row["approach"]
        assert a["display"]["source"] == urls[0]
        if row["impact_percent"]:
            assert a["impact_percent"] == float(row["impact_percent"])
            assert a["display"]["impact"] == f"{row['impact_percent']}% ({row['outcome_measured']})"
        else:
            # Nothing computed or guessed: no number, and the display says so.
            assert a["impact_percent"] is None
            assert a["display"]["impact"] == NOT_PUBLISHED
        if not row["impact_band"]:
            assert a["display"]["band"] == NOT_PUBLISHED


def test_harmful_and_insufficient_evidence_stay_distinct(listed) -> None:
    shown = {a["slug"]: a for a in listed["approaches"]}
    prison, knife = shown["prison-awareness-programmes"], shown["knife-crime-education-programmes"]
    assert prison["impact_band"] == "HARMFUL" and prison["harmful"] is True
    assert knife["impact_band"] == "INSUFFICIENT EVIDENCE" and knife["harmful"] is False
    assert [a["slug"] for a in listed["approaches"] if a["harmful"]] == ["prison-awareness-programmes"]


def test_order_is_strongest_band_first_then_not_published(listed) -> None:
    ranks = [STRENGTH.index(a["impact_band"]) if a["impact_band"] else len(STRENGTH) for a in listed["approaches"]]
    assert ranks == sorted(ranks)
    for rank in set(ranks):
        names = [a["approach"].lower() for a, r in zip(listed["approaches"], ranks, strict=True) if r == rank]
        assert names == sorted(names)


def test_human_output_flags_harm_and_says_not_published(corpus_data_dir) -> None:
    out = run_kb(corpus_data_dir, "toolkit", check=True, COLUMNS="200").stdout
    assert "EVIDENCE OF HARM" in out and "Prison awareness programmes" in out
    assert NOT_PUBLISHED in out and "33% (crime (average reduction))" in out


@pytest.mark.parametrize("factor", ["substance-misuse", "trusted-adult", "prior-offending"])
def test_factor_filter_returns_exactly_the_entries_that_link_it(corpus_data_dir, factor) -> None:
    got = _json(corpus_data_dir, "--factor", factor)
    assert got["filters"]["factor"] == factor
    assert {a["slug"] for a in got["approaches"]} == {e.slug for e in ENTRIES if factor in e.factors}


def test_priority_filter_returns_exactly_the_entries_that_link_it(corpus_data_dir) -> None:
    got = _json(corpus_data_dir, "--priority", "2")
    expected = {e.slug for e in ENTRIES if 2 in e.priorities}
    assert expected and {a["slug"] for a in got["approaches"]} == expected


def test_filters_agree_with_entry_links_for_every_factor_priority_and_level(kb) -> None:
    for fid in TAXONOMY.factors:
        assert {e.slug for e in approaches(kb, factor=fid)} == {e.slug for e in ENTRIES if fid in e.factors}
    for number in TAXONOMY.priorities:
        assert {e.slug for e in approaches(kb, priority=number)} == {e.slug for e in ENTRIES if number in e.priorities}
    for level in TAXONOMY.who_levels:
        assert {e.slug for e in approaches(kb, who_level=level)} == {e.slug for e in ENTRIES if level in e.who_levels}
    both = {e.slug for e in approaches(kb, factor="positive-relationships", priority=2)}
    assert both == {e.slug for e in ENTRIES if "positive-relationships" in e.factors and 2 in e.priorities}


def test_factor_may_be_given_by_label_or_synonym(kb) -> None:
    by_id = [e.slug for e in approaches(kb, factor="trusted-adult")]
    label = TAXONOMY.factors["trusted-adult"].label
    assert [e.slug for e in approaches(kb, factor=label.upper())] == by_id
    synonym = TAXONOMY.factors["trusted-adult"].synonyms[0]
    assert [e.slug for e in approaches(kb, factor=synonym)] == by_id


def test_unknown_factor_is_an_error_listing_known_ids(corpus_data_dir, kb) -> None:
    proc = run_kb(corpus_data_dir, "toolkit", "--factor", "no-such-factor")
    assert proc.returncode == 2
    assert "unknown factor 'no-such-factor'" in proc.stderr and "substance-misuse" in proc.stderr
    with pytest.raises(ToolkitError, match="priorities are 1 Individual"):
        approaches(kb, priority=9)
    with pytest.raises(ToolkitError, match="known: individual"):
        approaches(kb, who_level="planetary")


def test_entries_rebuild_from_the_catalogue_unchanged(kb) -> None:
    stored = {e.slug: e for e in approaches(kb)}
    assert stored == BY_SLUG
    for e in ENTRIES:
        assert entry_from_dict(e.to_dict()) == e


def test_display_percent_pairs_the_figure_with_its_outcome() -> None:
    entry = ToolkitEntry(slug="x", approach="X", impact_band=None, impact_percent=None, outcome_measured="violence")
    assert display_percent(entry) == NOT_PUBLISHED
    entry.impact_percent = 33.0
    assert display_percent(entry) == "33% (violence)"
    entry.impact_percent = 2.5
    assert display_percent(entry) == "2.5% (violence)"


def test_compare_puts_two_to_four_approaches_side_by_side() -> None:
    picked = [BY_SLUG["mentoring"], BY_SLUG["ae-navigators"], BY_SLUG["prison-awareness-programmes"]]
    table = compare(picked).to_dict()
    assert table["approaches"] == ["Mentoring", "A&E navigators", "Prison awareness programmes"]
    rows = {r["attribute"]: r["values"] for r in table["rows"]}
    assert rows["Impact band"] == ["MODERATE", "HIGH", "HARMFUL"]
    assert rows["Impact (% with outcome)"] == ["21% (violence)", NOT_PUBLISHED, NOT_PUBLISHED]
    assert rows["Confidence"] == [NOT_PUBLISHED, "very low", NOT_PUBLISHED]
    assert all(len(v) == 3 for v in rows.values())
    for wrong in (picked[:1], ENTRIES[:5]):
        with pytest.raises(ToolkitError, match="compare 2 to 4"):
            compare(wrong)


def _assert_local_and_cited(hits) -> None:
    for h in hits:
        assert h.document.doc_type in LOCAL_DOC_TYPES
        assert h.citation.startswith(h.document.title) and ", p. " in h.citation and "§ " in h.citation


def test_local_evidence_finds_what_the_strategy_says_about_an_approach(kb) -> None:
    hits = local_evidence(kb, BY_SLUG["hot-spots-policing"])
    assert hits and "hotspot policing" in hits[0].chunk.text
    _assert_local_and_cited(hits)
    skills = local_evidence(kb, BY_SLUG["social-skills-training"])
    assert any("social, emotional and behavioural skills" in h.chunk.text for h in skills)
    _assert_local_and_cited(skills)
    assert [h.rank for h in skills] == list(range(1, len(skills) + 1))


@pytest.mark.parametrize("slug", ["ae-navigators", "mentoring", "focused-deterrence", "sports-programmes"])
def test_local_evidence_is_empty_when_the_local_documents_do_not_discuss_it(kb, slug) -> None:
    # The strategy says "navigating", "focusing on deterrents" and "sporting violence": shared words, not evidence.
    assert local_evidence(kb, BY_SLUG[slug]) == []


def test_local_evidence_respects_sensitivity(kb) -> None:
    assert local_evidence(kb, BY_SLUG["hot-spots-policing"], sensitivities=["official-sensitive"]) == []


def test_toolkit_local_json_gives_cited_local_passages(corpus_data_dir) -> None:
    got = _json(corpus_data_dir, "--factor", "high-crime-neighbourhood", "--local")
    local = {a["slug"]: a["local_evidence"] for a in got["approaches"]}
    assert local["hot-spots-policing"], "the strategy discusses hotspot policing"
    for passages in local.values():
        for p in passages:
            assert p["doc_type"] in LOCAL_DOC_TYPES and p["citation"] and p["chunk_id"].startswith(p["doc_id"])
