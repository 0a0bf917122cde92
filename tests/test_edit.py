"""Corrections that stick: `kb edit` values win over every source and survive re-ingest, a changed file, a
re-tag and a merge; sensitivity only tightens unless an analyst lowers it; the Library page edits them."""

from __future__ import annotations

import json
from pathlib import Path

from kbfixtures import open_kb, run_kb, users_toml

LIBRARY = Path(__file__).resolve().parents[1] / "app" / "pages" / "4_Library.py"
NOTE = """---
title: Mentoring pilot in Leeds
doi: 10.5555/vru.mentoring.2022
year: 2021
---
# Mentoring pilot in Leeds

A trusted adult, such as a mentor or youth worker, can protect young people from harm in Leeds.
"""
ENTRY = """@techreport{leeds2022,
  title = {Mentoring pilot in Leeds: final evaluation},
  author = {Ahmed, Sara}, year = {2022}, institution = {Leeds City Council},
  doi = {10.5555/vru.mentoring.2022}}
"""


def _docs(data: Path) -> list[dict]:
    return json.loads(run_kb(data, "docs", "--json", check=True).stdout)["documents"]


def _ingested(tmp_path: Path, *ingest_args: str) -> tuple[Path, Path]:
    """The pilot note, ingested into a new knowledge base: (the note, the data directory)."""
    note = tmp_path / "in" / "pilot.md"
    note.parent.mkdir()
    note.write_text(NOTE, encoding="utf-8")
    data = tmp_path / "kb"
    run_kb(data, "ingest", str(note), *ingest_args, check=True)
    return note, data


def test_edits_win_and_survive_reingest_a_changed_file_and_a_retag(tmp_path):
    note, data = _ingested(tmp_path)
    (doc,) = _docs(data)
    assert doc["title"] == "Mentoring pilot in Leeds" and doc["year"] == 2021

    out = run_kb(
        data,
        "edit",
        doc["doc_id"],
        "--title",
        "Leeds mentoring pilot: interim report",
        "--authors",
        "Ahmed, Sara; Bell, Tom",
        "--year",
        "2022",
        "--type",
        "evaluation",
        "--json",
        check=True,
    )
    (edited,) = json.loads(out.stdout)["documents"]
    assert edited["title"] == "Leeds mentoring pilot: interim report"
    assert edited["authors"] == ["Ahmed, Sara", "Bell, Tom"] and edited["year"] == 2022
    assert edited["doc_type"] == "evaluation"
    assert {edited["field_sources"][f] for f in ("title", "authors", "year", "doc_type")} == {"analyst"}

    def check() -> dict:
        (d,) = _docs(data)
        assert (d["title"], d["authors"], d["year"], d["doc_type"]) == (
            "Leeds mentoring pilot: interim report",
            ["Ahmed, Sara", "Bell, Tom"],
            2022,
            "evaluation",
        )
        return d

    assert "unchanged" in run_kb(data, "ingest", str(note), check=True).stdout
    check()
    # Another --type re-processes the file (as a re-tag does): the analyst's type still wins.
    assert "ok" in run_kb(data, "ingest", str(note), "--type", "research", check=True).stdout
    check()
    # A changed file is a new version of the same source: the corrections follow it.
    note.write_text(NOTE + "\nSchool attendance rose during the pilot year.\n", encoding="utf-8")
    run_kb(data, "ingest", str(note), check=True)
    d = check()
    assert d["n_chunks"] >= 1
    kb = open_kb(data)
    assert "School attendance rose" in " ".join(c.text for c in kb.catalogue.chunks_of(d["doc_id"]))
    assert kb.check_consistency()["orphan_vectors"] == []
    kb.close()


def test_an_edit_survives_a_merge_and_the_merged_sensitivity_is_the_strictest(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    note = folder / "pilot.md"
    note.write_text(NOTE, encoding="utf-8")
    data = tmp_path / "kb"
    run_kb(data, "ingest", str(note), check=True)
    (doc,) = _docs(data)
    run_kb(data, "edit", doc["doc_id"], "--title", "Leeds mentoring pilot (corrected)", check=True)

    bib = folder / "refs.bib"
    bib.write_text(ENTRY, encoding="utf-8")
    report = json.loads(
        run_kb(data, "ingest", str(bib), "--sensitivity", "official-sensitive", "--json", check=True).stdout
    )
    assert report["files"][0]["merged"] == ["merged with: Leeds mentoring pilot (corrected) (same DOI)"]
    (merged,) = _docs(data)
    assert merged["title"] == "Leeds mentoring pilot (corrected)" and merged["field_sources"]["title"] == "analyst"
    assert merged["authors"] == ["Ahmed, Sara"] and merged["field_sources"]["authors"] == "reference"
    assert merged["sensitivity"] == "official-sensitive", "the strictest of its sources"

    run_kb(data, "remove", str(bib), check=True)
    (alone,) = _docs(data)
    assert alone["sensitivity"] == "official" and alone["title"] == "Leeds mentoring pilot (corrected)"


def test_a_lower_sensitivity_never_downgrades_but_an_analyst_may(tmp_path):
    note, data = _ingested(tmp_path, "--sensitivity", "official-sensitive")
    (doc,) = _docs(data)
    assert doc["sensitivity"] == "official-sensitive"

    proc = run_kb(data, "ingest", str(note), "--sensitivity", "official", "--json", check=True)
    (fr,) = json.loads(proc.stdout)["files"]
    assert any("never downgrades" in p and "kb edit" in p for p in fr["problems"]), fr
    assert _docs(data)[0]["sensitivity"] == "official-sensitive"

    run_kb(data, "edit", doc["doc_id"], "--sensitivity", "official", check=True)
    (d,) = _docs(data)
    assert d["sensitivity"] == "official" and d["field_sources"]["sensitivity"] == "analyst"
    # The analyst's decision holds for the file as it was ...
    run_kb(data, "ingest", str(note), "--sensitivity", "official-sensitive", check=True)
    assert _docs(data)[0]["sensitivity"] == "official"
    # ... and a new version marked sensitive tightens it again (fail closed).
    marked = NOTE.replace("title:", "sensitivity: official-sensitive\ntitle:") + "\nNames of the families involved.\n"
    note.write_text(marked, encoding="utf-8")
    run_kb(data, "ingest", str(note), check=True)
    assert _docs(data)[0]["sensitivity"] == "official-sensitive"


def test_edit_refuses_what_it_cannot_do(tmp_path):
    note = tmp_path / "pilot.md"
    note.write_text(NOTE, encoding="utf-8")
    data = tmp_path / "kb"
    run_kb(data, "ingest", str(note), check=True)
    (doc,) = _docs(data)
    bad_type = run_kb(data, "edit", doc["doc_id"], "--type", "novel")
    assert bad_type.returncode != 0 and "type must be one of" in bad_type.stderr + bad_type.stdout
    missing = run_kb(data, "edit", "doi:10.0/none", "--year", "2020")
    assert missing.returncode != 0 and "kb docs" in missing.stderr + missing.stdout
    nothing = run_kb(data, "edit", doc["doc_id"])
    assert nothing.returncode != 0 and "nothing to change" in nothing.stderr + nothing.stdout
    alone = run_kb(data, "edit", doc["doc_id"], "--split", str(note.resolve()))
    assert alone.returncode != 0 and "no other source" in alone.stderr + alone.stdout


def test_library_page_corrects_a_document(tmp_path, app_env):
    from streamlit.testing.v1 import AppTest

    note, data = _ingested(tmp_path)
    (doc,) = _docs(data)
    # A single-user desktop: with no sign-in configured at all the page would fail closed and offer no edits.
    (data / "kb.toml").write_text("[app]\nsingle_user = true\n", encoding="utf-8")
    app_env(data)
    at = AppTest.from_file(str(LIBRARY), default_timeout=180)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="edit_doc").value == doc["doc_id"]
    assert at.text_input(key="edit_title").value == "Mentoring pilot in Leeds"
    at.text_input(key="edit_title").set_value("Leeds mentoring pilot: evaluation")
    at.text_input(key="edit_authors").set_value("Ahmed, Sara; Bell, Tom")
    at.number_input(key="edit_year").set_value(2022)
    at.selectbox(key="edit_doc_type").set_value("evaluation")
    at.selectbox(key="edit_sensitivity").set_value("official-sensitive")
    at.button(key="edit_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value.startswith("Saved authors, doc_type, sensitivity, title, year") for s in at.success)
    shown = at.dataframe[0].value
    assert shown["title"].tolist() == ["Leeds mentoring pilot: evaluation"] and shown["year"].tolist() == ["2022"]

    (d,) = _docs(data)
    assert (d["title"], d["authors"], d["year"], d["doc_type"], d["sensitivity"]) == (
        "Leeds mentoring pilot: evaluation",
        ["Ahmed, Sara", "Bell, Tom"],
        2022,
        "evaluation",
        "official-sensitive",
    )
    assert d["field_sources"]["title"] == "analyst"
    # And it survives the next ingest of the file.
    assert "unchanged" in run_kb(data, "ingest", str(note), check=True).stdout
    assert _docs(data)[0]["title"] == "Leeds mentoring pilot: evaluation"


def test_library_page_edits_need_an_internal_sign_in_when_sign_in_is_configured(tmp_path, app_env):
    from streamlit.testing.v1 import AppTest

    _, data = _ingested(tmp_path)
    (data / "kb.toml").write_text(users_toml(partner=("external", "out"), analyst=("internal", "in")), encoding="utf-8")
    app_env(data)
    at = AppTest.from_file(str(LIBRARY), default_timeout=180)
    at.run()
    assert not at.exception and not [b for b in at.button if b.key == "edit_go"], "no edit form before sign-in"
    for user, password, may_edit in (("partner", "out", False), ("analyst", "in", True)):
        at = AppTest.from_file(str(LIBRARY), default_timeout=180)
        at.run()
        at.sidebar.text_input(key="sign_in_user").set_value(user)
        at.sidebar.text_input(key="sign_in_password").set_value(password)
        at.sidebar.button[0].click().run()
        assert not at.exception
        assert bool([b for b in at.button if b.key == "edit_go"]) is may_edit, user
