"""Every page of the Streamlit app through AppTest, on the real sample corpus; sign-in; the app beside the CLI."""

from __future__ import annotations

import html
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from kbfixtures import KB_BIN, free_port, kb_env, open_kb, run_kb, users_toml, wait_for_http
from streamlit.testing.v1 import AppTest

from kb.auth import ANONYMOUS, Viewer
from kb.search import cite
from kb.taxonomy import load_taxonomy

APP = Path(__file__).resolve().parents[1] / "app"
PAGES = {
    "home": APP / "Home.py",
    "search": APP / "pages" / "1_Search.py",
    "what_works": APP / "pages" / "2_What_works.py",
    "map": APP / "pages" / "3_Evidence_map.py",
    "library": APP / "pages" / "4_Library.py",
}
STRATEGY = "Serious Violence: West Yorkshire Strategy for Change"


@pytest.fixture
def use_kb(monkeypatch):
    """Point the app at a data directory, as `kb app` does through the environment."""

    def use(data_dir: Path, **env: str) -> None:
        for k in list(os.environ):
            if k.startswith("KB_"):
                monkeypatch.delenv(k)
        for k, v in kb_env(data_dir, **env).items():
            monkeypatch.setenv(k, v)

    return use


def run_page(name: str, query_params: dict | None = None, session: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(PAGES[name]), default_timeout=180)
    for k, v in (query_params or {}).items():
        at.query_params[k] = v
    for k, v in (session or {}).items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def plain(markdown: str) -> str:
    """Text as the reader sees it: app.common.md's backslash escapes and HTML entities undone."""
    return html.unescape(re.sub(r"\\(.)", r"\1", markdown))


def titles(at: AppTest) -> list[str]:
    """Document titles of the search results, best first."""
    return [plain(m.value[5:]) for m in at.markdown if m.value.startswith("#### ")]


def passages(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "kb-passage" in m.value]


def metric(at: AppTest, label: str) -> int:
    """A figure the page shows: an st.metric, or a "**12** cells with evidence" line (the Evidence map)."""
    for m in at.metric:
        if m.label == label:
            return int(m.value)
    for m in at.markdown:
        if found := re.search(rf"\*\*([\d,]+)\*\* {re.escape(label.lower())}", m.value):
            return int(found[1].replace(",", ""))
    raise AssertionError(f"no figure {label!r} on the page")


def search(at: AppTest, query: str) -> AppTest:
    at.text_input(key="q").set_value(query).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# -- landing ---------------------------------------------------------------------------------------


def test_home_counts_what_is_held_and_says_what_to_do(corpus_data_dir, use_kb):
    use_kb(corpus_data_dir)
    at = run_page("home")
    stats = open_kb(corpus_data_dir).catalogue.stats()
    assert metric(at, "Documents") == stats["documents"]
    assert metric(at, "Passages") == stats["passages"]
    assert metric(at, "Toolkit approaches") == stats["toolkit_entries"] == 23
    by_type = at.dataframe[0].value
    assert dict(zip(by_type["type"], by_type["documents"], strict=True))["toolkit"] == 23
    by_priority = at.dataframe[1].value
    assert len(by_priority) == 6 and by_priority["passages"].sum() == sum(stats["passages_by_priority"].values())
    assert {p.proto.page for p in at.get("page_link")} == {
        "Search",
        "What_works",
        "Evidence_map",
        "Library",
        "Scanning",
    }


def test_home_on_an_empty_knowledge_base_says_how_to_start(tmp_path, use_kb):
    use_kb(tmp_path / "empty")
    at = run_page("home")
    assert metric(at, "Documents") == 0
    assert "kb ingest corpus" in at.info[0].value


# -- search ----------------------------------------------------------------------------------------


def test_search_with_filters_returns_the_expected_document(corpus_data_dir, use_kb):
    use_kb(corpus_data_dir)
    at = run_page("search")
    assert "Try:" in [m.value for m in at.markdown]
    search(at, "trusted adult mentoring")
    assert "Mentoring" in titles(at)
    at.multiselect(key="f_type").set_value(["strategy"]).run()
    at.multiselect(key="f_priority").set_value([2]).run()
    assert titles(at) == [STRATEGY]
    assert "<mark>adults</mark>" in "".join(passages(at)), "the query words are highlighted"
    assert "P2 Relationship" in passages(at)[0], "tag chips under each passage"
    assert "Serious Violence: West Yorkshire Strategy for Change (2022), p." in passages(at)[0], "citation line"
    # The link carries the query and the filters.
    assert dict(at.query_params) == {"q": "trusted adult mentoring", "type": "strategy", "priority": "2"}
    assert {b.proto.id.split("-")[-1] for b in at.get("download_button")} >= {"export_csv", "export_bib", "export_ris"}


def test_search_finds_the_sample_corpus_research_pdfs_cited_at_their_printed_pages(corpus_data_dir, use_kb):
    """What `make run` shows: real studies from corpus/research, with the study design and a page citation."""
    use_kb(corpus_data_dir)
    at = run_page("search", {"q": "school sport sessions for adolescent girls", "type": ["research"]})
    girls = "Promoting physical activity among adolescent girls: the Girls in Sport group randomized trial"
    assert titles(at)[0] == girls
    assert re.search(re.escape(girls) + r" \(2017\), pp?\. \d", passages(at)[0]), "cited at its printed page"
    assert any("RCT" in c.value or "rct" in c.value for c in at.caption), "its design is shown"
    assert any(re.match(r"Okely et al\\?\. · research · 2017", c.value) for c in at.caption), "its authors"


def test_search_shows_the_strategys_lists_as_lists_and_its_tags_explain_themselves(corpus_data_dir, use_kb):
    use_kb(corpus_data_dir)
    at = run_page("search", {"q": "Integrated partnership work research interventions", "type": ["strategy"]})
    shown = "".join(passages(at))
    assert "<ul><li><strong>" in shown and "**Research:**" not in shown, "Markdown lists and bold, rendered"
    assert "<script" not in shown and "<a " not in shown
    assert 'title="matched: “' in shown, "a factor chip says which words triggered it"
    assert "export_brief" in {b.proto.id.split("-")[-1] for b in at.get("download_button")}


def test_a_shared_link_reproduces_the_search(corpus_data_dir, use_kb):
    use_kb(corpus_data_dir)
    at = run_page("search", {"q": "school exclusion", "type": ["toolkit"], "polarity": "risk", "factor": ["bogus"]})
    assert at.text_input(key="q").value == "school exclusion"
    assert at.multiselect(key="f_type").value == ["toolkit"]
    assert at.selectbox(key="f_polarity").value == "risk"
    assert at.multiselect(key="f_factor").value == [], "unknown values in a link are dropped, not an error"
    assert titles(at) and STRATEGY not in titles(at)


def test_more_like_this_shows_neighbours_of_a_passage(corpus_data_dir, use_kb):
    use_kb(corpus_data_dir)
    at = search(run_page("search"), "knife crime education in schools")
    first = next(b for b in at.button if b.key and b.key.startswith("more_"))
    chunk_id = first.key.removeprefix("more_")
    first.click().run()
    assert not at.exception
    assert "Passages like the one you chose" in [s.value for s in at.subheader]
    assert at.query_params["like"] == chunk_id
    assert titles(at) and f"more_{chunk_id}" not in {b.key for b in at.button}
    at.button(key="back_to_results").click().run()
    assert "like" not in at.query_params


def test_search_without_matches_says_what_to_try(corpus_data_dir, use_kb):
    use_kb(corpus_data_dir)
    at = run_page("search", {"q": "mentoring", "from": "2090"})
    assert "No passages match" in at.warning[0].value


# -- what works ------------------------------------------------------------------------------------


def test_what_works_shows_harmful_for_prison_awareness_programmes(corpus_data_dir, use_kb):
    use_kb(corpus_data_dir)
    at = run_page("what_works")
    assert "average" in at.info[0].value and "not a guarantee" in at.info[0].value
    heading = next(m.value for m in at.markdown if plain(m.value).startswith("### Prison awareness programmes"))
    assert 'class="band band-HARMFUL">HARMFUL<' in heading
    assert any(e.value.startswith("HARMFUL") for e in at.error)
    assert any(w.value.startswith("INSUFFICIENT EVIDENCE") for w in at.warning)
    card = plain("\n".join(m.value for m in at.markdown))
    assert "**Impact:** not published" in card, "a figure that was not published says so"
    assert "21% (violence)" in card, "a percentage comes with its outcome"


def test_what_works_filters_and_compares(corpus_data_dir, use_kb):
    use_kb(corpus_data_dir)
    at = run_page("what_works")
    at.selectbox(key="ww_factor").set_value("prior-offending").run()
    names = [plain(m.value.split(" &nbsp;")[0][4:]) for m in at.markdown if m.value.startswith("### ")]
    assert "Prison awareness programmes" in names and "CCTV" not in names
    at.selectbox(key="ww_factor").set_value("any").run()
    at.multiselect(key="ww_compare").set_value(["mentoring", "prison-awareness-programmes"]).run()
    table = at.dataframe[0].value
    assert list(table.columns) == ["", "Mentoring", "Prison awareness programmes"]
    assert table.iloc[0].tolist() == ["Impact band", "MODERATE", "HARMFUL"]


def test_what_works_shows_local_evidence_beside_an_approach(corpus_data_dir, use_kb):
    use_kb(corpus_data_dir)
    at = run_page("what_works")
    assert sum(1 for m in at.markdown if m.value == "**Local evidence**") == 23
    assert any(STRATEGY in m.value for m in at.markdown if 'class="citation"' in m.value)


# -- evidence map ----------------------------------------------------------------------------------


def test_evidence_map_shows_gaps_and_a_cells_evidence(corpus_data_dir, use_kb):
    use_kb(corpus_data_dir)
    at = run_page("map")
    n_factors = len(load_taxonomy().factors)
    assert metric(at, "Cells with evidence") + metric(at, "Gaps (empty cells)") == n_factors * 6
    assert metric(at, "Gaps (empty cells)") > 0
    assert at.get("vega_lite_chart"), "the heatmap is drawn"
    assert any("Priority 6" in i.value and "empty by design" in i.value for i in at.info)
    at.selectbox(key="map_factor").set_value("trusted-adult").run()
    at.selectbox(key="map_col").set_value("2").run()
    assert passages(at), "a chosen cell lists its studies with their best passage"
    # The strategy is a plan, not evidence: it is not among the studies until asked for.
    assert not any(STRATEGY in m.value for m in at.markdown if m.value.startswith("- "))
    # Each study says its design, as the classifier (or an analyst) recorded it.
    studies = [m.value for m in at.markdown if m.value.startswith("- ")]
    assert studies and all(
        re.search(
            r"Design: (systematic review|RCT|quasi-experimental|observational|qualitative|"
            r"other \(no empirical design\)|design not recorded)",
            v,
        )
        for v in studies
    )
    at.multiselect(key="map_include").set_value(["strategy"]).run()
    assert any(STRATEGY in m.value for m in at.markdown if m.value.startswith("- "))
    at.radio(key="map_columns").set_value("who_level").run()
    assert not at.exception
    assert metric(at, "Cells with evidence") + metric(at, "Gaps (empty cells)") == n_factors * 4
    at.radio(key="map_columns").set_value("approach").run()
    assert not at.exception and at.get("vega_lite_chart")


def test_evidence_map_empty_cell_is_called_a_gap(corpus_data_dir, use_kb):
    use_kb(corpus_data_dir)
    at = run_page("map")
    at.selectbox(key="map_factor").set_value("gambling").run()
    at.selectbox(key="map_col").set_value("6").run()
    assert "a gap in the evidence" in at.warning[-1].value


# -- library ---------------------------------------------------------------------------------------

NOTE = b"""# Quokka outreach pilot

## Findings

The quokka outreach pilot in Wakefield paired young people at risk of exclusion with a trusted adult.
Attendance rose and no participant was excluded during the pilot year.
"""


def _single_user(data_dir: Path) -> None:
    """A single-user desktop: the explicit opt-out of sign-in that lets the one user upload and remove."""
    (data_dir / "kb.toml").write_text("[app]\nsingle_user = true\n", encoding="utf-8")


def test_the_library_lists_a_work_with_no_date_as_nd(corpus_data_dir, use_kb):
    # The strategy's reference list cites "Mayoral Pledges" with no year; the table showed "None".
    use_kb(corpus_data_dir)
    at = run_page("library")
    table = at.dataframe[0].value
    years = dict(zip(table["title"], table["year"], strict=True))
    assert years["Mayoral Pledges"] == "n.d." and "None" not in set(table["year"])


def test_upload_through_the_library_then_find_it_by_search(corpus_kb_copy, use_kb):
    _single_user(corpus_kb_copy)
    use_kb(corpus_kb_copy)
    at = run_page("library")
    n_before = len(at.dataframe[0].value)
    at.file_uploader(key="upload_files").set_value(
        [("../../quokka pilot.md", NOTE, "text/markdown"), ("broken.pdf", b"%PDF-1.4 not really", "application/pdf")]
    ).run()
    at.selectbox(key="upload_type").set_value("evaluation")
    at.button(key="ingest_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(plain(s.value).startswith("uploads/quokka pilot.md: ok") for s in at.success), [
        s.value for s in at.success
    ]
    assert any(plain(e.value).startswith("uploads/broken.pdf: failed") for e in at.error)
    assert len(at.dataframe[0].value) == n_before + 1
    failed = at.dataframe[1].value
    assert failed["file"].tolist() == ["uploads/broken.pdf"] and failed["reason"][0]
    assert (corpus_kb_copy / "uploads" / "quokka pilot.md").is_file()
    assert not (corpus_kb_copy.parent / "quokka pilot.md").exists()

    at = search(run_page("search"), "quokka outreach pilot")
    assert titles(at)[0] == "Quokka outreach pilot"
    assert "Wakefield" in passages(at)[0]
    # The CLI in another process sees what the app wrote, vectors included.
    out = run_kb(corpus_kb_copy, "search", "quokka outreach", "--mode", "dense", "-k", "1", check=True)
    assert "Quokka outreach pilot" in out.stdout


def test_remove_a_document_from_the_library(corpus_kb_copy, use_kb):
    _single_user(corpus_kb_copy)
    use_kb(corpus_kb_copy)
    at = run_page("library")
    docs = at.dataframe[0].value
    cctv = docs[docs["title"] == "CCTV"]["doc_id"].iloc[0]
    at.selectbox(key="remove_doc").set_value(cctv).run()
    assert at.button(key="remove_go").disabled
    at.checkbox(key="remove_confirm").check().run()
    at.button(key="remove_go").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("Removed “CCTV”")
    assert "CCTV" not in at.dataframe[0].value["title"].tolist()
    assert at.checkbox(key="remove_confirm").value is False
    assert open_kb(corpus_kb_copy).catalogue.get_document(cctv) is None


# -- sign-in ---------------------------------------------------------------------------------------


def _configure_sign_in(data_dir: Path) -> None:
    (data_dir / "kb.toml").write_text(
        users_toml(analyst=("internal", "inside"), partner=("external", "outside")), encoding="utf-8"
    )
    _mark_strategy_sensitive(data_dir)


def _sign_in(at: AppTest, user: str, password: str) -> AppTest:
    at.sidebar.text_input(key="sign_in_user").set_value(user)
    at.sidebar.text_input(key="sign_in_password").set_value(password)
    at.sidebar.button[0].click().run()
    assert not at.exception
    return at


def test_sensitive_documents_are_hidden_unless_signed_in_as_internal(corpus_kb_copy, use_kb):
    use_kb(corpus_kb_copy)
    all_documents = metric(run_page("home"), "Documents")
    with_strategy = {"map_include": ["strategy"]}
    all_map = metric(run_page("map", session=with_strategy), "Tagged passages counted")
    _configure_sign_in(corpus_kb_copy)
    # kb.toml is read when the app starts; a new KB_CONFIG stands for that restart here.
    use_kb(corpus_kb_copy, KB_CONFIG=str(corpus_kb_copy / "kb.toml"))
    query = "West Yorkshire strategy for change priorities"

    # Not signed in, and signed in as an external partner: the strategy is nowhere.
    for viewer in (ANONYMOUS, Viewer("partner", "external")):
        session = {"viewer": viewer}
        home = run_page("home", session=session)
        assert metric(home, "Documents") == all_documents - 1
        assert "strategy" not in home.dataframe[0].value["type"].tolist()
        assert STRATEGY not in titles(run_page("search", {"q": query}, session=session))
        library = run_page("library", session=session)
        assert STRATEGY not in library.dataframe[0].value["title"].tolist()
        assert "Sign in as an internal user" in library.info[-1].value
        assert metric(run_page("map", session={**session, **with_strategy}), "Tagged passages counted") < all_map

    # Signed in through the form as an internal user: it is back everywhere.
    at = _sign_in(run_page("search", {"q": query}), "analyst", "inside")
    assert "Signed in as **analyst** (internal)" in [c.value for c in at.sidebar.caption]
    assert STRATEGY in titles(at)
    internal = {"viewer": at.session_state["viewer"]}
    assert metric(run_page("home", session=internal), "Documents") == all_documents
    assert STRATEGY in run_page("library", session=internal).dataframe[0].value["title"].tolist()
    assert metric(run_page("map", session={**internal, **with_strategy}), "Tagged passages counted") == all_map


def test_organisation_sign_in_offers_st_login_and_hides_sensitive_until_then(corpus_kb_copy, use_kb):
    _mark_strategy_sensitive(corpus_kb_copy)
    (corpus_kb_copy / "kb.toml").write_text(
        '[auth.oidc]\nprovider = "microsoft"\nlabel = "Sign in with your council account"\n'
        'internal_domains = ["westyorks-ca.gov.uk"]\n',
        encoding="utf-8",
    )
    use_kb(corpus_kb_copy, KB_CONFIG=str(corpus_kb_copy / "kb.toml"))
    at = run_page("home")
    assert at.sidebar.button(key="sign_in_oidc").label == "Sign in with your council account"
    assert not at.sidebar.text_input, "no local password form when only the organisation's sign-in is set"
    assert "sign in as an internal user" in at.sidebar.caption[0].value
    assert STRATEGY not in run_page("library").dataframe[0].value["title"].tolist()


def test_wrong_password_is_refused(corpus_kb_copy, use_kb):
    _configure_sign_in(corpus_kb_copy)
    use_kb(corpus_kb_copy)
    at = _sign_in(run_page("home"), "analyst", "wrong")
    assert at.sidebar.error[0].value == "Unknown user name or wrong password."
    assert "viewer" not in at.session_state


def _mark_strategy_sensitive(data_dir: Path) -> None:
    kb = open_kb(data_dir)
    with kb.catalogue.transaction() as c:
        c.execute("UPDATE documents SET sensitivity = 'official-sensitive' WHERE doc_type = 'strategy'")
    kb.close()


def test_with_no_sign_in_configured_sensitive_documents_are_hidden_and_no_one_manages(corpus_kb_copy, use_kb):
    use_kb(corpus_kb_copy)
    all_documents = metric(run_page("home"), "Documents")
    _mark_strategy_sensitive(corpus_kb_copy)
    home = run_page("home")
    assert metric(home, "Documents") == all_documents - 1
    note = home.sidebar.warning[0].value
    assert (
        note.startswith("1 official-sensitive document is hidden.") and "[[auth.users]]" in note and "kb.toml" in note
    )
    query = "West Yorkshire strategy for change priorities"
    assert STRATEGY not in titles(run_page("search", {"q": query}))
    library = run_page("library")
    assert STRATEGY not in library.dataframe[0].value["title"].tolist()
    assert "sign-in is not configured" in library.info[-1].value
    assert not library.get("file_uploader") and not library.button, "no upload or removal without an internal sign-in"
    # Even a viewer claiming the internal role cannot upload when the app has no way to sign in; the one
    # opt-out is single_user in kb.toml, which shows everything to the one user of this desktop.
    _single_user(corpus_kb_copy)
    use_kb(corpus_kb_copy, KB_CONFIG=str(corpus_kb_copy / "kb.toml"))
    desktop = run_page("home")
    assert metric(desktop, "Documents") == all_documents
    assert "Single-user desktop" in desktop.sidebar.caption[0].value
    assert run_page("library").get("file_uploader")


def test_feed_titles_are_shown_as_text_not_markdown(corpus_kb_copy, use_kb, tmp_path):
    from ingest.pipeline import Ingestor

    hostile = "Knife [click me](http://evil.example/x) <img src=x onerror=alert(1)> **loud** :red[alarm]"
    note = tmp_path / "hostile.md"
    note.write_text(
        f"---\ntitle: {hostile!r}\npublisher: '[publisher](http://evil.example/p)'\n---\n\n"
        "Knife crime in Huddersfield fell after a schools programme run by youth workers.\n",
        encoding="utf-8",
    )
    kb = open_kb(corpus_kb_copy)
    assert not Ingestor(kb).run([note]).failed
    kb.close()
    use_kb(corpus_kb_copy)
    at = run_page("search", {"q": "knife crime Huddersfield schools programme"})
    assert hostile in titles(at), "the title reads exactly as written"
    # Markdown text (headings, captions) is escaped; passages and citations sit in HTML blocks, where Markdown is
    # not parsed at all and HTML escaping is what counts (the browser test checks no link is drawn).
    markdown = [m.value for m in at.markdown if not m.value.startswith(("<div", "<style"))]
    shown = "\n".join(markdown + [c.value for c in at.caption])
    assert "](http://evil.example" not in shown and "<img" not in shown and "**loud**" not in shown
    assert "\\[click me\\]\\(http://evil\\.example/x\\)" in shown
    blocks = "\n".join(m.value for m in at.markdown if m.value.startswith("<div"))
    assert "&lt;img src=x" in blocks and "<img" not in blocks


# -- links from the digest email -------------------------------------------------------------------


def _strategy_id(data_dir: Path) -> str:
    kb = open_kb(data_dir)
    try:
        return next(d.doc_id for d in kb.catalogue.documents() if d.title == STRATEGY)
    finally:
        kb.close()


def test_a_digest_doc_link_opens_the_document_with_its_cited_passages(corpus_data_dir, use_kb):
    use_kb(corpus_data_dir)
    doc_id = _strategy_id(corpus_data_dir)
    at = run_page("home", {"doc": doc_id})
    assert [t.value for t in at.title] == [STRATEGY]
    assert not at.metric, "the document replaces the landing content"
    kb = open_kb(corpus_data_dir)
    doc, chunks = kb.catalogue.get_document(doc_id), kb.catalogue.chunks_of(doc_id)
    kb.close()
    shown = passages(at)
    assert len(shown) == len(chunks) > 1
    for ch, md in zip(chunks, shown, strict=True):
        assert f'<div class="citation kb-citation">{html.escape(cite(doc, ch))}</div>' in md, "in order, cited"
    assert any(m.value.startswith("**Most tagged:**") for m in at.markdown)
    assert "status: ok" in at.caption[0].value
    at.button(key="back_home").click().run()
    assert not at.exception and "doc" not in at.query_params
    assert metric(at, "Documents") > 0, "the link back shows the landing page"


def test_a_doc_link_to_an_unknown_document_says_so(corpus_data_dir, use_kb):
    use_kb(corpus_data_dir)
    at = run_page("home", {"doc": "no-such-document"})
    assert "not found or not available to you" in at.warning[0].value
    assert not passages(at)


def test_a_doc_link_does_not_show_an_official_sensitive_document_to_outsiders(corpus_kb_copy, use_kb):
    doc_id = _strategy_id(corpus_kb_copy)
    _configure_sign_in(corpus_kb_copy)
    use_kb(corpus_kb_copy, KB_CONFIG=str(corpus_kb_copy / "kb.toml"))
    for viewer in (ANONYMOUS, Viewer("partner", "external")):
        at = run_page("home", {"doc": doc_id}, session={"viewer": viewer})
        assert "not found or not available to you" in at.warning[0].value
        everything = [e.value for e in (*at.title, *at.markdown, *at.caption, *at.warning) if isinstance(e.value, str)]
        assert not any(STRATEGY in v for v in everything), "not even the title leaks"
        assert not passages(at)
    at = run_page("home", {"doc": doc_id}, session={"viewer": Viewer("analyst", "internal")})
    assert [t.value for t in at.title] == [STRATEGY] and passages(at)


def _subscribe(data_dir: Path) -> dict[str, str]:
    """A list in kb.toml and the tokens the digest would email: {address: token}."""
    from kb.config import load_settings
    from kb.dispatch import recipients

    (data_dir / "kb.toml").write_text(
        '[kb]\npublic_url = "https://hub.example.org"\n\n'
        '[[lists]]\nname = "partners"\nrecipients = ["jo@example.org", "sam@example.org"]\n',
        encoding="utf-8",
    )
    kb = open_kb(data_dir)
    try:
        return dict(recipients(kb, load_settings(data_dir, env=kb_env(data_dir)).mailing_list("partners")))
    finally:
        kb.close()


def _active(data_dir: Path) -> set[str]:
    from kb.config import load_settings
    from kb.dispatch import recipients

    kb = open_kb(data_dir)
    try:
        return {e for e, _ in recipients(kb, load_settings(data_dir, env=kb_env(data_dir)).mailing_list("partners"))}
    finally:
        kb.close()


def test_unsubscribe_link_asks_first_and_unsubscribes_on_confirm(tmp_path, use_kb):
    data = tmp_path / "kb"
    data.mkdir()
    tokens = _subscribe(data)
    use_kb(data)
    at = run_page("home", {"unsubscribe": tokens["jo@example.org"], "list": "partners"})
    assert at.button(key="unsubscribe_confirm")
    assert not at.metric, "the confirmation replaces the landing content"
    assert _active(data) == {"jo@example.org", "sam@example.org"}, "opening the link (a scanner) unsubscribes no one"
    at.button(key="unsubscribe_confirm").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.success[0].value == "j***@example.org will get no more `partners` digests."
    assert "jo@example.org" not in at.success[0].value
    assert _active(data) == {"sam@example.org"}


@pytest.mark.parametrize(
    "token, error",
    [
        ("not-a-real-token-at-all", "no subscriber of list 'partners' has that token"),
        # kb.dispatch.unsubscribe takes addresses too; from a link that would let anyone unsubscribe anyone.
        ("sam@example.org", "this unsubscribe link is incomplete or altered"),
    ],
)
def test_unsubscribe_link_with_a_bad_token_shows_the_error(tmp_path, use_kb, token, error):
    data = tmp_path / "kb"
    data.mkdir()
    _subscribe(data)
    use_kb(data)
    at = run_page("home", {"unsubscribe": token, "list": "partners"})
    at.button(key="unsubscribe_confirm").click().run()
    assert not at.exception and not at.success
    assert at.error[0].value.startswith(error)
    assert _active(data) == {"jo@example.org", "sam@example.org"}, "an address in the link unsubscribes no one"


# -- the app beside the command line ---------------------------------------------------------------


def _ingest_while_searching(data_dir: Path, notes: Path, at: AppTest, **env: str) -> int:
    """Run `kb ingest` in another process while the app keeps searching; returns how many searches ran."""
    proc = subprocess.Popen(
        [str(KB_BIN), "ingest", str(notes)],
        env=kb_env(data_dir, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    n = 0
    try:
        while proc.poll() is None or n == 0:
            search(at, f"knife crime and exclusion {n}")
            assert titles(at), "the app answers while the CLI writes"
            n += 1
            time.sleep(0.2)
        out = proc.communicate(timeout=300)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    return n


def _write_note(folder: Path, word: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{word}.md").write_text(
        f"# {word.title()} scheme\n\nThe {word} scheme offered detached youth work in Bradford parks at night.\n",
        encoding="utf-8",
    )
    return folder


def test_app_and_kb_ingest_at_the_same_time_embedded(corpus_kb_copy, tmp_path, use_kb):
    use_kb(corpus_kb_copy)
    at = search(run_page("search"), "knife crime")
    assert _ingest_while_searching(corpus_kb_copy, _write_note(tmp_path / "notes", "axolotl"), at) >= 1
    # The same open app, nothing reloaded, finds the new passage by words and by meaning.
    assert titles(search(at, "axolotl scheme"))[0] == "Axolotl scheme"
    at.selectbox(key="f_mode").set_value("dense").run()
    assert "Axolotl scheme" in titles(search(at, "axolotl detached youth work at night"))
    assert open_kb(corpus_kb_copy).check_consistency()["orphan_vectors"] == []


def test_app_and_kb_ingest_at_the_same_time_with_a_chroma_server(tmp_path, use_kb, chroma_server):
    data = tmp_path / "kb"
    run_kb(data, "ingest", str(_write_note(tmp_path / "first", "okapi")), check=True, KB_CHROMA_URL=chroma_server)
    use_kb(data, KB_CHROMA_URL=chroma_server)
    at = search(run_page("search"), "okapi scheme")
    assert titles(at) == ["Okapi scheme"]
    at.selectbox(key="f_mode").set_value("dense").run()
    notes = _write_note(tmp_path / "second", "narwhal")
    assert _ingest_while_searching(data, notes, at, KB_CHROMA_URL=chroma_server) >= 1
    assert titles(search(at, "narwhal detached youth work"))[0] == "Narwhal scheme"
    assert not (data / "chroma").exists(), "server mode writes no embedded store"
    assert "Running `kb ingest` while the app is open" not in [e.label for e in run_page("library").expander]


def test_kb_app_serves_the_app_and_the_unsubscribe_server_and_stops_both(tmp_path):
    import urllib.error
    import urllib.request

    port, one_click = free_port(), free_port()
    proc = subprocess.Popen(
        [str(KB_BIN), "app", "--port", str(port), "--address", "127.0.0.1", "--unsubscribe-port", str(one_click)],
        env=kb_env(tmp_path / "kb"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", proc, "kb app") == b"ok"
        with pytest.raises(urllib.error.HTTPError) as err:  # no such subscriber: answered, and refused
            urllib.request.urlopen(
                urllib.request.Request(
                    f"http://127.0.0.1:{one_click}/unsubscribe?list=partners&token=nobody-has-this-token",
                    data=b"List-Unsubscribe=One-Click",
                ),
                timeout=10,
            )
        assert err.value.code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0 or proc.returncode < 0
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{one_click}/unsubscribe?list=x&token=y", timeout=2)


def test_kb_app_single_user_refuses_any_address_but_loopback(tmp_path):
    data = tmp_path / "kb"
    data.mkdir()
    _single_user(data)
    out = run_kb(data, "app", "--address", "0.0.0.0", "--port", str(free_port()), timeout=60)
    assert out.returncode == 2
    assert "single_user = true" in out.stderr and "--address 127.0.0.1" in out.stderr
