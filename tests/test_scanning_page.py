"""The Scanning page through AppTest on a knowledge base that `kb scan` filled from a real local feed server:
new items grouped as the email groups them, the next digest per list as `kb digest preview --json` says,
Send now through a real SMTP server, past digests as sent, sources with their errors, and alerts."""

# ruff: noqa: F811  (pytest fixtures imported from scanfixtures are used as arguments)
from __future__ import annotations

import html
import json
import re
import shutil
import sqlite3
import tomllib
from pathlib import Path

import pytest
from kbfixtures import free_port, kb_env, open_kb, run_kb
from mailfixtures import start_smtp
from scanfixtures import SENSITIVE_TITLE, copy_kb, feed_site, scanned_kb, write_feeds  # noqa: F401 (fixtures)
from streamlit.testing.v1 import AppTest

from kb.auth import ANONYMOUS, Viewer
from kb.config import load_settings
from kb.scanning_sources import plain_error

APP = Path(__file__).resolve().parents[1] / "app"
SCANNING = APP / "pages" / "5_Scanning.py"
SEARCH = APP / "pages" / "1_Search.py"
ANALYST = Viewer("analyst", "internal")
PARTNER = Viewer("partner", "external")
TABS = {"new": 0, "next": 1, "past": 2, "sources": 3, "alerts": 4}


def run_page(path: Path = SCANNING, viewer: Viewer = ANALYST, query_params: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(path), default_timeout=180)
    at.session_state["viewer"] = viewer
    for k, v in (query_params or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def placed(block, css: str = "kb-item") -> list[tuple[str | None, str, str, str]]:
    """(list, section, group, title) of every item drawn in a tab, in order."""
    out, current, section, group = [], None, None, None
    for m in block.markdown:
        v = m.value
        if head := re.match(r"#### (.+) · (internal|external)$", v):
            current = html.unescape(head[1])
        elif v.startswith(("#### ", "##### ")):
            section = html.unescape(v.split(" ", 1)[1])
        elif v.startswith("**") and v.endswith("**") and "Subject" not in v:
            group = html.unescape(v[2:-2])
        elif f'class="{css}"' in v:
            title = re.search(r'class="kb-item-title">(.*?)</strong>', v)[1]
            out.append((current, section, group, html.unescape(title)))
    return out


def frame(at: AppTest, column: str):
    """The first table with this column (AppTest finds dataframes by position, not key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def cli_grouping(digest: dict) -> list[tuple[str, str, str]]:
    return [(s["title"], g["title"], i["title"]) for s in digest["sections"] for g in s["groups"] for i in g["items"]]


def page_text(at: AppTest) -> str:
    return "\n".join(
        [m.value for m in at.markdown] + [h.value for h in at.get("html")] + [str(d.value) for d in at.dataframe]
    )


# -- new this week ---------------------------------------------------------------------------------


def test_new_items_are_grouped_as_the_email_groups_them(scanned_kb, app_env):
    app_env(scanned_kb)
    at = run_page()
    shown = [(s, g, t) for _, s, g, t in placed(at.tabs[TABS["new"]])]
    hub = json.loads(run_kb(scanned_kb, "digest", "preview", "--list", "hub", "--json", check=True).stdout)
    assert sorted(shown) == sorted(cli_grouping(hub)), "same section and group for every item as the email"
    assert len({s for s, _, _ in shown}) == 2, "the feed's items fall under two priorities"
    assert SENSITIVE_TITLE in [t for _, _, t in shown], "an internal user sees the official-sensitive item"
    item = next(m.value for m in at.tabs[TABS["new"]].markdown if "Drug treatment and violence" in m.value)
    assert "VRU news" in item and "./?doc=" in item and "Substance misuse" in item and "“" in item

    at.multiselect(key="new_priority").set_value([2]).run()
    only = placed(at.tabs[TABS["new"]])
    assert only and {s for _, s, _, _ in only} == {s for s, _, _ in shown if s.startswith("Priority 2")}
    at.multiselect(key="new_priority").set_value([]).run()
    at.multiselect(key="new_source").set_value(["Restricted briefings"]).run()
    assert [t for *_, t in placed(at.tabs[TABS["new"]])] == [SENSITIVE_TITLE]

    at.radio(key="scan_period").set_value("last week").run()
    assert not placed(at.tabs[TABS["new"]]) and "Nothing new" in at.tabs[TABS["new"]].info[0].value


def test_sensitive_item_is_shown_only_to_internal_viewers(scanned_kb, app_env):
    app_env(scanned_kb)
    for viewer in (ANONYMOUS, PARTNER):
        at = run_page(viewer=viewer)
        text = page_text(at)
        assert SENSITIVE_TITLE not in text and "Family conflict, domestic abuse" in text
        assert "Restricted briefings" not in frame(at, "duplicates skipped")["source"].tolist()
        assert {lst for lst, *_ in placed(at.tabs[TABS["next"]], "kb-preview-item")} == {"partners"}


def test_a_change_in_the_catalogue_shows_on_the_next_open(scanned_kb, feed_site, tmp_path, app_env):
    # The new documents are kept in memory between opens (kb.changes.memo); a write by another process
    # (an ingest, an edit) must show on the next open, in the list of new items and in the next digest.
    data = copy_kb(scanned_kb, tmp_path / "kb", feed_site.base)
    app_env(data)
    before = run_page()
    titles = [t for *_, t in placed(before.tabs[TABS["new"]])]
    assert SENSITIVE_TITLE in titles
    con = sqlite3.connect(data / "catalogue.sqlite3")
    con.execute("UPDATE documents SET title = 'Renamed briefing' WHERE title = ?", (SENSITIVE_TITLE,))
    con.commit()
    con.close()
    after = run_page()
    renamed = [t for *_, t in placed(after.tabs[TABS["new"]])]
    assert "Renamed briefing" in renamed and SENSITIVE_TITLE not in renamed
    assert sorted(renamed) == sorted(["Renamed briefing" if t == SENSITIVE_TITLE else t for t in titles])
    preview = [t for *_, t in placed(after.tabs[TABS["next"]], "kb-preview-item")]
    assert "Renamed briefing" in preview and SENSITIVE_TITLE not in preview


# -- next digest -----------------------------------------------------------------------------------


def test_next_digest_per_list_matches_kb_digest_preview(scanned_kb, app_env):
    app_env(scanned_kb)
    at = run_page()
    cli = {d["list_name"]: d for d in json.loads(run_kb(scanned_kb, "digest", "preview", "--json").stdout)["digests"]}
    shown = placed(at.tabs[TABS["next"]], "kb-preview-item")
    for name in ("hub", "partners"):
        assert sorted((s, g, t) for lst, s, g, t in shown if lst == name) == sorted(cli_grouping(cli[name])), name
        subject = next(
            m.value
            for m in at.tabs[TABS["next"]].markdown
            if m.value.startswith(f"**Subject:** Knowledge Hub digest ({name})")
        )
        assert f"{cli[name]['n_items']} new items" in subject
    assert SENSITIVE_TITLE in [t for lst, *_, t in shown if lst == "hub"]
    assert SENSITIVE_TITLE not in [t for lst, *_, t in shown if lst == "partners"], "nothing sensitive goes outside"


def test_send_now_sends_once_and_the_digest_is_kept_as_sent(scanned_kb, feed_site, tmp_path, app_env):
    port = free_port()
    data = copy_kb(scanned_kb, tmp_path / "kb", feed_site.base, smtp_port=port)
    app_env(data)
    ctl, sink = start_smtp(port)
    try:
        at = run_page()
        assert at.button(key="send_hub").proto.disabled, "nothing is sent without the confirmation"
        at.checkbox(key="send_confirm_hub").check().run()
        at.button(key="send_hub").click().run()
        assert not at.exception
        assert at.success and at.success[0].value.startswith("Sent the hub digest"), [s.value for s in at.success]
        assert [m["To"] for m in sink.messages] == ["analyst@vru.example"]
        assert "Nothing to send" in " ".join(i.value for i in at.tabs[TABS["next"]].info), "its items are sent"

        at.checkbox(key="send_confirm_hub").check().run()
        at.button(key="send_hub").click().run()
        assert "already sent" in at.info[0].value
        assert len(sink.messages) == 1, "a second click in the same period sends nothing"
        again = json.loads(run_kb(data, "digest", "send", "--list", "hub", "--json").stdout)["lists"][0]
        assert again["status"] == "skipped" and "already sent" in again["reason"], "recorded as the CLI records"
        assert len(sink.messages) == 1

        sent_html = sink.messages[0].get_body(("html",)).get_content()
    finally:
        ctl.stop()

    # Past digests: as it was sent, less the recipient's own unsubscribe link; a link opens it.
    at = run_page()
    past = frame(at, "subject")
    assert past["list"].tolist() == ["hub"] and past["items"].tolist() == [4]
    body = at.tabs[TABS["past"]].get("html")[0].value
    unsubscribe = re.search(r'<a href="[^"]*unsubscribe[^"]*">Unsubscribe</a>\.', sent_html)[0]
    # SMTP carries lines as CRLF; the words and markup are what must match.
    assert body.strip() == sent_html.replace("\r\n", "\n").replace(unsubscribe, "").strip()
    send_id = re.search(r"send=(\d+)", past["link"][0])[1]
    linked = run_page(query_params={"send": send_id})
    assert SENSITIVE_TITLE in linked.get("html")[0].value
    # A partner who opens the link reads it without the official-sensitive item.
    partner = run_page(viewer=PARTNER, query_params={"send": send_id})
    outside = partner.get("html")[0].value
    assert SENSITIVE_TITLE not in outside and "Drug treatment and violence among young adults" in outside
    assert frame(partner, "subject")["items"].tolist() == [3], "the count leaves out what the partner may not see"
    assert "3 new items" in outside and "4 new items" not in outside


# -- sources ---------------------------------------------------------------------------------------


def test_a_failing_source_shows_its_error_beside_the_others_items(scanned_kb, app_env):
    app_env(scanned_kb)
    at = run_page()
    table = frame(at, "duplicates skipped").set_index("source")
    assert table.loc["Down", "status"] == "failed"
    assert table.loc["Down", "last error"] == "feed not reachable: connection refused"
    assert table.loc["VRU news", "status"] == "ok" and table.loc["VRU news", "items found"] == 3
    assert table.loc["VRU news", "new"] == 3 and table.loc["VRU news", "duplicates skipped"] == 0
    assert table.loc["VRU news", "last fetch"]
    assert any(e.value == "Down: feed not reachable: connection refused" for e in at.tabs[TABS["sources"]].error)
    titles = [t for *_, t in placed(at.tabs[TABS["new"]])]
    assert "Drug treatment and violence among young adults" in titles and len(titles) == 4
    # The command line reads the same status.
    cli = {s["name"]: s for s in json.loads(run_kb(scanned_kb, "scan", "--status", "--json", check=True).stdout)}
    assert cli["Down"]["error"] == "feed not reachable: connection refused" and cli["VRU news"]["new_items"] == 3


def test_admin_adds_pauses_removes_a_source_and_runs_a_scan(scanned_kb, feed_site, tmp_path, app_env):
    data = copy_kb(scanned_kb, tmp_path / "kb", feed_site.base)
    app_env(data)
    partner = run_page(viewer=PARTNER)
    assert not [b for b in partner.button if b.key in ("scan_go", "source_add")], "admins only"

    at = run_page()
    at.text_input(key="source_name").set_value("Bad")
    at.text_input(key="source_where").set_value("ftp://example.org/feed.xml")
    at.button(key="source_add").click().run()
    assert "is not a web address" in at.error[0].value
    at.text_input(key="source_name").set_value("VRU news")
    at.text_input(key="source_where").set_value(f"{feed_site.base}/more.xml")
    at.button(key="source_add").click().run()
    assert "exists already" in at.error[0].value

    # A new feed with a new item, added from the page and scanned from it.
    write_feeds(
        feed_site.root,
        feed_site.base,
        {"Knife carrying in the night-time economy": ("more.xml", "Weapon carrying rises at weekends in Leeds.")},
    )
    at.text_input(key="source_name").set_value("More news")
    at.text_input(key="source_where").set_value(f"{feed_site.base}/more.xml")
    at.button(key="source_add").click().run()
    assert at.success[0].value.startswith("More news added"), [e.value for e in at.error]
    raw = tomllib.loads((data / "kb.toml").read_text(encoding="utf-8"))
    assert raw["sources"][-1] == {"name": "More news", "feed": f"{feed_site.base}/more.xml"}
    assert len(raw["auth"]["users"]) == 2 and "# the Scanning page tests' settings" in (data / "kb.toml").read_text()
    assert [s.name for s in load_settings(data, env=kb_env(data)).sources][-1] == "More news"

    at.selectbox(key="source_pick").set_value("Down").run()
    at.button(key="source_pause").click().run()
    assert load_settings(data, env=kb_env(data)).sources[2].paused is True
    at.button(key="scan_go").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("Scan finished: 1 new item(s) from 3 source(s)"), at.success[0].value
    table = frame(at, "duplicates skipped").set_index("source")
    assert table.loc["Down", "status"] == "paused" and table.loc["More news", "new"] == 1
    assert table.loc["VRU news", "duplicates skipped"] == 3, "already-scanned items are counted as duplicates"
    assert "Knife carrying in the night-time economy" in [t for *_, t in placed(at.tabs[TABS["new"]])]

    at.selectbox(key="source_pick").set_value("More news").run()
    at.checkbox(key="source_remove_confirm").check().run()
    at.button(key="source_remove").click().run()
    assert "More news" not in [s.name for s in load_settings(data, env=kb_env(data)).sources]
    # Paused sources are skipped by the CLI too.
    out = json.loads(run_kb(data, "scan", "--json").stdout)
    assert [s["name"] for s in out["sources"]] == ["VRU news", "Restricted briefings"]


def test_with_no_sign_in_configured_no_one_sends_or_changes_sources(
    scanned_kb, feed_site, tmp_path, app_env, monkeypatch
):
    # Sign-in fails closed: with no [auth] every viewer is external, even one whose session claims the
    # internal role, so Send now, Run scan and the source forms are not offered; single_user opts out.
    data = copy_kb(scanned_kb, tmp_path / "kb", feed_site.base)
    config = data / "kb.toml"
    config.write_text(config.read_text(encoding="utf-8").split("[[auth.users]]")[0], encoding="utf-8")
    app_env(data)
    managing = {"scan_go", "source_add", "source_pause", "source_remove", "send_hub", "send_partners"}
    for viewer in (ANONYMOUS, ANALYST):
        at = run_page(viewer=viewer)
        assert not managing & {b.key for b in at.button}, viewer
        assert SENSITIVE_TITLE not in page_text(at), "official-sensitive items are hidden from everyone"
        assert "sign-in is not configured" in " ".join(c.value for c in at.tabs[TABS["sources"]].caption)
    # Another config file, as the app opens its resources once per (data directory, config).
    desktop_toml = data / "desktop.toml"
    desktop_toml.write_text(config.read_text(encoding="utf-8") + "\n[app]\nsingle_user = true\n", encoding="utf-8")
    monkeypatch.setenv("KB_CONFIG", str(desktop_toml))
    desktop = run_page(viewer=ANONYMOUS)
    assert {"scan_go", "source_add", "send_hub", "send_partners"} <= {b.key for b in desktop.button}
    assert SENSITIVE_TITLE in page_text(desktop)


# -- alerts ----------------------------------------------------------------------------------------


def test_save_an_alert_from_search_see_its_matches_and_remove_it(scanned_kb, feed_site, tmp_path, app_env):
    data = copy_kb(scanned_kb, tmp_path / "kb", feed_site.base)
    app_env(data)
    search = run_page(SEARCH, query_params={"q": "drug treatment for young adults", "factor": "substance-misuse"})
    search.button(key="save_alert").click().run()
    assert "Saved as alert “drug treatment for young adults”" in search.success[0].value
    kb = open_kb(data)
    try:
        row = kb.catalogue.query("SELECT owner, filters FROM alerts")[0]
    finally:
        kb.close()
    assert row["owner"] == "analyst" and json.loads(row["filters"])["factors"] == ["substance-misuse"]

    at = run_page()
    alert = next(m.value for m in at.tabs[TABS["alerts"]].markdown if "kb-alert" in m.value)
    n = int(re.search(r"(\d+) new matching passage", alert)[1])
    assert n >= 1 and "drug treatment for young adults" in alert
    assert any("Drug treatment and violence among young adults" in m.value for m in at.tabs[TABS["alerts"]].markdown)
    # The digest carries it as any alert.
    hub = json.loads(run_kb(data, "digest", "preview", "--list", "hub", "--json", check=True).stdout)
    assert [a["name"] for a in hub["alerts"]] == ["drug treatment for young adults"]

    # Someone else neither sees it nor can overwrite it.
    other = run_page(viewer=PARTNER)
    assert not [m for m in other.tabs[TABS["alerts"]].markdown if "kb-alert" in m.value]
    theirs = run_page(SEARCH, PARTNER, {"q": "drug treatment for young adults"})
    theirs.button(key="save_alert").click().run()
    assert "belongs to someone else" in theirs.error[0].value

    at.button(key="alert_remove_drug treatment for young adults").click().run()
    assert at.success[0].value == "Alert “drug treatment for young adults” removed."
    assert not [m for m in at.tabs[TABS["alerts"]].markdown if "kb-alert" in m.value]


def test_signed_out_viewer_is_asked_to_sign_in_for_alerts(scanned_kb, app_env):
    app_env(scanned_kb)
    at = run_page(viewer=ANONYMOUS)
    assert "Sign in to see your alerts" in at.tabs[TABS["alerts"]].info[0].value
    search = run_page(SEARCH, ANONYMOUS, {"q": "knife crime"})
    assert not [b for b in search.button if b.key == "save_alert"]


# -- plain words for scan errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "message, plain",
    [
        ("http://x/feed.xml: no answer within 20 s", "feed not reachable: timed out after 20 s"),
        ("http://x/feed.xml: cannot connect (timed out)", "feed not reachable: timed out after 20 s"),
        (
            "http://x/feed.xml: cannot connect ([Errno 111] Connection refused)",
            "feed not reachable: connection refused",
        ),
        ("http://x/f: not valid XML (mismatched tag: line 1); is this URL really an RSS or Atom feed?", "not XML"),
        ("http://x/f: HTTP 404 Not Found", "feed not reachable: the server answered 404 Not Found"),
        ("http://x/f: response is over the 10,485,760-byte limit; refusing", "too large: over 10 MB"),
    ],
)
def test_scan_errors_in_plain_words(message, plain):
    assert plain_error(message) == plain


@pytest.mark.shared_data
def test_real_feeds_added_on_the_page_are_scanned_and_listed(scanned_kb, feed_site, tmp_path, shared_data, app_env):
    import shutil

    data = copy_kb(scanned_kb, tmp_path / "kb", feed_site.base)
    app_env(data)
    for name in ("Atom_Example.xml", "RSS_Example.xml"):
        shutil.copy(shared_data / "feeds" / name, feed_site.root / name)
    at = run_page()
    for name, feed in (("Atom example", "Atom_Example.xml"), ("RSS example", "RSS_Example.xml")):
        at.text_input(key="source_name").set_value(name)
        at.text_input(key="source_where").set_value(f"{feed_site.base}/{feed}")
        at.button(key="source_add").click().run()
        assert at.success[0].value.startswith(f"{name} added"), [e.value for e in at.error]
    at.button(key="scan_go").click().run()
    assert not at.exception
    table = frame(at, "duplicates skipped").set_index("source")
    assert table.loc["Atom example", "new"] == 1 and table.loc["RSS example", "new"] == 4
    assert table.loc["Down", "last error"] == "feed not reachable: connection refused"
    shown = {t for *_, t in placed(at.tabs[TABS["new"]])}
    kb = open_kb(data)
    try:
        scanned = {
            r[0]
            for r in kb.catalogue.query("SELECT title FROM scan_items WHERE source IN ('Atom example', 'RSS example')")
        }
    finally:
        kb.close()
    assert len(scanned) == 5 and scanned <= shown, "every item of the real feeds is listed as new"


def test_a_catalogue_from_before_the_scanning_page_is_upgraded(tmp_path):
    # Regression: CREATE TABLE IF NOT EXISTS leaves an existing alerts table without the owner column.
    from kb.alerts import alerts_of, list_alerts
    from kb.scanning_sources import source_statuses
    from kb.visibility import OPERATOR

    # A catalogue of schema 1 (tests/data) with the alerts and digest_locks tables of that time, made on first use.
    data = tmp_path / "kb"
    data.mkdir()
    shutil.copy(Path(__file__).parent / "data" / "catalogue_v1.sqlite", data / "catalogue.sqlite3")
    con = sqlite3.connect(data / "catalogue.sqlite3")
    con.execute(
        "CREATE TABLE alerts (name TEXT PRIMARY KEY, query TEXT NOT NULL, filters TEXT NOT NULL DEFAULT '{}', "
        "threshold REAL NOT NULL, created_at TEXT NOT NULL)"
    )
    con.execute("CREATE TABLE digest_locks (list_name TEXT PRIMARY KEY, holder TEXT, expires_at TEXT)")
    con.execute("INSERT INTO alerts VALUES ('knives', 'knife crime', '{}', 0.45, '2026-11-01T00:00:00+00:00')")
    con.commit()
    con.close()
    kb = open_kb(data)
    try:
        assert [(a.name, a.owner) for a in list_alerts(kb)] == [("knives", None)]
        assert [a.name for a in alerts_of(kb, None)] == ["knives"] and alerts_of(kb, "analyst") == []
        assert source_statuses(kb, kb.settings, OPERATOR) == []
    finally:
        kb.close()


def test_an_empty_knowledge_base_says_what_to_do_on_every_tab(tmp_path, app_env):
    app_env(tmp_path / "empty")
    at = run_page(viewer=ANONYMOUS)
    infos = " ".join(i.value for i in at.info)
    assert "Nothing new in this period" in infos and "No mailing lists in kb.toml" in infos
    assert "No digest has been sent yet" in infos and "No sources in kb.toml yet" in infos
    assert "You have no alerts" in infos


def test_a_backlog_builds_items_only_for_what_the_page_shows(corpus_kb_copy, monkeypatch):
    """A first ingest makes every document new at once: the page shows each group capped, with 'and N more',
    and embeds key sentences only for the items it shows (on SciFact the page never drew before)."""
    from kb.digest import Composer
    from kb.scanning import Period, new_items
    from kb.visibility import OPERATOR

    kb = open_kb(corpus_kb_copy)
    built: list[str] = []
    real = Composer.key_sentence

    def counted(self, doc, chunks):
        built.append(doc.doc_id)
        return real(self, doc, chunks)

    monkeypatch.setattr(Composer, "key_sentence", counted)
    everything = Period("all", "2000-01-01T00:00:00")
    full = new_items(kb, everything, OPERATOR, composer=Composer(kb, group_cap=10**6))
    full_groups = {(s.title, g.title): g for s in full.sections for g in s.groups}
    assert len(built) == full.n_items and any(len(g.items) > 1 for g in full_groups.values())
    built.clear()
    capped = new_items(kb, everything, OPERATOR, composer=Composer(kb, group_cap=1))
    groups = [g for s in capped.sections for g in s.groups]
    assert all(len(g.items) == 1 for g in groups) and capped.n_items == full.n_items, "the rest counted as more"
    assert [g.items[0].title for g in groups] == [g.items[0].title for g in full_groups.values()]
    assert len(built) == len(groups), "no key sentence is embedded for an item not shown"
    # A source filter picks among all of a group's items, not only among those the cap would show.
    source = next(i.source for g in full_groups.values() for i in g.items[1:] if i.source != g.items[0].source)
    only = new_items(kb, everything, OPERATOR, sources=[source], composer=Composer(kb, group_cap=1))
    expected = [
        next(i.title for i in g.items if i.source == source)
        for g in full_groups.values()
        if any(i.source == source for i in g.items)
    ]
    assert [g.items[0].title for s in only.sections for g in s.groups] == expected
    assert only.sources == full.sources
