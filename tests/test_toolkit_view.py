"""What works: `kb toolkit` shows every approach as published, filters by the entries' links, finds local evidence."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from kbfixtures import CORPUS, open_kb, run_kb

from ingest.sources.toolkit import load_entry
from kb.models import NOT_CAPTURED, NOT_PUBLISHED, ToolkitEntry
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
            # Nothing computed or guessed: no number, and the display says why (the facts note it was not
            # captured, or it was not published in what was seen).
            assert a["impact_percent"] is None
            unread = "percentage not captured" in row["notes"]
            assert a["display"]["impact"] == (NOT_CAPTURED if unread else NOT_PUBLISHED), row["approach"]
        if not row["impact_band"]:
            # The facts file's README: an empty band is one that was not captured.
            assert a["display"]["band"] == NOT_CAPTURED


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
    out = run_kb(corpus_data_dir, "toolkit", check=True, COLUMNS="300").stdout
    assert "EVIDENCE OF HARM" in out and "Prison awareness programmes" in out
    assert NOT_PUBLISHED in out and "33% (crime (average reduction))" in out and NOT_CAPTURED in out


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
    # YEF rates every strand's evidence in padlocks; they were not read, which is not "not published".
    assert rows["Confidence"] == [NOT_CAPTURED, f"very low; padlock rating {NOT_CAPTURED}", NOT_CAPTURED]
    assert rows["Cost"] == [NOT_CAPTURED] * 3
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


@pytest.mark.parametrize("slug", ["ae-navigators", "focused-deterrence"])
def test_local_evidence_is_empty_when_the_local_documents_do_not_discuss_it(kb, slug) -> None:
    # The strategy says "navigating" and "focusing on deterrents": shared words, not evidence.
    assert local_evidence(kb, BY_SLUG[slug]) == []


@pytest.mark.parametrize(
    ("slug", "study", "words"),
    [
        ("mentoring", "GoActive intervention", "mentors"),
        ("sports-programmes", "Girls in Sport group randomized trial", "sport"),
    ],
)
def test_local_evidence_finds_the_real_trials_of_the_sample_corpus(kb, slug, study, words) -> None:
    # The corpus PDFs: GoActive's older-student mentors and Girls in Sport's school sport sessions are local
    # evidence of these approaches; the strategy's "sporting violence" alone never was.
    hits = local_evidence(kb, BY_SLUG[slug])
    assert hits and all(study in h.document.title for h in hits)
    assert all(words in h.chunk.text.lower() for h in hits)
    assert all(re.search(r", pp?\. \d", h.citation) for h in hits), "cited at their printed pages"


def test_local_evidence_respects_sensitivity(kb) -> None:
    assert local_evidence(kb, BY_SLUG["hot-spots-policing"], sensitivities=["official-sensitive"]) == []


def test_toolkit_local_json_gives_cited_local_passages(corpus_data_dir) -> None:
    got = _json(corpus_data_dir, "--factor", "high-crime-neighbourhood", "--local")
    local = {a["slug"]: a["local_evidence"] for a in got["approaches"]}
    assert local["hot-spots-policing"], "the strategy discusses hotspot policing"
    for passages in local.values():
        for p in passages:
            assert p["doc_type"] in LOCAL_DOC_TYPES and p["citation"] and p["chunk_id"].startswith(p["doc_id"])


# -- "not recorded here" is not "not published" ---------------------------------------------------

FIELD_DISPLAY = {
    "impact_band": "band",
    "impact_percent": "impact",
    "confidence_words": "confidence",
    "confidence_rating": "confidence",
    "cost_rating": "cost",
    "evidence_basis": "evidence_basis",
}


@pytest.mark.shared_data
def test_what_yef_publishes_but_we_did_not_read_is_never_shown_as_not_published(listed, shared_data) -> None:
    readme = " ".join((shared_data / "toolkit" / "README.md").read_text(encoding="utf-8").split())
    # The facts file says YEF's padlock and cost ratings are icons that could not be read.
    assert "could not be read" in readme and "padlocks" in readme
    for a in listed["approaches"]:
        yef = any("youthendowmentfund.org.uk" in u for u in a["source_urls"])
        if yef:
            assert {"confidence_rating", "cost_rating"} <= set(a["not_captured"]), a["slug"]
        for field in a["not_captured"]:
            shown = a["display"][FIELD_DISPLAY[field]]
            assert NOT_PUBLISHED not in shown and NOT_CAPTURED in shown, (a["slug"], field, shown)


def test_a_field_recorded_as_unread_may_not_also_carry_a_value(tmp_path) -> None:
    from ingest.sources import SourceError

    text = (CORPUS / "toolkit" / "mentoring.toolkit.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toolkit.yaml"
    bad.write_text(text.replace("not_captured:\n", "not_captured:\n- impact_percent\n- padlocks\n"))
    with pytest.raises(SourceError) as err:
        load_entry(bad)
    assert "impact_percent has a value" in str(err.value) and "'padlocks' is not one of" in str(err.value)


def test_what_works_page_links_to_the_source_for_what_was_not_recorded(corpus_data_dir, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("KB_DATA_DIR", str(corpus_data_dir))
    at = AppTest.from_file(str(Path(__file__).parents[1] / "app/pages/2_What_works.py"), default_timeout=300)
    at.run()
    assert not at.exception
    # Markdown as the page writes it, less the escapes that keep a source's own text from being read as Markdown.
    cards = [
        re.sub(r"\\([\\`*_{}\[\]()#+\-.!|~$>])", r"\1", m.value)
        for m in at.markdown
        if m.value.startswith("**Impact:**")
    ]
    assert len(cards) == len(ENTRIES)
    mentoring = BY_SLUG["mentoring"]
    card = next(c for c in cards if "21% (violence)" in c)
    assert f"**Cost:** not recorded here — [see source]({mentoring.source_urls[0]})" in card
    unread_cost = [e for e in ENTRIES if "cost_rating" in e.not_captured]
    assert sum("**Cost:** not recorded here — [see source](" in c for c in cards) == len(unread_cost)
    assert sum("**Cost:** not published" in c for c in cards) == len(ENTRIES) - len(unread_cost)
    assert not any("**Confidence:** not published" in c for c in cards if "padlock" in c)


# -- local evidence is computed once per knowledge-base change -------------------------------------

HOTSPOT_NOTE = """# Wakefield hotspot patrols: an evaluation

## Findings

Hot spots policing in Wakefield town centre was evaluated over twelve months. Violent crime in the
patrolled hotspots fell compared with matched streets, and no displacement to nearby streets was seen.
"""


def test_local_evidence_is_stored_once_and_refreshed_after_an_ingest(corpus_kb_copy, tmp_path) -> None:
    from kbfixtures import ingest_into

    from kb.toolkit import LOCAL_EVIDENCE_META, LocalEvidence, evidence_version

    kb = open_kb(corpus_kb_copy)
    try:
        kb.catalogue.set_meta(LOCAL_EVIDENCE_META, "{}")  # the copied corpus may hold a page's stored results
        cache = LocalEvidence(kb)
        before = cache.for_entries(ENTRIES)
        assert cache.computed == len(ENTRIES)
        again = LocalEvidence(kb).for_entries(ENTRIES)  # a new page run: read back, nothing searched
        assert [h.chunk.chunk_id for h in again["hot-spots-policing"]] == [
            h.chunk.chunk_id for h in before["hot-spots-policing"]
        ]
        second = LocalEvidence(kb)
        second.for_entries(ENTRIES)
        assert second.computed == 0
        version = evidence_version(kb)
    finally:
        kb.close()
    note = tmp_path / "hotspots.md"
    note.write_text(HOTSPOT_NOTE, encoding="utf-8")
    ingest_into(corpus_kb_copy, note)
    kb = open_kb(corpus_kb_copy)
    try:
        assert evidence_version(kb) != version
        cache = LocalEvidence(kb)
        after = cache.for_entries(ENTRIES)
        assert cache.computed == len(ENTRIES)
    finally:
        kb.close()
    titles = [h.document.title for h in after["hot-spots-policing"]]
    assert "Wakefield hotspot patrols: an evaluation" in titles
    assert "Wakefield hotspot patrols: an evaluation" not in [h.document.title for h in before["hot-spots-policing"]]


def test_kb_ingest_computes_local_evidence_ahead_of_the_page(corpus_kb_copy, tmp_path) -> None:
    # After `kb ingest` brings new documents, What works opens on stored local evidence for every audience
    # (nothing searched or embedded at page time), and that is what computing it then would give.
    from kb.toolkit import LOCAL_EVIDENCE_K, LOCAL_EVIDENCE_META, LocalEvidence, all_entries
    from kb.visibility import OFFICIAL, SENSITIVITIES

    note = tmp_path / "hotspots.md"
    note.write_text(HOTSPOT_NOTE, encoding="utf-8")
    run_kb(corpus_kb_copy, "ingest", str(note), check=True)
    kb = open_kb(corpus_kb_copy)
    try:
        stored = {}
        for sens in ([OFFICIAL], list(SENSITIVITIES)):
            page = LocalEvidence(kb)
            found = page.for_entries(all_entries(kb, sens), k=LOCAL_EVIDENCE_K, sensitivities=sens)
            assert page.computed == 0, f"computed at ingest for {sens}"
            stored[tuple(sens)] = {slug: [h.chunk.chunk_id for h in hits] for slug, hits in found.items()}
        assert "Wakefield hotspot patrols: an evaluation" in [h.document.title for h in found["hot-spots-policing"]], (
            "the new document is among them"
        )
        kb.catalogue.set_meta(LOCAL_EVIDENCE_META, "{}")
        for sens in ([OFFICIAL], list(SENSITIVITIES)):
            fresh = LocalEvidence(kb).for_entries(all_entries(kb, sens), k=LOCAL_EVIDENCE_K, sensitivities=sens)
            assert {slug: [h.chunk.chunk_id for h in hits] for slug, hits in fresh.items()} == stored[tuple(sens)]
    finally:
        kb.close()
