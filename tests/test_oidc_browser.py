"""The organisation's sign-in against a real OpenID Provider: panva's oidc-provider (tests/oidc/) on 127.0.0.1,
the app by `streamlit run` with `[auth.oidc]` in kb.toml and Streamlit's secrets.toml, driven by headless Chromium.

An internal-group user who signs in at the provider sees the official-sensitive note (and the view is audited),
signing out hides it again, an external user never sees it, and a misconfigured provider (wrong client
secret, provider down) fails closed with a message that names the cause.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from kbfixtures import (
    ROOT,
    browser_page,
    free_port,
    ingest_into,
    needs_chromium,
    run_kb,
    settle,
    start_app,
    wait_for_http,
)
from test_visibility import NOTE, SECRET_TITLE

OIDC_DIR = ROOT / "tests" / "oidc"
NODE = shutil.which("node")
PROVIDER_INSTALLED = (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").exists()
needs_provider = pytest.mark.skipif(
    NODE is None or not PROVIDER_INSTALLED,
    reason="needs Node.js and the test OpenID Provider: install node and npm, then `npm ci --prefix tests/oidc`"
    if NODE is None
    else "the test OpenID Provider is not installed: run `npm ci --prefix tests/oidc`",
)
pytestmark = [pytest.mark.browser, needs_chromium, needs_provider]

CLIENT_ID, CLIENT_SECRET = "vru-kb", "the-right-client-secret"
QUERY = "mentoring trusted adult school exclusion Leeds"
INTERNAL, EXTERNAL = "ines", "eddie"  # tests/oidc/provider.js's accounts
INTERNAL_EMAIL = "ines@westyorks.example"


def _callback(port: int) -> str:
    return f"http://localhost:{port}/oauth2callback"


@contextmanager
def provider_served(port: int, app_ports: list[int]) -> Iterator[subprocess.Popen]:
    """tests/oidc/provider.js on 127.0.0.1:port, its client registered for the apps on app_ports; stopped after."""
    redirect_uris = ",".join(_callback(p) for p in app_ports)
    proc = subprocess.Popen(
        [NODE, str(OIDC_DIR / "provider.js"), str(port), CLIENT_ID, CLIENT_SECRET, redirect_uris],
        cwd=OIDC_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/.well-known/openid-configuration", proc, "oidc-provider")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _secrets(
    app_port: int, provider_port: int, client_secret: str, prompt: str | None = "login", expose: bool = True
) -> str:
    """secrets.toml as docs/app.md tells a Hub to write it (prompt None: Streamlit's default, select_account).

    The provider keeps email and groups out of its ID token (oidc-provider's default), so the app reads them
    at its userinfo endpoint with the access token that `expose_tokens` gives it.
    """
    kwargs = 'scope = "openid email profile groups"' + (f', prompt = "{prompt}"' if prompt else "")
    return f"""[auth]
redirect_uri = "{_callback(app_port)}"
cookie_secret = "a-long-random-cookie-secret-for-this-test-only"
{'expose_tokens = ["access"]' if expose else ""}

[auth.hub]
client_id = "{CLIENT_ID}"
client_secret = "{client_secret}"
server_metadata_url = "http://127.0.0.1:{provider_port}/.well-known/openid-configuration"
client_kwargs = {{ {kwargs} }}
"""


KB_TOML = """[auth.oidc]
provider = "hub"
label = "Sign in with your council account"
internal_groups = ["vru-internal"]
"""


def _start_app(data: Path, home: Path, app_port: int, secrets_toml: str) -> subprocess.Popen:
    """The app with [auth.oidc] on app_port; Streamlit reads secrets.toml from its working directory."""
    (home / ".streamlit").mkdir(parents=True)
    (home / ".streamlit" / "secrets.toml").write_text(secrets_toml, encoding="utf-8")
    (home / "kb.toml").write_text(KB_TOML, encoding="utf-8")
    return start_app(data, app_port, cwd=home, KB_CONFIG=str(home / "kb.toml"))


@contextmanager
def apps_served(data: Path, root: Path, configs: dict[str, tuple[int, str]]) -> Iterator[dict[str, str]]:
    """One app per (port, secrets.toml), started together (each start is mostly waiting); their URLs."""
    procs: dict[str, tuple[int, subprocess.Popen]] = {}
    try:
        for i, (name, (port, secrets_toml)) in enumerate(configs.items()):
            procs[name] = port, _start_app(data, root / f"app{i}", port, secrets_toml)
        for port, proc in procs.values():
            wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", proc, "streamlit run")
        yield {name: f"http://localhost:{port}" for name, (port, _) in procs.items()}
    finally:
        for _, proc in procs.values():
            proc.terminate()
        for _, proc in procs.values():
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A small knowledge base: the official-sensitive note and one official document beside it."""
    root = tmp_path_factory.mktemp("oidc")
    (root / "note.md").write_text(NOTE, encoding="utf-8")
    (root / "clubs.md").write_text(
        "---\ntitle: Youth clubs and mentoring in Leeds\nyear: 2025\n---\n\n"
        "Mentoring in youth clubs in Leeds kept young people at risk of school exclusion in education.\n",
        encoding="utf-8",
    )
    return ingest_into(root / "kb", root / "note.md", root / "clubs.md")


MISCONFIGURED = ("wrong secret", "provider down", "select_account", "unregistered redirect URI")


@pytest.fixture(scope="module")
def hub(data, tmp_path_factory):
    """The provider and the app configured for it, as a Hub would run them; and the apps configured wrongly."""
    provider_port = free_port()
    ports = {name: free_port() for name in ("hub", "no access token", *MISCONFIGURED)}
    configs = {name: (port, _secrets(port, provider_port, CLIENT_SECRET)) for name, port in ports.items()}
    configs["wrong secret"] = ports["wrong secret"], _secrets(ports["wrong secret"], provider_port, "not-the-secret")
    configs["provider down"] = ports["provider down"], _secrets(ports["provider down"], free_port(), CLIENT_SECRET)
    configs["select_account"] = (
        ports["select_account"],
        _secrets(ports["select_account"], provider_port, CLIENT_SECRET, prompt=None),
    )
    configs["no access token"] = (
        ports["no access token"],
        _secrets(ports["no access token"], provider_port, CLIENT_SECRET, expose=False),
    )
    registered = [port for name, port in ports.items() if name != "unregistered redirect URI"]
    with (
        provider_served(provider_port, registered) as provider,
        apps_served(data, tmp_path_factory.mktemp("apps"), configs) as urls,
    ):
        yield {"url": urls["hub"], "apps": urls, "provider": provider}


# oidc-provider's development login and sign-out pages link Google Fonts' CSS; nothing else may be asked for.
KNOWN_OFF_HOST = {"fonts.googleapis.com"}


@pytest.fixture
def page(browser):
    """A page whose requests to anything but this machine are stopped (and must be only the known ones)."""
    off_host: set[str] = set()

    def local_only(route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            off_host.add(host)
            route.abort()

    with browser_page(browser, 1400, 1000, timeout_ms=90_000) as pg:
        pg.context.route("**/*", local_only)
        yield pg
    assert off_host <= KNOWN_OFF_HOST, f"the pages asked for {sorted(off_host - KNOWN_OFF_HOST)}"


def _sidebar(page) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


def _search(page, url: str) -> str:
    """The Search page's text for the query, opened by its address (the OIDC cookie outlives the page load)."""
    page.goto(f"{url}/Search?q={quote(QUERY)}")
    page.locator(".kb-passage").first.wait_for()
    settle(page, pause_ms=700)
    return page.locator("body").inner_text()


def _sign_in_at_provider(page, url: str, login: str) -> None:
    """Press the app's sign-in button, sign in on the provider's own pages, and come back to the app."""
    page.goto(url)
    settle(page)
    page.locator(".st-key-sign_in_oidc button").click()
    page.locator('input[name="login"]').wait_for()
    assert page.url.startswith("http://127.0.0.1:"), "the browser is at the provider"
    page.locator('input[name="login"]').fill(login)
    page.locator('input[name="password"]').fill("any")
    page.locator('button[type="submit"]').click()
    page.get_by_role("button", name="Continue").click()  # the provider's consent screen
    page.get_by_text("Signed in as").wait_for()
    settle(page)


def _sign_out(page) -> None:
    page.locator(".st-key-sign_out button").click()
    page.wait_for_url("**/session/end**")  # the provider's end_session_endpoint, from its metadata
    # oidc-provider asks before it ends its own session, then returns to the app.
    page.get_by_role("button", name="Yes, sign me out").click()
    page.locator(".st-key-sign_in_oidc button").wait_for()
    settle(page)


def test_internal_user_signs_in_at_the_provider_sees_the_note_and_signing_out_hides_it(hub, data, page):
    url = hub["url"]
    anonymous = _search(page, url)
    assert SECRET_TITLE not in anonymous and "Youth clubs and mentoring" in anonymous
    assert "sign in as an internal user" in _sidebar(page)

    _sign_in_at_provider(page, url, INTERNAL)
    assert f"Signed in as {INTERNAL_EMAIL} (internal)" in _sidebar(page)
    assert SECRET_TITLE in _search(page, url)
    trail = json.loads(run_kb(data, "audit", "--json", check=True).stdout)["entries"]
    assert ("view", "app: Search") in {
        (e["action"], e["destination"]) for e in trail if e["actor"] == INTERNAL_EMAIL and e["title"] == SECRET_TITLE
    }

    _sign_out(page)
    assert "Signed in as" not in _sidebar(page)
    assert SECRET_TITLE not in _search(page, url)


def test_external_user_never_sees_the_note(hub, page):
    url = hub["url"]
    _sign_in_at_provider(page, url, EXTERNAL)
    assert "Signed in as eddie@partner.example (external)" in _sidebar(page)
    assert SECRET_TITLE not in _search(page, url)
    assert "sign in as an internal user" in _sidebar(page)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("wrong secret", "the provider rejected the app's client id or secret (invalid_client"),
        ("provider down", "the sign-in provider is not reachable at http://127.0.0.1:"),
        ("select_account", 'this provider does not take prompt="select_account": set client_kwargs prompt = "login"'),
        ("unregistered redirect URI", "oauth2callback is registered as a redirect URI of that client"),
    ],
)
def test_misconfigured_provider_fails_closed_with_the_reason(hub, page, case, expected):
    url = hub["apps"][case]
    page.goto(url)
    settle(page)
    page.locator(".st-key-sign_in_oidc button").click()
    error = page.locator('[data-testid="stSidebar"] [data-testid="stAlert"]')
    error.wait_for()
    assert page.url.startswith(url), "the browser stays in the app"
    text = error.inner_text()
    assert "The organisation's sign-in is not working" in text and expected in text
    assert "official-sensitive documents stay hidden" in text
    # Still anonymous: the sidebar counts the note as hidden (a search would cost each app a model load).
    assert "Signed in as" not in _sidebar(page) and "1 official-sensitive document is hidden" in _sidebar(page)


def test_claims_only_at_userinfo_and_no_access_token_is_external_and_says_why(hub, page):
    url = hub["apps"]["no access token"]
    _sign_in_at_provider(page, url, INTERNAL)
    sidebar = _sidebar(page)
    assert "Signed in as ines (external)" in sidebar, "only the ID token's sub: no email, no groups"
    assert "did not say groups, so you count as external" in sidebar and 'expose_tokens = ["access"]' in sidebar
    assert "1 official-sensitive document is hidden" in sidebar
