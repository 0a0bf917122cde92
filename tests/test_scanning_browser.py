"""The Scanning page in a real browser after `kb scan`: the new item is there, a failing source says why,
and an alert saved from Search is listed (Playwright driving Debian's headless Chromium)."""

# ruff: noqa: F811  (pytest fixtures imported from scanfixtures are used as arguments)
from __future__ import annotations

import pytest
from kbfixtures import app_served, needs_chromium, screenshot, settle
from scanfixtures import feed_site, scanned_kb  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, needs_chromium]
QUERY = "drug treatment for young adults"


@pytest.fixture(scope="module")
def app_url(scanned_kb):
    with app_served(scanned_kb) as url:
        yield url


def _nav(page, name: str) -> None:
    # The sidebar link keeps the session (and so the sign-in); a new address would start a new one.
    page.locator(f'[data-testid="stSidebarNav"] a[href$="/{name}"]').click()
    settle(page)


def test_scanning_page_shows_the_scan_and_an_alert_saved_from_search(app_url, page):
    page.goto(f"{app_url}/Scanning")
    page.locator(".kb-item-title", has_text="Drug treatment and violence among young adults").first.wait_for()
    settle(page)
    assert not page.locator('[data-testid="stException"]').count(), page.locator("body").inner_text()[:2000]
    screenshot(page, "scanning")
    page.get_by_role("tab", name="Sources").click()
    page.get_by_text("Down: feed not reachable: connection refused").wait_for()
    screenshot(page, "scanning-sources")

    page.locator(".st-key-sign_in_user input").fill("analyst")
    page.locator(".st-key-sign_in_password input").fill("inside")
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").click()
    page.get_by_text("Signed in as").wait_for()
    settle(page)

    _nav(page, "Search")
    box = page.locator(".st-key-q input")
    box.fill(QUERY)
    box.press("Enter")
    page.locator(".kb-passage").first.wait_for()
    settle(page)
    page.locator(".st-key-save_alert button").first.click()
    page.get_by_text(f"Saved as alert “{QUERY}”").wait_for()

    _nav(page, "Scanning")
    page.get_by_role("tab", name="Alerts").click()
    alert = page.locator(".kb-alert", has_text=QUERY)
    alert.wait_for()
    assert "new matching passage" in alert.inner_text()
    assert not page.locator('[data-testid="stException"]').count()
