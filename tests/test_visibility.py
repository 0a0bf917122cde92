"""One function decides what a viewer or a list may see; this walks every path that shows or sends passages.

An official-sensitive research note sits in the sample corpus, written so that every path would pick it up:
search, more-like-this, CSV/BibTeX/RIS exports, evidence map counts and drill-down, what works local
evidence, digests, alerts, the library. For an external audience it appears on none of them; for an
internal one it appears on each (so the walk would notice a path that ignores the decision).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from kbfixtures import ingest_into, open_kb

from kb.auth import ANONYMOUS, AuthConfig, User, Viewer
from kb.config import MailingList
from kb.visibility import INTERNAL, OPERATOR, Audience, allowed, for_list, for_viewer, hidden_count, may_see

SECRET_TITLE = "Leeds mentoring pilot: restricted findings"
SECRET_WORD = "zanzibar"  # a word no corpus document uses, so any leak of a passage is easy to see
NOTE = f"""---
title: "{SECRET_TITLE}"
year: 2026
doc_type: research
sensitivity: official-sensitive
---

# Findings

Mentoring by a trusted adult reduced school exclusion among young people in Leeds taking part in the
{SECRET_WORD} pilot. Mentoring sessions were weekly, and a trusted adult stayed with each young person for a year.

Young people excluded from school who had a mentor were less often involved in violence than those waiting
for one, the {SECRET_WORD} evaluation found.
"""

EXTERNAL = for_viewer(None, None)
INSIDER = for_viewer("analyst", INTERNAL)


@pytest.fixture(scope="module")
def kb_dir(corpus_data_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("visibility")
    data = root / "kb"
    shutil.copytree(corpus_data_dir, data)
    (root / "note.md").write_text(NOTE, encoding="utf-8")
    return ingest_into(data, root / "note.md")


@pytest.fixture(scope="module")
def kb(kb_dir):
    kb = open_kb(kb_dir)
    yield kb
    kb.close()


@pytest.fixture(scope="module")
def secret(kb):
    return next(d for d in kb.catalogue.documents() if d.title == SECRET_TITLE)


def test_the_decision_fails_closed():
    assert allowed(EXTERNAL) == ["official"] and allowed(INSIDER) == ["official", "official-sensitive"]
    assert allowed(Audience("someone", "admin")) == ["official"], "an unknown clearance is external"
    assert not may_see(INSIDER, "secret"), "an unknown sensitivity is shown to no one"
    assert not may_see(EXTERNAL, None)
    assert for_list("partners", "external").clearance == "external"
    assert for_list("typo", "internl").clearance == "external", "only a list marked internal is internal"
    assert for_viewer("pat", "external").clearance == "external"
    assert for_viewer(None, None, single_user=True).clearance == INTERNAL
    assert OPERATOR.clearance == INTERNAL
    # The app's sign-in asks the same function.
    assert AuthConfig().sensitivities(ANONYMOUS) == allowed(EXTERNAL)
    signed_in = AuthConfig(users={"ana": User("ana", "internal", "scrypt$unused")})
    assert signed_in.sensitivities(Viewer("ana", "internal")) == allowed(INSIDER)
    assert AuthConfig().sensitivities(Viewer("ana", "internal")) == allowed(EXTERNAL), "no sign-in: no claim counts"
    assert not AuthConfig().may_manage(Viewer("ana", "internal"))


def test_the_note_is_sensitive_and_counted_as_hidden(kb, secret):
    assert secret.sensitivity == "official-sensitive" and secret.doc_type == "research"
    assert hidden_count(kb.catalogue, EXTERNAL) == 1 and hidden_count(kb.catalogue, INSIDER) == 0


def test_search_and_more_like_this(kb, secret):
    from kb.search import Filters, Searcher, SearchError

    searcher = Searcher(kb)
    query = f"mentoring trusted adult school exclusion Leeds {SECRET_WORD}"
    for mode in ("hybrid", "dense", "bm25"):
        outside = searcher.search(query, k=50, mode=mode, filters=Filters(sensitivities=allowed(EXTERNAL)))
        assert outside.hits and secret.doc_id not in {h.document.doc_id for h in outside.hits}, mode
        inside = searcher.search(query, k=50, mode=mode, filters=Filters(sensitivities=allowed(INSIDER)))
        assert secret.doc_id in {h.document.doc_id for h in inside.hits}, mode

    secret_chunk = kb.catalogue.chunks_of(secret.doc_id)[0].chunk_id
    with pytest.raises(SearchError, match="no passage"):
        searcher.similar(secret_chunk, k=10, filters=Filters(sensitivities=allowed(EXTERNAL)))
    assert searcher.similar(secret_chunk, k=5, filters=Filters(sensitivities=allowed(INSIDER))).hits
    # From an official passage that sits close to the note, the neighbours stay official.
    near = outside.hits[0].chunk.chunk_id
    around = searcher.similar(near, k=50, filters=Filters(sensitivities=allowed(EXTERNAL)))
    assert secret.doc_id not in {h.document.doc_id for h in around.hits}
    assert secret.doc_id in {
        h.document.doc_id for h in searcher.similar(near, k=50, filters=Filters(sensitivities=allowed(INSIDER))).hits
    }


def test_exports(kb, secret):
    from kb.export import documents_of, to_bibtex, to_csv, to_ris
    from kb.search import Filters, Searcher

    inside = Searcher(kb).search(f"mentoring {SECRET_WORD}", k=30, filters=Filters(sensitivities=allowed(INSIDER)))
    docs = documents_of(inside.hits)
    assert secret in docs
    for text in (to_csv(inside.hits), to_bibtex(docs), to_ris(docs)):
        assert SECRET_TITLE in text, "unfiltered, the export would carry it"
    # Whatever reaches an export, what leaves it is what the viewer may see.
    for text in (
        to_csv(inside.hits, allowed(EXTERNAL)),
        to_bibtex(docs, allowed(EXTERNAL)),
        to_ris(docs, allowed(EXTERNAL)),
    ):
        assert SECRET_TITLE not in text and SECRET_WORD not in text


def test_evidence_map_counts_and_drill_down(kb, secret):
    from kb.evidence_map import build_map

    secret_chunks = {c.chunk_id for c in kb.catalogue.chunks_of(secret.doc_id)}
    outside = build_map(kb, sensitivities=allowed(EXTERNAL))
    inside = build_map(kb, sensitivities=allowed(INSIDER))
    out_cells = [c for r in outside.rows for c in r.cells.values()]
    in_cells = [c for r in inside.rows for c in r.cells.values()]
    assert sum(c.passages for c in in_cells) > sum(c.passages for c in out_cells), "the note's passages count inside"
    assert any(secret.doc_id in c.doc_ids for c in in_cells)
    for c in out_cells:
        assert secret.doc_id not in c.doc_ids and not secret_chunks & set(c.chunk_ids)
    assert SECRET_TITLE not in outside.to_csv() and secret.doc_id not in outside.to_csv()


def test_what_works_local_evidence(kb, secret):
    from kb.toolkit import all_entries, approaches, local_evidence

    mentoring = next(e for e in approaches(kb, sensitivities=allowed(EXTERNAL)) if e.slug == "mentoring")
    inside = local_evidence(kb, mentoring, k=10, sensitivities=allowed(INSIDER))
    assert secret.doc_id in {h.document.doc_id for h in inside}, "the note is local evidence on mentoring"
    outside = local_evidence(kb, mentoring, k=10, sensitivities=allowed(EXTERNAL))
    assert secret.doc_id not in {h.document.doc_id for h in outside}
    assert len(all_entries(kb, allowed(EXTERNAL))) == 23, "toolkit entries are official and stay"


def test_digest_and_alerts(kb, secret):
    from kb.alerts import Alert, add_alert, match_alert
    from kb.digest import Composer

    add_alert(kb, Alert("mentoring", "mentoring by a trusted adult reduced school exclusion", threshold=0.3))
    composer = Composer(kb)
    since = "2000-01-01T00:00:00+00:00"
    external = composer.compose(MailingList("partners", audience="external"), since=since)
    internal = composer.compose(MailingList("hub", audience="internal"), since=since)
    assert secret.doc_id in internal.doc_ids and secret.doc_id not in external.doc_ids
    shown = str(external.to_dict())
    assert SECRET_TITLE not in shown and SECRET_WORD not in shown
    assert any(m.doc_id == secret.doc_id for a in internal.alerts for m in a.matches)
    alert = Alert("mentoring", "mentoring by a trusted adult reduced school exclusion", threshold=0.3)
    assert not [m for m in match_alert(kb, alert, [secret.doc_id], allowed(EXTERNAL))]
    assert match_alert(kb, alert, [secret.doc_id], allowed(INSIDER))


def test_library_views(kb, secret):
    from kb.library import document_view, overview, visible_documents

    cat = kb.catalogue
    assert secret.doc_id not in {d.doc_id for d in visible_documents(cat, allowed(EXTERNAL))}
    assert secret.doc_id in {d.doc_id for d in visible_documents(cat, allowed(INSIDER))}
    assert overview(cat, allowed(INSIDER)).documents == overview(cat, allowed(EXTERNAL)).documents + 1
    assert document_view(cat, secret.doc_id, allowed(EXTERNAL)) is None
    assert document_view(cat, secret.doc_id, allowed(INSIDER)).passages


def test_scanning_page_views(kb, secret):
    # The Scanning page's new items, alert matches, list previews and sources ask the same decision.
    from kb.alerts import Alert, add_alert, remove_alert
    from kb.config import Source
    from kb.scanning import ListPreview, Period, alert_views, new_items, previews_for
    from kb.scanning_sources import source_statuses

    period = Period("all", "2000-01-01T00:00:00+00:00")
    outside, inside = new_items(kb, period, EXTERNAL), new_items(kb, period, INSIDER)
    assert secret.doc_id in inside.doc_ids and secret.doc_id not in outside.doc_ids
    titles = [i.title for s in outside.sections for g in s.groups for i in g.items]
    assert titles and SECRET_TITLE not in titles
    assert len(inside.doc_ids) == len(outside.doc_ids) + 1

    add_alert(kb, Alert("pilot", "mentoring by a trusted adult reduced school exclusion", threshold=0.3, owner="ana"))
    try:
        matched = {v.alert.name: v for v in alert_views(kb, "ana", period, EXTERNAL)}["pilot"]
        assert secret.doc_id not in [m.doc_id for m in (matched.section.matches if matched.section else [])]
        assert SECRET_WORD not in str(matched)
        inner = {v.alert.name: v for v in alert_views(kb, "ana", period, INSIDER)}["pilot"]
        assert secret.doc_id in [m.doc_id for m in inner.section.matches]
    finally:
        remove_alert(kb, "pilot")

    hub = ListPreview("hub", "internal", "2026-W49", "", None, False)
    partners = ListPreview("partners", "external", "2026-W49", "", None, False)
    assert previews_for([hub, partners], EXTERNAL) == [partners], "an internal list's preview is for insiders"
    assert previews_for([hub, partners], INSIDER) == [hub, partners]

    kb.settings.sources[:] = [
        Source("open", feed="https://a.example/f"),
        Source("closed", feed="https://b.example/f", sensitivity="official-sensitive"),
    ]
    try:
        assert [s.name for s in source_statuses(kb, kb.settings, EXTERNAL)] == ["open"]
        assert [s.name for s in source_statuses(kb, kb.settings, INSIDER)] == ["open", "closed"]
    finally:
        kb.settings.sources[:] = []


def test_sending_and_source_changes_need_an_insider(kb, tmp_path):
    # With no sign-in every viewer is external: they may read the Scanning page but change nothing.
    from kb.config import Source
    from kb.scanning import send_now
    from kb.scanning_rules import ScanningError
    from kb.scanning_sources import add_source, remove_source, scan_sources, set_paused

    settings = kb.settings
    before = list(settings.sources)
    calls = []
    for change in (
        lambda a: send_now(kb, settings, "partners", a),
        lambda a: add_source(settings, Source("x", feed="https://a.example/f"), a),
        lambda a: set_paused(settings, "x", True, a),
        lambda a: remove_source(settings, "x", a),
        lambda a: scan_sources(kb, [Source("x", folder=str(tmp_path))], lambda *args: calls.append(args), a),
    ):
        for who in (EXTERNAL, for_viewer("pat", "external")):
            with pytest.raises(ScanningError, match="only an internal user may"):
                change(who)
    assert settings.sources == before and not calls, "nothing was changed, sent or scanned"
    with pytest.raises(ScanningError, match="no mailing list|partners"):
        send_now(kb, settings, "partners", INSIDER)  # past the sign-in check: this corpus has no lists
