"""Acronyms a document defines are indexed in both forms, so a question in the long form finds the passages that use
only the short one."""

from __future__ import annotations

import pytest
from kbfixtures import CORPUS, open_kb

from ingest.sources import ReadOptions
from ingest.sources.pdf import read
from kb.acronyms import definitions, expansions
from kb.catalogue.documents import rebuild_bm25_headings
from kb.catalogue.schema import CURRENT, MIGRATIONS
from kb.search import Filters, Searcher

BEFORE_ACRONYMS = next(m.version for m in MIGRATIONS if m.after is rebuild_bm25_headings) - 1
GUIDE = CORPUS / "research" / "homeoffice2025_first_responder_guide_modern_slavery_OGL.pdf"


@pytest.mark.parametrize(
    ("text", "short", "long"),
    [
        ("The National Referral Mechanism (NRM) is the framework", "NRM", "National Referral Mechanism"),
        ("the statutory Duty to Notify (DtN) applies", "DtN", "Duty to Notify"),
        ("more vigorous physical activity (VPA)", "VPA", "vigorous physical activity"),
        ("non-governmental organisations (NGOs) may refer", "NGOs", "non-governmental organisations"),
        ("by the GLAA (Gangmasters and Labour Abuse Authority)", "GLAA", "Gangmasters and Labour Abuse Authority"),
    ],
)  # fmt: skip
def test_definitions_in_either_order(text, short, long):
    assert definitions([text]) == {short: long}


@pytest.mark.parametrize(
    "text",
    [
        "sedentary activity, Mean (SD) was 4.1",  # a column label, not a long form: SD is not spelled by it
        "were recruited in 2012 (UK) and followed up",
        "the intervention (IG) group",
        "as shown earlier (see Table 2)",
    ],
)
def test_asides_in_parentheses_are_not_definitions(text):
    assert definitions([text]) == {}


def test_a_passage_gets_the_form_it_does_not_use():
    defined = {"NRM": "National Referral Mechanism"}
    assert expansions("The NRM was introduced in 2009", defined) == ["National Referral Mechanism"]
    assert expansions("The national referral mechanism decides", defined) == ["NRM"]
    assert expansions("NRMs and the National Referral Mechanism", defined) == []
    assert expansions("A passage about something else", defined) == []


def test_the_home_office_guide_defines_its_acronyms():
    # A real 32-page guide (OGL, corpus/research) that defines each acronym once and uses it from then on.
    [parsed] = read(GUIDE, ReadOptions()).documents
    found = definitions(b.text for b in parsed.blocks)
    assert found["NRM"] == "National Referral Mechanism"
    assert found["SCA"] == "Single Competent Authority"
    assert found["DtN"] == "Duty to Notify"
    assert found["GLAA"] == "Gangmasters and Labour Abuse Authority"
    for short, long in found.items():  # every long form spells its acronym's initials
        assert long.split()[0][0].lower() == short[0].lower(), (short, long)


def test_a_question_in_the_long_form_finds_the_passage_that_says_nrm(corpus_data_dir):
    # The guide's page 6 says "The NRM was introduced in 2009"; the question names the mechanism in full. In the
    # sample corpus BM25 ranked that passage 29th before the heading column carried the long form, and 6th after.
    kb = open_kb(corpus_data_dir)
    try:
        s = Searcher(kb)
        q = "when was the national referral mechanism for trafficking victims set up, and in response to what?"
        hits = s.search(q, k=10, mode="bm25", filters=Filters()).hits
        assert any("The NRM was introduced in 2009" in h.chunk.text for h in hits), [h.citation for h in hits]
        # and the short form finds the passages that spell it out
        hits = s.search("NRM", k=50, mode="bm25").hits
        assert any("NRM" not in h.chunk.text for h in hits)
    finally:
        kb.close()


def test_a_catalogue_from_before_gets_the_acronym_forms_on_open(corpus_data_dir, tmp_path):
    # A catalogue from before the migration holds headings without acronym forms; its files are unchanged, so only
    # the migration can add them.
    import json
    import shutil
    import sqlite3

    data = tmp_path / "kb"
    shutil.copytree(corpus_data_dir, data)
    con = sqlite3.connect(data / "catalogue.sqlite3")
    with con:
        for rowid, title, section in con.execute(
            "SELECT c.rowid, d.title, c.section FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"
        ).fetchall():
            con.execute(
                "UPDATE chunks_fts SET heading = ? WHERE rowid = ?", (" ".join([title, *json.loads(section)]), rowid)
            )
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(BEFORE_ACRONYMS),))
    said_nrm = "SELECT f.heading FROM chunks_fts f JOIN chunks c ON c.rowid = f.rowid WHERE c.text LIKE ?"
    [(before,)] = con.execute(said_nrm, ["%The NRM was introduced in 2009%"]).fetchall()
    con.close()
    assert "National Referral Mechanism" not in before

    kb = open_kb(data)
    try:
        [(after,)] = kb.catalogue.query(said_nrm, ["%The NRM was introduced in 2009%"])
        assert after.startswith(before) and "National Referral Mechanism" in after[len(before) :]
        assert kb.catalogue.get_meta("schema_version") == str(CURRENT)
    finally:
        kb.close()
