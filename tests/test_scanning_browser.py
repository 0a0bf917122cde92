"""The Scanning page in a real browser after `kb scan`: the new item is there, a failing source says why,
and an alert saved from Search is listed (Playwright driving Debian's headless Chromium)."""

# ruff: noqa: F811  (pytest fixtures imported from scanfixtures are used as arguments)
from __future__ import annotations

import pytest
from kbfixtures import serve_app
from scanfixtures import feed_site, scanned_kb  # noqa: F401 (fixtures)
from test_browser import ARGS, CHROMIUM, _settle, _shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs /usr/bin/chromium: apt-get install chromium fonts-dejavu-core (.ci/run)"
    ),
]
QUERY = "drug treatment for young adults"


@pytest.fixture(scope="module")
def app_url(scanned_kb):
    url, proc = serve_app(scanned_kb)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        pg = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        pg.set_default_timeout(90_000)
        yield pg
        browser.close()


def _nav(page, name: str) -> None:
    # The sidebar link keeps the session (and so the sign-in); a new address would start a new one.
    page.locator(f'[data-testid="stSidebarNav"] a[href$="/{name}"]').click()
    _settle(page)


def test_scanning_page_shows_the_scan_and_an_alert_saved_from_search(app_url, page):
    page.goto(f"{app_url}/Scanning")
    page.locator(".kb-item-title", has_text="Drug treatment and violence among young adults").first.wait_for()
    _settle(page)
    assert not page.locator('[data-testid="stException"]').count(), page.locator("body").inner_text()[:2000]
    _shot(page, "scanning")
    page.get_by_role("tab", name="Sources").click()
    page.get_by_text("Down: feed not reachable: connection refused").wait_for()
    _shot(page, "scanning-sources")

    page.locator(".st-key-sign_in_user input").fill("analyst")
    page.locator(".st-key-sign_in_password input").fill("inside")
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").click()
    page.get_by_text("Signed in as").wait_for()
    _settle(page)

    _nav(page, "Search")
    box = page.locator(".st-key-q input")
    box.fill(QUERY)
    box.press("Enter")
    page.locator(".kb-passage").first.wait_for()
    _settle(page)
    page.locator(".st-key-save_alert button").first.click()
    page.get_by_text(f"Saved as alert “{QUERY}”").wait_for()

    _nav(page, "Scanning")
    page.get_by_role("tab", name="Alerts").click()
    alert = page.locator(".kb-alert", has_text=QUERY)
    alert.wait_for()
    assert "new matching passage" in alert.inner_text()
    assert not page.locator('[data-testid="stException"]').count()
