"""The app in a real browser: `streamlit run` on 127.0.0.1, driven by Debian's headless Chromium; screenshots."""

from __future__ import annotations

import pytest
from kbfixtures import app_served, needs_chromium, screenshot, settle

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture(scope="module")
def app_url(corpus_data_dir):
    with app_served(corpus_data_dir) as url:
        yield url


def test_search_in_a_real_browser(app_url, page):
    page.goto(f"{app_url}/Search")
    box = page.locator(".st-key-q input")
    box.wait_for()
    box.fill("trusted adult mentoring")
    box.press("Enter")
    page.locator(".kb-passage").first.wait_for()
    settle(page)
    citations = page.locator(".kb-citation").all_inner_texts()
    assert citations and any("Mentoring" in c for c in citations)
    assert page.locator(".kb-passage mark").count() > 0, "query words are highlighted"
    assert page.locator(".chip").count() > 0, "tag chips are drawn"
    assert "q=trusted+adult+mentoring" in page.url or "q=trusted%20adult%20mentoring" in page.url
    screenshot(page, "search")

    # The link alone brings the same search back, filters included.
    page.goto(f"{app_url}/Search?q=school+exclusion&type=strategy")
    page.locator(".kb-passage").first.wait_for()
    settle(page)
    assert all(c.startswith("Serious Violence") for c in page.locator(".kb-citation").all_inner_texts())


@pytest.mark.parametrize(
    "path, name, ready",
    [
        # The page links and tables draw last: the picture waits for them, not for the first metric.
        ("", "home", '[data-testid="stPageLink-NavLink"]'),
        ("What_works", "what-works", ".band-HARMFUL"),
        ("Evidence_map", "evidence-map", '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'),
        ("Library", "library", '[data-testid="stDataFrame"]'),
    ],
)
def test_each_page_renders(app_url, page, path, name, ready):
    page.goto(f"{app_url}/{path}")
    page.locator(ready).first.wait_for()
    settle(page, pause_ms=1500)
    if name == "what-works":  # the HARMFUL card is the one worth a picture
        page.locator(ready).first.scroll_into_view_if_needed()
    assert not page.locator('[data-testid="stException"]').count(), page.locator("body").inner_text()[:2000]
    assert screenshot(page, name).stat().st_size > 10_000
