"""Fail closed, in a real browser: with no sign-in no official-sensitive title or passage reaches any page or export;
signed in as an internal user, the same pages show it. Headless Chromium against `streamlit run` on 127.0.0.1."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from kbfixtures import app_served, browser_page, ingest_into, needs_chromium, open_kb, run_kb, settle, users_toml
from test_visibility import NOTE, SECRET_TITLE

# A sentence of the sensitive note's passages: if any passage leaks, this does.
SECRET_PASSAGE = "a trusted adult stayed with each young person for a year"
HOSTILE = "Youth clubs [click me](http://evil.example/x) <b>bold</b> reopen in Dewsbury"

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture(scope="module")
def data(corpus_data_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("failclosed")
    kb_dir = root / "kb"
    shutil.copytree(corpus_data_dir, kb_dir)
    (root / "note.md").write_text(NOTE, encoding="utf-8")
    (root / "clubs.md").write_text(
        f"---\ntitle: {json.dumps(HOSTILE)}\nyear: 2026\n---\n\n"
        "Youth clubs in Dewsbury reopened on weekday evenings, with detached youth work nearby.\n",
        encoding="utf-8",
    )
    return ingest_into(kb_dir, root / "note.md", root / "clubs.md")


@pytest.fixture(scope="module")
def apps(data, tmp_path_factory):
    """The same knowledge base served twice: with no sign-in configured, and with local users."""
    cfg = tmp_path_factory.mktemp("cfg")
    (cfg / "none.toml").write_text("# no [auth]: sign-in is not configured\n", encoding="utf-8")
    (cfg / "users.toml").write_text(users_toml(analyst=("internal", "inside")), encoding="utf-8")
    with (
        app_served(data, KB_CONFIG=str(cfg / "none.toml")) as none,
        app_served(data, KB_CONFIG=str(cfg / "users.toml")) as users,
    ):
        yield {"none": none, "users": users}


@pytest.fixture
def page(browser):
    with browser_page(browser, 1400, 1000, timeout_ms=90_000, accept_downloads=True) as pg:
        yield pg


def _settle(page) -> None:
    settle(page, pause_ms=700)


def _text(page) -> str:
    return page.locator("body").inner_text()


def _the_cell(data: Path) -> tuple[str, str]:
    """(factor label, column label) of an evidence-map cell whose drill-down lists the note, as the app labels them."""
    from kb.evidence_map import build_map

    kb = open_kb(data)
    try:
        doc_id = next(d.doc_id for d in kb.catalogue.documents() if d.title == SECRET_TITLE)
        chunk_ids = {c.chunk_id for c in kb.catalogue.chunks_of(doc_id)}
        emap = build_map(kb, sensitivities=["official", "official-sensitive"])
    finally:
        kb.close()
    cells = [
        (cell.passages, row, col)
        for row in emap.rows
        for col in emap.columns
        if doc_id in (cell := row.cells[col.id]).doc_ids and chunk_ids & set(cell.chunk_ids)
    ]
    assert cells, "the note is tagged into some cell of the map"
    _, row, col = min(cells, key=lambda c: c[0])
    return f"{row.label} ({row.polarity})", f"{col.id} {col.label}"


def _pick(page, key: str, label: str) -> None:
    """Choose `label` in a select box: type it, then click its option once the list shows it. Enter pressed
    straight after typing can land before the list is filtered on a loaded machine: fresh-clone CI once read the
    map with the factor box still open on "1 option available"."""
    box = page.locator(f".st-key-{key} input")
    box.click()
    box.fill(label)
    page.get_by_role("option", name=label).first.click()
    _settle(page)


def _search(page, query: str) -> None:
    box = page.locator(".st-key-q input")
    box.wait_for()
    box.fill(query)
    box.press("Enter")
    page.locator(".kb-passage").first.wait_for()
    _settle(page)


def _exports(page) -> dict[str, str]:
    out = {}
    for key in ("export_csv", "export_bib", "export_ris"):
        with page.expect_download() as dl:
            page.locator(f".st-key-{key} button").click()
        out[key] = Path(dl.value.path()).read_text(encoding="utf-8")
    return out


def _nav(page, name: str) -> None:
    # The sidebar's own links keep the session (and the sign-in); a fresh page load would start a new one.
    page.locator('[data-testid="stSidebarNav"] a', has_text=name).first.click()
    _settle(page)


def _library_titles(page) -> str:
    """The Library table's visible cells (the grid draws on a canvas; its accessible table carries the text)."""
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    _settle(page)
    return " ".join(page.locator('[data-testid="stDataFrame"] table').first.all_inner_texts())


QUERY = "mentoring trusted adult school exclusion Leeds"


def _walk(page, data: Path) -> dict[str, str]:
    """Search (+ exports), Library, Evidence map drill-down and What works, from the current page's session."""
    seen = {}
    _nav(page, "Search")
    _search(page, QUERY)
    seen["search"] = _text(page)
    exports = _exports(page)
    seen.update(exports)
    _nav(page, "Library")
    seen["library"] = _library_titles(page) + "\n" + _text(page)
    _nav(page, "Evidence map")
    factor, column = _the_cell(data)
    _pick(page, "map_factor", factor)
    _pick(page, "map_col", column)
    # The cell's drill-down, drawn whether it lists studies or says the cell is empty for this viewer.
    page.get_by_text(re.compile(r"tagged passages; by type|No study yet on")).first.wait_for()
    _settle(page)
    seen["map"] = _text(page)
    _nav(page, "What works")
    page.locator(".st-key-card_mentoring").wait_for()
    _settle(page)
    seen["what_works"] = page.locator(".st-key-card_mentoring").inner_text()
    return seen


def _n_documents(data: Path) -> int:
    kb = open_kb(data)
    try:
        return len(kb.catalogue.documents())
    finally:
        kb.close()


def test_no_sign_in_shows_no_official_sensitive_title_or_passage_anywhere(apps, data, page):
    page.goto(apps["none"])
    page.locator('[data-testid="stMetric"]').first.wait_for()
    _settle(page)
    note = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "1 official-sensitive document is hidden" in note and "kb.toml" in note
    seen = _walk(page, data)
    for where, text in seen.items():
        assert SECRET_TITLE not in text, where
        assert SECRET_PASSAGE not in text, where
    assert "Mentoring" in seen["search"] and "Mentoring" in seen["export_csv"], "the pages did show evidence"
    assert f"{_n_documents(data) - 1} documents" in seen["library"], "the Library lists all but the hidden one"
    assert "Local evidence" in seen["what_works"] and "Passages" in seen["map"]
    # A feed-style title with Markdown and HTML in it is shown as text: no link, no bold element.
    page.locator('[data-testid="stSidebarNav"] a', has_text="Search").first.click()
    _search(page, "youth clubs reopened Dewsbury")
    assert page.locator('a[href^="http://evil.example"]').count() == 0
    assert page.locator(".stMarkdown b, [data-testid='stMarkdownContainer'] b").count() == 0
    assert "[click me](http://evil.example/x) <b>bold</b>" in _text(page)


def test_internal_sign_in_sees_them_and_the_views_are_audited(apps, data, page):
    page.goto(apps["users"])
    page.locator(".st-key-sign_in_user input").wait_for()
    assert "sign in as an internal user" in page.locator('[data-testid="stSidebar"]').inner_text()
    page.locator(".st-key-sign_in_user input").fill("analyst")
    page.locator(".st-key-sign_in_password input").fill("inside")
    page.locator('[data-testid="stFormSubmitButton"] button').click()
    page.get_by_text("Signed in as").wait_for()
    _settle(page)
    seen = _walk(page, data)
    for where in ("search", "export_csv", "export_bib", "export_ris", "map", "what_works"):
        assert SECRET_TITLE in seen[where], where
    assert f"{_n_documents(data)} documents" in seen["library"]
    assert SECRET_PASSAGE in seen["search"] and SECRET_PASSAGE in seen["export_csv"]

    trail = json.loads(run_kb(data, "audit", "--json", check=True).stdout)["entries"]
    mine = {(e["action"], e["destination"]) for e in trail if e["actor"] == "analyst" and e["title"] == SECRET_TITLE}
    assert ("view", "app: Search") in mine
    assert {("export", f"app: Search, {f} download") for f in ("CSV", "BibTeX", "RIS")} <= mine
    assert any(a == "view" and d.startswith("app: Evidence map") for a, d in mine)
