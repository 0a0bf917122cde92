"""App sign-in: local users with scrypt-hashed passwords in kb.toml's [auth], the organisation's OIDC (Streamlit's
`st.login`) with a claim -> role mapping, and what each viewer may see (decided by kb.visibility).

Sign-in fails closed: with none configured every viewer is external, unless kb.toml says `[app] single_user = true`.
"""

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
from kb.visibility import Audience, allowed, for_viewer, may_manage

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


@dataclass(frozen=True)
class OidcMapping:
    """How the organisation's identity provider says who is internal: by email domain or by group.

    Everyone else who signs in through it is external. `provider` names the `[auth.PROVIDER]` section of
    Streamlit's secrets.toml (None: its plain `[auth]`), where the client id and secret live.
    """

    provider: str | None = None
    label: str = "Sign in with your organisation account"
    internal_domains: tuple[str, ...] = ()
    internal_groups: tuple[str, ...] = ()
    groups_claim: str = "groups"

    def missing_claims(self, claims: dict) -> list[str]:
        """Claims the mapping reads that these do not carry (some providers give them at userinfo only)."""
        missing = []
        if self.internal_groups and self.groups_claim not in claims:
            missing.append(self.groups_claim)
        if self.internal_domains and not (claims.get("email") or claims.get("preferred_username")):
            missing.append("email")
        return missing

    def role_for(self, claims: dict) -> str:
        """'internal' or 'external' for an identity token's claims; unverified or missing emails never count."""
        groups = claims.get(self.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        if self.internal_groups and set(map(str, groups)) & set(self.internal_groups):
            return "internal"
        email = str(claims.get("email") or claims.get("preferred_username") or "").strip().lower()
        # Google and most providers say whether the address was verified; Entra ID work accounts do not send
        # the claim, and their address is the tenant's own. An explicit false is never trusted.
        verified = claims.get("email_verified", True) not in (False, "false", "False")
        domain = email.rpartition("@")[2] if "@" in email else ""
        if verified and domain and domain in self.internal_domains:
            return "internal"
        return "external"


@dataclass
class AuthConfig:
    users: dict[str, User] = field(default_factory=dict)
    oidc: OidcMapping | None = None
    single_user: bool = False

    @property
    def enabled(self) -> bool:
        """True when there is a way to sign in (local users or the organisation's OIDC)."""
        return bool(self.users) or self.oidc is not None

    def audience(self, viewer: Viewer) -> Audience:
        # With no way to sign in, no session's claim to be someone counts: fail closed.
        if not self.enabled:
            return for_viewer(None, None, self.single_user)
        return for_viewer(viewer.username, viewer.role, self.single_user)

    def sensitivities(self, viewer: Viewer) -> list[str]:
        """Sensitivities the viewer may see, as a search filter: kb.visibility decides, for every path."""
        return allowed(self.audience(viewer))

    def may_manage(self, viewer: Viewer) -> bool:
        """Upload, edit and removal change what everyone sees: an internal sign-in (or a single-user desktop)."""
        return may_manage(self.audience(viewer))

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


def _oidc(raw: dict | None, path) -> OidcMapping | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [auth.oidc] must be a table")
    known = {"provider", "label", "internal_domains", "internal_groups", "groups_claim"}
    if unknown := sorted(set(raw) - known):
        raise ConfigError(f"{path}: [auth.oidc] does not know {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    for key in ("internal_domains", "internal_groups"):
        if not isinstance(raw.get(key, []), list) or not all(isinstance(v, str) for v in raw.get(key, [])):
            raise ConfigError(f"{path}: [auth.oidc] {key} must be a list of strings")
    if not raw.get("internal_domains") and not raw.get("internal_groups"):
        raise ConfigError(
            f'{path}: [auth.oidc] says no one is internal; set internal_domains = ["your.org"] '
            'and/or internal_groups = ["group id"]'
        )
    return OidcMapping(
        provider=raw.get("provider"),
        label=str(raw.get("label") or OidcMapping.label),
        internal_domains=tuple(d.strip().lower().lstrip("@") for d in raw.get("internal_domains", [])),
        internal_groups=tuple(raw.get("internal_groups", [])),
        groups_claim=str(raw.get("groups_claim") or "groups"),
    )


def load_auth(settings: Settings) -> AuthConfig:
    """Read [auth] from the settings file; no users and no [auth.oidc] means no sign-in (everyone external)."""
    path = settings.config_path
    if path is None or not Path(path).exists():
        return AuthConfig(single_user=settings.app.single_user)
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
    return AuthConfig(users, _oidc(raw.get("oidc"), path), settings.app.single_user)


def main() -> None:
    """Print a password hash for kb.toml, reading the password without echoing it."""
    password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password:
        sys.exit("error: empty password")
    print(hash_password(password))


if __name__ == "__main__":
    main()
