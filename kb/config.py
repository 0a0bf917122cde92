"""Settings: one pydantic-settings model read once from `kb.toml` and KB_* variables (environment wins)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.dataclasses import dataclass
from pydantic_settings import BaseSettings, InitSettingsSource, SettingsConfigDict

from kb.settings_sources import DefaultsSource, EnvSource, TomlSource, explain, locate
from kb.taxonomy import DEFAULT_PATH as DEFAULT_TAXONOMY

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_FORBID = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


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


def _env_only(description: str, **kw) -> Any:
    """A field set only from the environment (or the command line), never from kb.toml."""
    return Field(description=description, json_schema_extra={"file": False, **kw.pop("extra", {})}, **kw)


class SmtpSettings(BaseModel):
    model_config = _FORBID

    host: str = Field("127.0.0.1", description="SMTP server that sends the digests.")
    port: int = Field(25, description="Its port.")
    security: Literal["none", "starttls", "ssl"] = Field("none", description="Transport security.")
    sender: str = Field("Knowledge Hub <hub@example.org>", description="From: of every digest.")
    user: str | None = Field(None, description="SMTP login, if the server asks for one.")
    password_file: str | None = Field(
        None, description="A file only its owner can read (chmod 600) holding the SMTP password."
    )
    timeout: float = Field(30.0, description="Seconds to wait for the server.")
    password: Secret | None = _env_only("The SMTP password itself (refused in kb.toml).", default=None, repr=False)

    @field_validator("password", mode="before")
    @classmethod
    def _wrap(cls, v):
        return Secret(v) if isinstance(v, str) else v


class AppSettings(BaseModel):
    model_config = _FORBID

    single_user: bool = Field(
        False,
        strict=True,
        description="A single-user desktop: no sign-in, everything visible; `kb app` then serves loopback only.",
    )
    unsubscribe_url: str | None = Field(
        None, description="Where the one-click unsubscribe server beside the app is reached from outside."
    )


@dataclass(config=_FORBID)
class MailingList:
    name: str = Field(description="The list's name, as `kb digest --list NAME` gives it.")
    audience: Literal["internal", "external"] = Field("external", description="Who reads it.")
    frequency: str = Field("weekly", description="How often it is sent.")
    recipients: list[str] = Field(default_factory=list, description="Email addresses.")


@dataclass(config=_FORBID)
class Source:
    name: str = Field(description="The source's name.")
    feed: str | None = Field(None, description="An RSS/Atom feed URL (or give a folder).")
    folder: str | None = Field(None, description="A folder scanned for new files (or give a feed).")
    doc_type: str | None = Field(
        None, description="Document type of what it brings (default: news for feeds, the reader's guess)."
    )
    sensitivity: str = Field("official", description="official or official-sensitive.")
    paused: bool = Field(False, strict=True, description="Kept in kb.toml but not scanned.")
    fetch_hosts: list[str] = Field(
        default_factory=list, description="Hosts besides the feed's own whose item links may be fetched."
    )
    allow_private: bool = Field(
        False, strict=True, description="Those hosts may resolve to loopback/private/link-local addresses."
    )


class Settings(BaseSettings):
    """Every setting; `[kb]` in kb.toml holds the top-level ones, each section its own model."""

    model_config = SettingsConfigDict(env_prefix="KB_", extra="forbid", arbitrary_types_allowed=True)

    data_dir: Path = _env_only(
        "Where the catalogue and vectors live (also `kb --data-dir`).",
        default_factory=lambda: Path.home() / ".local" / "share" / "kb",
        extra={"doc_default": "~/.local/share/kb"},
    )
    config_path: Path | None = _env_only(
        "The settings file (default: kb.toml in the data directory).",
        default=None,
        extra={"env": "KB_CONFIG", "doc_default": "DATA_DIR/kb.toml"},
    )
    chroma_url: str | None = Field(None, description="A Chroma server's URL; unset: the embedded store.")
    embed_model: str = Field(DEFAULT_MODEL, description="Sentence-transformers model name or local folder.")
    device: str = Field("cpu", description="Torch device for the embedder.")
    embed_batch_size: int = Field(32, gt=0, description="Passages embedded per batch.")
    embed_backend: Literal["auto", "torch", "onnx"] = Field("auto", description="Embedding runtime.")
    chunk_tokens: int = Field(200, gt=0, description="Passage length in model tokens.")
    chunk_overlap: int = Field(32, ge=0, description="Tokens shared by neighbouring passages.")
    hnsw_ef_search: int = Field(200, gt=0, description="HNSW search breadth of the vector store.")
    public_url: str = Field("http://localhost:8501", description="Where readers reach the app (links in mail).")
    zotero_storage: Path | None = Field(None, description="Zotero's storage folder, for .bib attachments.")
    taxonomy_path: Path = Field(
        DEFAULT_TAXONOMY,
        description="The taxonomy file: factors, priorities, WHO levels (relative: to kb.toml's folder).",
        json_schema_extra={"doc_default": "the packaged kb/taxonomy.toml"},
    )
    eval_cache: Path | None = Field(
        None,
        description="Where `kb eval` keeps scratch knowledge bases.",
        json_schema_extra={"doc_default": "$XDG_CACHE_HOME/kb/eval or ~/.cache/kb/eval"},
    )
    smtp: SmtpSettings = Field(default_factory=SmtpSettings, description="[smtp]: how digests are mailed.")
    app: AppSettings = Field(default_factory=AppSettings, description="[app]: the Streamlit app.")
    lists: list[MailingList] = Field(default_factory=list, description="[[lists]]: mailing lists.")
    sources: list[Source] = Field(default_factory=list, description="[[sources]]: scanned feeds and folders.")

    @field_validator("data_dir", "config_path", "zotero_storage", "taxonomy_path", "eval_cache", mode="after")
    @classmethod
    def _home(cls, v: Path | None) -> Path | None:
        return v.expanduser() if v is not None else None

    @model_validator(mode="after")
    def _overlap(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError("chunk_overlap must be smaller than chunk_tokens")
        return self

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
    ddir, cfg_path = locate(data_dir, env)
    if not cfg_path.exists() and env.get("KB_CONFIG"):
        raise ConfigError(f"KB_CONFIG names {cfg_path}, which does not exist")
    init = {"data_dir": ddir, "config_path": cfg_path if cfg_path.exists() else None}
    toml, environment = TomlSource(Settings, cfg_path), EnvSource(Settings, env)
    sources = (InitSettingsSource(Settings, init_kwargs=init), environment, toml, DefaultsSource(Settings, env))
    try:
        s = Settings(_build_sources=(sources, init))
    except ValidationError as exc:
        raise ConfigError(explain(exc, toml, environment)) from None
    if s.smtp.password is None and s.smtp.password_file:
        s.smtp.password = read_secret_file(s.smtp.password_file)
    return s


def location() -> tuple[Path, Path | None]:
    """Where this process's settings come from, without reading them: the data directory and the file
    KB_CONFIG names (None: the data directory's kb.toml)."""
    env = dict(os.environ)
    data_dir, config = locate(None, env)
    return data_dir, config if env.get("KB_CONFIG") else None


def settings_markdown() -> str:
    """docs/settings.md: every setting with its kb.toml key, variable, type, default and meaning."""
    from kb.settings_docs import markdown

    return markdown(Settings)


if __name__ == "__main__":
    print(settings_markdown(), end="")
