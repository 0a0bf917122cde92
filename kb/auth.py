"""App sign-in: users with scrypt-hashed passwords in kb.toml's [auth] section, and what each viewer may see."""

from __future__ import annotations

import base64
import functools
import getpass
import hashlib
import hmac
import secrets
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kb.config import ConfigError, Settings
from kb.models import SENSITIVITIES

ROLES = ("internal", "external")
# OWASP's scrypt minimum (N=2^17, r=8, p=1) costs ~128 MiB and ~0.3 s per sign-in: fine for a form.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
_MAXMEM = 256 * 1024 * 1024


@dataclass(frozen=True)
class User:
    username: str
    role: str
    password_hash: str


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the app; `username` None is someone not signed in."""

    username: str | None = None
    role: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.username is not None


ANONYMOUS = Viewer()


@dataclass
class AuthConfig:
    users: dict[str, User] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return bool(self.users)

    def sensitivities(self, viewer: Viewer) -> list[str] | None:
        """Sensitivities the viewer may see, as a search filter; None (everything) when sign-in is off."""
        if not self.enabled:
            return None
        if viewer.signed_in and viewer.role == "internal":
            return list(SENSITIVITIES)
        return ["official"]

    def may_manage(self, viewer: Viewer) -> bool:
        """Upload and removal change what everyone sees: internal users only, once sign-in is on."""
        return not self.enabled or (viewer.signed_in and viewer.role == "internal")

    def authenticate(self, username: str, password: str) -> Viewer | None:
        user = self.users.get(username.strip())
        # Hash even for an unknown name, so timing does not tell which names exist.
        stored = user.password_hash if user else _dummy_hash()
        ok = verify_password(password, stored)
        return Viewer(user.username, user.role) if user and ok else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(
    password: str, salt: bytes | None = None, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P
) -> str:
    """'scrypt$N$r$p$salt$hash' (base64), the form kb.toml stores."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@functools.cache
def _dummy_hash() -> str:
    return hash_password("", salt=b"\0" * 16)


def load_auth(settings: Settings) -> AuthConfig:
    """Read [auth] from the settings file; no file or no [auth] users means sign-in is off."""
    path = settings.config_path
    if path is None or not Path(path).exists():
        return AuthConfig()
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("auth", {})
    users_raw = raw.get("users", [])
    if not isinstance(users_raw, list):
        raise ConfigError(f"{path}: [[auth.users]] must be a list of tables")
    users: dict[str, User] = {}
    for i, u in enumerate(users_raw, start=1):
        where = f"{path}: [[auth.users]] entry {i}"
        name, role, pw = u.get("username"), u.get("role"), u.get("password_hash")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}: username is missing")
        if role not in ROLES:
            raise ConfigError(f"{where} ({name}): role must be internal or external, not {role!r}")
        if not isinstance(pw, str) or not pw.startswith("scrypt$") or pw.count("$") != 5:
            raise ConfigError(
                f"{where} ({name}): password_hash must be an scrypt hash; make one with `python -m kb.auth`"
            )
        if name in users:
            raise ConfigError(f"{where}: user {name!r} appears twice")
        users[name] = User(name, role, pw)
    return AuthConfig(users)


def main() -> None:
    """Print a password hash for kb.toml, reading the password without echoing it."""
    password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password:
        sys.exit("error: empty password")
    print(hash_password(password))


if __name__ == "__main__":
    main()
