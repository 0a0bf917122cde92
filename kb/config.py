"""Settings: read once from `kb.toml` (data directory or KB_CONFIG) with KB_* environment overrides."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class ConfigError(ValueError):
    """The settings file or an environment variable is wrong; the message says which and how to fix it."""


@dataclass
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "none"  # none | starttls | ssl
    sender: str = "Knowledge Hub <hub@example.org>"
    user: str | None = None
    password: str | None = None
    timeout: float = 30.0


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

    kb_raw = raw.get("kb", {})
    smtp_raw = dict(raw.get("smtp", {}))
    try:
        smtp = SmtpSettings(**smtp_raw)
    except TypeError as exc:
        raise ConfigError(f"{cfg_path}: [smtp]: {exc}") from None
    s = Settings(
        data_dir=ddir,
        smtp=smtp,
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
    if env.get("KB_SMTP_PASSWORD"):
        s.smtp.password = env["KB_SMTP_PASSWORD"]

    if s.smtp.security not in ("none", "starttls", "ssl"):
        raise ConfigError(f"{cfg_path}: [smtp] security must be none, starttls or ssl, not {s.smtp.security!r}")
    if s.embed_backend not in ("auto", "torch", "onnx"):
        raise ConfigError(f"KB_EMBED_BACKEND must be auto, torch or onnx, not {s.embed_backend!r}")
    if s.chunk_overlap >= s.chunk_tokens:
        raise ConfigError("chunk_overlap must be smaller than chunk_tokens")
    for lst in s.lists:
        if lst.audience not in ("internal", "external"):
            raise ConfigError(f"{cfg_path}: list {lst.name!r}: audience must be internal or external")
    return s
