"""The app in a real browser: `streamlit run` on 127.0.0.1, driven by Debian's headless Chromium; screenshots."""

from __future__ import annotations

from pathlib import Path

import pytest
from kbfixtures import serve_app

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs /usr/bin/chromium: apt-get install chromium fonts-dejavu-core (.ci/run)"
    ),
]


@pytest.fixture(scope="module")
def app_url(corpus_data_dir):
    url, proc = serve_app(corpus_data_dir)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    ctx.close()


def _settle(page) -> None:
    """Wait until Streamlit has finished the script run the last action started."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", polling=200, timeout=60_000
    )
    page.wait_for_timeout(500)


def _shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def test_search_in_a_real_browser(app_url, page):
    page.goto(f"{app_url}/Search")
    box = page.locator(".st-key-q input")
    box.wait_for()
    box.fill("trusted adult mentoring")
    box.press("Enter")
    page.locator(".kb-passage").first.wait_for()
    _settle(page)
    citations = page.locator(".kb-citation").all_inner_texts()
    assert citations and any("Mentoring" in c for c in citations)
    assert page.locator(".kb-passage mark").count() > 0, "query words are highlighted"
    assert page.locator(".chip").count() > 0, "tag chips are drawn"
    assert "q=trusted+adult+mentoring" in page.url or "q=trusted%20adult%20mentoring" in page.url
    _shot(page, "search")

    # The link alone brings the same search back, filters included.
    page.goto(f"{app_url}/Search?q=school+exclusion&type=strategy")
    page.locator(".kb-passage").first.wait_for()
    _settle(page)
    assert all(c.startswith("Serious Violence") for c in page.locator(".kb-citation").all_inner_texts())


@pytest.mark.parametrize(
    "path, name, ready",
    [
        ("", "home", '[data-testid="stMetric"]'),
        ("What_works", "what-works", ".band-HARMFUL"),
        ("Evidence_map", "evidence-map", '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'),
        ("Library", "library", '[data-testid="stDataFrame"]'),
    ],
)
def test_each_page_renders(app_url, page, path, name, ready):
    page.goto(f"{app_url}/{path}")
    page.locator(ready).first.wait_for()
    _settle(page)
    if name == "what-works":  # the HARMFUL card is the one worth a picture
        page.locator(ready).first.scroll_into_view_if_needed()
    assert not page.locator('[data-testid="stException"]').count(), page.locator("body").inner_text()[:2000]
    assert _shot(page, name).stat().st_size > 10_000
