"""kb.oidc against the real OpenID Provider of tests/oidc/ (no browser): the sign-in check names each
misconfiguration, and userinfo claims are used only for the subject of the ID token."""

from __future__ import annotations

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
