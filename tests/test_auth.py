"""Sign-in: scrypt hashes, the [auth] section of kb.toml, and which sensitivities each viewer sees."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kb.auth import ANONYMOUS, OidcMapping, Viewer, hash_password, load_auth, verify_password
from kb.config import ConfigError, load_settings

# Low scrypt cost keeps the tests fast; the stored parameters travel with each hash.
FAST = dict(n=2**10, r=8, p=1)


def _settings(tmp_path, toml: str):
    (tmp_path / "kb.toml").write_text(toml, encoding="utf-8")
    return load_settings(tmp_path, env={})


def _auth_toml(**hashes: str) -> str:
    roles = {"ana": "internal", "pat": "external"}
    return "\n".join(
        f'[[auth.users]]\nusername = "{name}"\nrole = "{roles[name]}"\npassword_hash = "{h}"\n'
        for name, h in hashes.items()
    )


def test_hash_is_salted_and_verifies():
    a, b = hash_password("s3cret", **FAST), hash_password("s3cret", **FAST)
    assert a != b, "each hash has its own salt"
    assert a.startswith("scrypt$1024$8$1$")
    assert verify_password("s3cret", a) and verify_password("s3cret", b)
    assert not verify_password("S3cret", a)


@pytest.mark.parametrize(
    "stored", ["", "plain", "scrypt$x$8$1$AA==$AA==", "bcrypt$1$2$3$AA==$AA==", "scrypt$1024$8$1$!!$AA=="]
)
def test_malformed_hash_never_verifies(stored):
    assert not verify_password("anything", stored)


def test_no_sign_in_configured_fails_closed(tmp_path):
    auth = load_auth(load_settings(tmp_path, env={}))
    assert not auth.enabled
    assert auth.sensitivities(ANONYMOUS) == ["official"], "no sign-in: official-sensitive is hidden from everyone"
    assert not auth.may_manage(ANONYMOUS), "and no one may upload, edit or remove"


def test_single_user_desktop_opts_out_explicitly(tmp_path):
    auth = load_auth(_settings(tmp_path, "[app]\nsingle_user = true\n"))
    assert auth.single_user and not auth.enabled
    assert auth.sensitivities(ANONYMOUS) == ["official", "official-sensitive"]
    assert auth.may_manage(ANONYMOUS)
    with pytest.raises(ConfigError, match="single_user must be true or false"):
        _settings(tmp_path, '[app]\nsingle_user = "yes"\n')


def test_configured_users_sign_in_and_see_by_role(tmp_path):
    auth = load_auth(
        _settings(tmp_path, _auth_toml(ana=hash_password("a-pw", **FAST), pat=hash_password("p-pw", **FAST)))
    )
    assert auth.enabled
    ana = auth.authenticate("ana", "a-pw")
    pat = auth.authenticate(" pat ", "p-pw")
    assert ana == Viewer("ana", "internal") and pat == Viewer("pat", "external")
    assert auth.authenticate("ana", "p-pw") is None
    assert auth.authenticate("nobody", "a-pw") is None
    assert auth.sensitivities(ana) == ["official", "official-sensitive"]
    assert auth.sensitivities(pat) == ["official"]
    assert auth.sensitivities(ANONYMOUS) == ["official"]
    assert auth.may_manage(ana) and not auth.may_manage(pat) and not auth.may_manage(ANONYMOUS)


@pytest.mark.parametrize(
    "toml, message",
    [
        ('[[auth.users]]\nrole = "internal"\npassword_hash = "scrypt$1$1$1$a$b"', "username is missing"),
        ('[[auth.users]]\nusername = "x"\nrole = "admin"\npassword_hash = "scrypt$1$1$1$a$b"', "role must be"),
        ('[[auth.users]]\nusername = "x"\nrole = "internal"\npassword_hash = "hunter2"', "python -m kb.auth"),
        ('[auth]\nusers = "x"', "must be a list"),
    ],
)
def test_bad_auth_section_names_the_problem(tmp_path, toml, message):
    with pytest.raises(ConfigError, match=message):
        load_auth(_settings(tmp_path, toml))


def test_duplicate_user_is_an_error(tmp_path):
    h = hash_password("x", **FAST)
    toml = _auth_toml(ana=h) + _auth_toml(ana=h)
    with pytest.raises(ConfigError, match="appears twice"):
        load_auth(_settings(tmp_path, toml))


def test_hash_command_prints_a_hash_that_verifies():
    out = subprocess.run(
        [sys.executable, "-m", "kb.auth"], input="correct horse\n", capture_output=True, text=True, check=True
    ).stdout.strip()
    assert verify_password("correct horse", out)


# -- the organisation's sign-in (Streamlit st.login, OIDC): claims -> internal / external --------------

ENTRA = OidcMapping(provider="microsoft", internal_domains=("westyorks-ca.gov.uk",), internal_groups=("vru-analysts",))


@pytest.mark.parametrize(
    "claims, role",
    [
        ({"email": "Ana@WestYorks-CA.gov.uk"}, "internal"),  # domain, any case; Entra sends no email_verified
        ({"email": "ana@westyorks-ca.gov.uk", "email_verified": True}, "internal"),
        ({"email": "ana@westyorks-ca.gov.uk", "email_verified": False}, "external"),  # unverified never counts
        ({"preferred_username": "ana@westyorks-ca.gov.uk"}, "internal"),  # Entra's UPN when email is absent
        ({"email": "pat@partner.example", "groups": ["vru-analysts"]}, "internal"),  # group, any domain
        ({"email": "pat@partner.example", "groups": "vru-analysts"}, "internal"),  # a lone group as a string
        ({"email": "pat@partner.example", "groups": ["others"]}, "external"),
        ({"email": "ana@evil-westyorks-ca.gov.uk"}, "external"),  # a look-alike domain is another domain
        ({"email": "ana@westyorks-ca.gov.uk.evil.example"}, "external"),
        ({"sub": "1234"}, "external"),  # no email, no group: external
        ({}, "external"),
    ],
)
def test_oidc_claims_map_to_a_role(claims, role):
    assert ENTRA.role_for(claims) == role


def test_oidc_mapping_is_read_from_kb_toml(tmp_path):
    auth = load_auth(
        _settings(
            tmp_path,
            '[auth.oidc]\nprovider = "google"\ninternal_domains = ["@VRU.example"]\n'
            'groups_claim = "roles"\ninternal_groups = ["Hub.Internal"]\n',
        )
    )
    assert auth.enabled and not auth.users
    assert auth.oidc.provider == "google" and auth.oidc.internal_domains == ("vru.example",)
    assert auth.oidc.role_for({"email": "x@vru.example"}) == "internal"
    assert auth.oidc.role_for({"email": "x@other.example", "roles": ["Hub.Internal"]}) == "internal"
    # The role a signed-in OIDC viewer gets decides what they see, through the same function as local users.
    assert auth.sensitivities(Viewer("x@other.example", "external")) == ["official"]


@pytest.mark.parametrize(
    "toml, message",
    [
        ('[auth.oidc]\nprovider = "google"\n', "says no one is internal"),
        ('[auth.oidc]\ninternal_domains = "vru.example"\n', "must be a list of strings"),
        ('[auth.oidc]\ninternal_domains = ["vru.example"]\nclient_id = "x"\n', "does not know client_id"),
        ('[auth.oidc]\ninternal_domains = ["vru.example"]\nclient_secret = "x"\n', "holds a secret"),
    ],
)
def test_bad_oidc_section_names_the_problem(tmp_path, toml, message):
    with pytest.raises(ConfigError, match=message):
        load_auth(_settings(tmp_path, toml))
