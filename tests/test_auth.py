"""Sign-in: scrypt hashes, the [auth] section of kb.toml, and which sensitivities each viewer sees."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kb.auth import ANONYMOUS, Viewer, hash_password, load_auth, verify_password
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


def test_no_config_means_sign_in_off_and_everything_visible(tmp_path):
    auth = load_auth(load_settings(tmp_path, env={}))
    assert not auth.enabled
    assert auth.sensitivities(ANONYMOUS) is None
    assert auth.may_manage(ANONYMOUS)


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
