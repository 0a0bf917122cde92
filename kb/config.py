"""Settings: read once from `kb.toml` (data directory or KB_CONFIG) with KB_* environment overrides."""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Keys that hold a secret: never accepted in kb.toml, which is often world-readable and kept in version control.
SECRET_KEYS = ("password", "token", "secret", "client_secret", "api_key")


class ConfigError(ValueError):
    """The settings file or an environment variable is wrong; the message says which and how to fix it."""


class Secret:
    """A password or token: its value only through `reveal()`, never in a repr, a log line or `--json`."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "none"  # none | starttls | ssl
    sender: str = "Knowledge Hub <hub@example.org>"
    user: str | None = None
    password_file: str | None = None  # a file only its owner can read (chmod 600) holding the password
    timeout: float = 30.0
    password: Secret | None = field(default=None, repr=False)  # from KB_SMTP_PASSWORD or password_file only


@dataclass
class AppSettings:
    # True: a single-user desktop with no sign-in, everything visible; `kb app` then serves loopback only.
    single_user: bool = False
    # Where the one-click unsubscribe server that `kb app` starts beside Streamlit is reached from outside.
    unsubscribe_url: str | None = None


@dataclass
class MailingList:
    name: str
    audience: str = "external"  # internal | external
    frequency: str = "weekly"
    recipients: list[str] = field(default_factory=list)


@dataclass
class Source:
    name: str
    feed: str | None = None
    folder: str | None = None
    doc_type: str | None = None  # None: feed items are "news", folder files as their reader decides
    sensitivity: str = "official"
    paused: bool = False  # kept in kb.toml but not scanned
    # Item links are fetched only from the feed's own origin and these hosts (kb.feeds.FetchPolicy).
    fetch_hosts: list[str] = field(default_factory=list)
    allow_private: bool = False  # true: those hosts may resolve to loopback/private/link-local addresses


@dataclass
class Settings:
    data_dir: Path
    chroma_url: str | None = None
    embed_model: str = DEFAULT_MODEL
    device: str = "cpu"
    embed_batch_size: int = 32
    embed_backend: str = "auto"  # auto | torch | onnx
    chunk_tokens: int = 200
    chunk_overlap: int = 32
    hnsw_ef_search: int = 200
    public_url: str = "http://localhost:8501"
    zotero_storage: Path | None = None  # Zotero's storage folder, for .bib attachments by absolute path
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    app: AppSettings = field(default_factory=AppSettings)
    lists: list[MailingList] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    config_path: Path | None = None

    @property
    def catalogue_path(self) -> Path:
        return self.data_dir / "catalogue.sqlite3"

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    def mailing_list(self, name: str) -> MailingList:
        for lst in self.lists:
            if lst.name == name:
                return lst
        known = ", ".join(lst.name for lst in self.lists) or "none"
        raise ConfigError(f"no mailing list named {name!r} in {self.config_path or 'kb.toml'} (known: {known})")


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a whole number") from None


def _section(raw: dict, key: str, cls, path: Path | None):
    items = raw.get(key, [])
    if not isinstance(items, list):
        raise ConfigError(f"{path}: [[{key}]] must be a list of tables")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(cls(**item))
        except TypeError as exc:
            raise ConfigError(f"{path}: [[{key}]] entry {i + 1}: {exc}") from None
    return out


def _refuse_secrets(raw: dict, path: Path, where: str = "") -> None:
    """A secret written into kb.toml is refused, with where it should live instead."""
    for key, value in raw.items():
        here = f"{where}.{key}" if where else key
        if isinstance(value, dict):
            _refuse_secrets(value, path, here)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _refuse_secrets(item, path, here)
        elif key.lower() in SECRET_KEYS or key.lower().endswith(("_password", "_token", "_secret")):
            raise ConfigError(
                f"{path}: {here} holds a secret; remove it from kb.toml and set it in the environment "
                '(KB_SMTP_PASSWORD for [smtp]) or in a file only you can read: password_file = "/path" '
                "with chmod 600 (KB_SMTP_PASSWORD_FILE). OIDC client secrets go in .streamlit/secrets.toml."
            )


def read_secret_file(path: str | Path) -> Secret:
    """The secret in a file that no one but its owner can read; refused (with the fix) otherwise."""
    p = Path(path).expanduser()
    try:
        mode = p.stat().st_mode
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the secret file {p}: {exc.strerror}; check the path") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{p} can be read by other users (mode {stat.S_IMODE(mode):o}); run `chmod 600 {p}`")
    return Secret(text.strip())


def load_settings(data_dir: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Build the one Settings object: file first, then KB_* variables, then an explicit data_dir."""
    env = dict(os.environ if env is None else env)
    ddir = Path(data_dir or env.get("KB_DATA_DIR") or Path.home() / ".local" / "share" / "kb").expanduser()
    cfg_path = Path(env["KB_CONFIG"]).expanduser() if env.get("KB_CONFIG") else ddir / "kb.toml"
    raw: dict = {}
    if cfg_path.exists():
        try:
            raw = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{cfg_path}: not valid TOML ({exc}); fix the file or unset KB_CONFIG") from None
    elif env.get("KB_CONFIG"):
        raise ConfigError(f"KB_CONFIG names {cfg_path}, which does not exist")

    _refuse_secrets(raw, cfg_path)
    kb_raw = raw.get("kb", {})
    smtp_raw = dict(raw.get("smtp", {}))
    try:
        smtp = SmtpSettings(**smtp_raw)
        app = AppSettings(**raw.get("app", {}))
    except TypeError as exc:
        raise ConfigError(f"{cfg_path}: [smtp] or [app]: {exc}") from None
    if not isinstance(app.single_user, bool):
        raise ConfigError(f"{cfg_path}: [app] single_user must be true or false, not {app.single_user!r}")
    s = Settings(
        data_dir=ddir,
        smtp=smtp,
        app=app,
        lists=_section(raw, "lists", MailingList, cfg_path),
        sources=_section(raw, "sources", Source, cfg_path),
        config_path=cfg_path if cfg_path.exists() else None,
    )
    for key in ("chroma_url", "embed_model", "device", "embed_backend", "public_url"):
        if key in kb_raw:
            setattr(s, key, str(kb_raw[key]))
    for key in ("chunk_tokens", "chunk_overlap", "embed_batch_size", "hnsw_ef_search"):
        if key in kb_raw:
            setattr(s, key, int(kb_raw[key]))

    if env.get("KB_CHROMA_URL"):
        s.chroma_url = env["KB_CHROMA_URL"]
    if env.get("KB_EMBED_MODEL"):
        s.embed_model = env["KB_EMBED_MODEL"]
    if env.get("KB_DEVICE"):
        s.device = env["KB_DEVICE"]
    if env.get("KB_EMBED_BACKEND"):
        s.embed_backend = env["KB_EMBED_BACKEND"]
    if env.get("KB_PUBLIC_URL"):
        s.public_url = env["KB_PUBLIC_URL"]
    storage = env.get("KB_ZOTERO_STORAGE") or kb_raw.get("zotero_storage")
    if storage:
        s.zotero_storage = Path(str(storage)).expanduser()
    for key, attr in (
        ("KB_CHUNK_TOKENS", "chunk_tokens"),
        ("KB_CHUNK_OVERLAP", "chunk_overlap"),
        ("KB_EMBED_BATCH_SIZE", "embed_batch_size"),
        ("KB_SMTP_PORT", None),
    ):
        if env.get(key):
            if attr:
                setattr(s, attr, _int(key, env[key]))
            else:
                s.smtp.port = _int(key, env[key])
    if env.get("KB_SMTP_HOST"):
        s.smtp.host = env["KB_SMTP_HOST"]
    if env.get("KB_SMTP_USER"):
        s.smtp.user = env["KB_SMTP_USER"]
    if env.get("KB_SMTP_PASSWORD_FILE"):
        s.smtp.password_file = env["KB_SMTP_PASSWORD_FILE"]
    if env.get("KB_SMTP_PASSWORD"):
        s.smtp.password = Secret(env["KB_SMTP_PASSWORD"])
    elif s.smtp.password_file:
        s.smtp.password = read_secret_file(s.smtp.password_file)

    if s.smtp.security not in ("none", "starttls", "ssl"):
        raise ConfigError(f"{cfg_path}: [smtp] security must be none, starttls or ssl, not {s.smtp.security!r}")
    if s.embed_backend not in ("auto", "torch", "onnx"):
        raise ConfigError(f"KB_EMBED_BACKEND must be auto, torch or onnx, not {s.embed_backend!r}")
    if s.chunk_overlap >= s.chunk_tokens:
        raise ConfigError("chunk_overlap must be smaller than chunk_tokens")
    for src in s.sources:
        if not isinstance(src.fetch_hosts, list) or not all(isinstance(h, str) for h in src.fetch_hosts):
            raise ConfigError(f"{cfg_path}: source {src.name!r}: fetch_hosts must be a list of host names")
        if not isinstance(src.allow_private, bool):
            raise ConfigError(f"{cfg_path}: source {src.name!r}: allow_private must be true or false")
    for lst in s.lists:
        if lst.audience not in ("internal", "external"):
            raise ConfigError(f"{cfg_path}: list {lst.name!r}: audience must be internal or external")
    return s
