"""The organisation's OpenID Provider, asked directly: a check of the sign-in before the browser is sent there,
and the userinfo claims of a provider that keeps them out of its ID token.

Streamlit's `st.login` sends the browser away and, when the provider or the token exchange fails, brings it back
signed out with nothing said (the reason goes to the server log). So the app asks first, the way Streamlit will:
the provider's metadata, the authorization request with the same parameters, and the token endpoint with the
client's credentials and a made-up code (a provider authenticates the client before it looks at the code:
RFC 6749 5.2, `invalid_client` vs `invalid_grant`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT_S = 5
# Streamlit's defaults for `client_kwargs` (streamlit/web/server/starlette/starlette_auth_routes.py).
DEFAULT_SCOPE, DEFAULT_PROMPT = "openid email profile", "select_account"
_BAD_CREDENTIALS = {"invalid_client", "unauthorized_client"}


class ProviderError(Exception):
    """The provider cannot sign anyone in as configured; the message says why and what to change."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the redirect is the answer: urllib raises it as an HTTPError with its Location


_OPENER = urllib.request.build_opener(_NoRedirect)


def _request(req: urllib.request.Request | str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request, redirects and HTTP errors included; OSError when unreachable."""
    try:
        with _OPENER.open(req, timeout=TIMEOUT_S) as r:
            return r.status, dict(r.headers), r.read(65536)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read(65536)


def _unreachable(url: str, exc: OSError) -> ProviderError:
    reason = getattr(exc, "reason", None) or exc
    return ProviderError(f"the sign-in provider is not reachable at {url} ({reason}); no one can sign in until it is")


def _json_object(req: urllib.request.Request | str, url: str) -> tuple[int, dict[str, Any] | None]:
    """The status of one request and the JSON object it answered with (None unless HTTP 200 and an object)."""
    try:
        status, _, body = _request(req)
    except OSError as exc:
        raise _unreachable(url, exc) from exc
    try:
        answer = json.loads(body) if status == 200 else None
    except ValueError:
        answer = None
    return status, answer if isinstance(answer, dict) else None


def metadata(url: str) -> dict[str, Any]:
    """The provider's OpenID configuration (server_metadata_url)."""
    status, meta = _json_object(url, url)
    if meta is None or not meta.get("authorization_endpoint") or not meta.get("token_endpoint"):
        raise ProviderError(
            f"{url} answered HTTP {status} without an OpenID configuration; check server_metadata_url "
            "(it ends in /.well-known/openid-configuration)"
        )
    return meta


def _oauth_error(body: bytes) -> tuple[str, str]:
    try:
        data = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    return str(data.get("error") or ""), str(data.get("error_description") or "")


def _check_authorization(meta: dict, client_id: str, redirect_uri: str, kwargs: dict) -> None:
    """The authorization request Streamlit will send: the provider must not refuse it."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": kwargs.get("scope", DEFAULT_SCOPE),
        "prompt": kwargs.get("prompt", DEFAULT_PROMPT),
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
    }
    if "S256" in (meta.get("code_challenge_methods_supported") or []):
        digest = hashlib.sha256(secrets.token_urlsafe(32).encode("ascii")).digest()
        params.update(
            code_challenge=base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), code_challenge_method="S256"
        )
    endpoint = meta["authorization_endpoint"]
    sep = "&" if "?" in endpoint else "?"
    try:
        status, headers, body = _request(endpoint + sep + urllib.parse.urlencode(params))
    except OSError as exc:
        raise _unreachable(endpoint, exc) from exc
    location = headers.get("Location") or headers.get("location") or ""
    if location.startswith(redirect_uri):
        answer = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        if "error" in answer:
            error, desc = answer["error"][0], answer.get("error_description", [""])[0]
            hint = ""
            if "prompt" in desc:
                hint = f'; this provider does not take prompt="{params["prompt"]}": set client_kwargs prompt = "login"'
            raise ProviderError(f"the provider refused the sign-in request ({error}: {desc}){hint}")
    elif status >= 400:
        error, desc = _oauth_error(body)
        said = f" ({error}: {desc})" if error else ""
        raise ProviderError(
            f"the provider refused the sign-in request with HTTP {status}{said}; check client_id and that "
            f"{redirect_uri} is registered as a redirect URI of that client"
        )


def _check_credentials(meta: dict, client_id: str, client_secret: str, redirect_uri: str, kwargs: dict) -> None:
    """The token endpoint with the client's credentials and a code that cannot be valid: which error it gives."""
    form = {"grant_type": "authorization_code", "code": "kb-sign-in-check", "redirect_uri": redirect_uri}
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if kwargs.get("token_endpoint_auth_method") == "client_secret_post":
        form.update(client_id=client_id, client_secret=client_secret)
    else:  # Authlib's default, client_secret_basic, encoded as Authlib does
        pair = f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(client_secret)}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    endpoint = meta["token_endpoint"]
    req = urllib.request.Request(endpoint, urllib.parse.urlencode(form).encode(), headers, method="POST")
    try:
        status, _, body = _request(req)
    except OSError as exc:
        raise _unreachable(endpoint, exc) from exc
    error, desc = _oauth_error(body)
    if error in _BAD_CREDENTIALS or (status == 401 and not error):
        raise ProviderError(
            f"the provider rejected the app's client id or secret ({error or f'HTTP {status}'}"
            f"{': ' + desc if desc else ''}); check client_id and client_secret"
        )


def check_sign_in(section: dict, redirect_uri: str) -> None:
    """Raise ProviderError unless the provider of this secrets.toml section would take the app's sign-in."""
    url = section.get("server_metadata_url")
    client_id, client_secret = section.get("client_id"), section.get("client_secret")
    if not url or not client_id or not client_secret:
        raise ProviderError("client_id, client_secret and server_metadata_url are all needed")
    kwargs = dict(section.get("client_kwargs") or {})
    meta = metadata(str(url))
    _check_authorization(meta, str(client_id), redirect_uri, kwargs)
    _check_credentials(meta, str(client_id), str(client_secret), redirect_uri, kwargs)


def userinfo(metadata_url: str, access_token: str, sub: str) -> dict[str, Any]:
    """The claims the provider's userinfo endpoint gives for this access token; they must be about `sub`."""
    endpoint = metadata(metadata_url).get("userinfo_endpoint")
    if not endpoint:
        raise ProviderError("the provider has no userinfo endpoint to ask for the claims its ID token leaves out")
    req = urllib.request.Request(
        endpoint, headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    )
    status, claims = _json_object(req, endpoint)
    if claims is None:
        raise ProviderError(f"the provider's userinfo endpoint answered HTTP {status} without JSON claims")
    # OpenID Connect Core 5.3.2: a userinfo answer about someone else must not be used.
    if claims.get("sub") != sub:
        raise ProviderError("the provider's userinfo answer is about another subject than the ID token")
    return claims
