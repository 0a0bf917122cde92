"""kb.oidc against the real OpenID Provider of tests/oidc/ (no browser): the sign-in check names each
misconfiguration, and userinfo claims are used only for the subject of the ID token."""

from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from kbfixtures import free_port
from test_oidc_browser import CLIENT_ID, CLIENT_SECRET, _callback, needs_provider, provider_served

from kb import oidc
from kb.auth import OidcMapping

pytestmark = needs_provider


@pytest.fixture(scope="module")
def provider():
    port, app_port = free_port(), free_port()
    with provider_served(port, [app_port]):
        yield {"metadata": f"http://127.0.0.1:{port}/.well-known/openid-configuration", "redirect": _callback(app_port)}


def _section(provider, **over) -> dict:
    section = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "server_metadata_url": provider["metadata"],
        "client_kwargs": {"prompt": "login"},
    }
    return {**section, **over}


def test_a_working_configuration_passes_the_check(provider):
    oidc.check_sign_in(_section(provider), provider["redirect"])
    post = _section(provider, client_kwargs={"prompt": "login", "token_endpoint_auth_method": "client_secret_post"})
    oidc.check_sign_in(post, provider["redirect"])


@pytest.mark.parametrize(
    "over, redirect, message",
    [
        ({"client_secret": "wrong"}, None, "rejected the app's client id or secret (invalid_client"),
        ({"client_id": "nobody"}, None, "check client_id and that"),
        ({"client_kwargs": {}}, None, 'does not take prompt="select_account"'),
        ({}, "http://localhost:1/oauth2callback", "http://localhost:1/oauth2callback is registered as a redirect URI"),
        ({"server_metadata_url": "http://127.0.0.1:{free}/.well-known/openid-configuration"}, None, "not reachable"),
        ({"server_metadata_url": "{issuer}/jwks"}, None, "without an OpenID configuration"),
        ({"client_secret": ""}, None, "client_id, client_secret and server_metadata_url are all needed"),
    ],
)
def test_each_misconfiguration_is_named(provider, over, redirect, message):
    issuer = provider["metadata"].removesuffix("/.well-known/openid-configuration")
    over = {k: v.format(free=free_port(), issuer=issuer) if isinstance(v, str) else v for k, v in over.items()}
    with pytest.raises(oidc.ProviderError) as err:
        oidc.check_sign_in(_section(provider, **over), redirect or provider["redirect"])
    assert message in str(err.value)


def test_userinfo_needs_a_valid_token(provider):
    with pytest.raises(oidc.ProviderError, match="userinfo endpoint answered HTTP 401"):
        oidc.userinfo(provider["metadata"], "not-a-token", "ines")


def test_missing_claims_says_what_the_mapping_reads():
    both = OidcMapping(internal_domains=("westyorks.example",), internal_groups=("vru-internal",))
    assert both.missing_claims({"sub": "ines"}) == ["groups", "email"]
    assert both.missing_claims({"sub": "ines", "groups": [], "email": "i@x.org"}) == []
    assert OidcMapping(internal_groups=("g",), groups_claim="roles").missing_claims({"groups": ["g"]}) == ["roles"]
    assert OidcMapping(internal_domains=("x.org",)).missing_claims({"preferred_username": "a@x.org"}) == []


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # each redirect is looked at: the last one carries the code


def _access_token(provider, login: str) -> str:
    """A real access token for `login`: the code flow through the provider's own forms, without a browser."""
    meta = oidc.metadata(provider["metadata"])
    jar = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _Stay)
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode(
        dict(
            response_type="code",
            client_id=CLIENT_ID,
            redirect_uri=provider["redirect"],
            scope="openid email profile groups",
            prompt="login",
            state="s",
            nonce="n",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    )
    req, forms = urllib.request.Request(f"{meta['authorization_endpoint']}?{query}"), 0
    while forms < 6:
        try:
            with jar.open(req, timeout=5) as r:
                page, url = r.read().decode(), r.url
        except urllib.error.HTTPError as exc:
            location = urllib.parse.urljoin(req.full_url, exc.headers["Location"])
            if location.startswith(provider["redirect"]):
                code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
                break
            req = urllib.request.Request(location)
            continue
        forms += 1
        action = urllib.parse.urljoin(url, re.search(r'<form[^>]*action="([^"]+)"', page).group(1))
        prompt = re.search(r'name="prompt" value="(\w+)"', page).group(1)
        req = urllib.request.Request(
            action, urllib.parse.urlencode(dict(prompt=prompt, login=login, password="x")).encode()
        )
    else:
        pytest.fail("the provider's forms did not lead back to the redirect URI")
    pair = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    form = dict(grant_type="authorization_code", code=code, redirect_uri=provider["redirect"], code_verifier=verifier)
    token_req = urllib.request.Request(
        meta["token_endpoint"], urllib.parse.urlencode(form).encode(), {"Authorization": f"Basic {pair}"}
    )
    with urllib.request.urlopen(token_req, timeout=5) as r:
        return json.load(r)["access_token"]


def test_userinfo_gives_the_claims_of_the_token_and_only_for_its_subject(provider):
    token = _access_token(provider, "ines")
    claims = oidc.userinfo(provider["metadata"], token, "ines")
    assert claims["groups"] == ["vru-internal"] and claims["email"] == "ines@westyorks.example"
    with pytest.raises(oidc.ProviderError, match="about another subject"):
        oidc.userinfo(provider["metadata"], token, "eddie")
