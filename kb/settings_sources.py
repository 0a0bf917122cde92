"""Where settings come from (kb.toml, KB_* variables, derived defaults) and errors that name the file or variable."""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

# kb.toml's tables: [kb] holds the top-level settings; [auth] is read and checked by kb.auth.
FILE_SECTIONS = ("kb", "smtp", "app", "lists", "sources", "auth")
LIST_SECTIONS = ("lists", "sources")
SECRET_KEYS = ("password", "token", "secret", "client_secret", "api_key")


def _error(message: str) -> Exception:
    from kb.config import ConfigError

    return ConfigError(message)


def fields_of(cls: type) -> dict[str, FieldInfo]:
    """The fields of a pydantic model or pydantic dataclass."""
    return cls.model_fields if issubclass(cls, BaseModel) else cls.__pydantic_fields__


def _extra(info: FieldInfo) -> dict:
    return info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}


def in_file(info: FieldInfo) -> bool:
    return _extra(info).get("file", True)


def section_model(info: FieldInfo) -> type | None:
    """The model a section field holds ([smtp] -> SmtpSettings, [[lists]] -> MailingList), else None."""
    ann = info.annotation
    inner = getattr(ann, "__args__", (ann,))[0] if getattr(ann, "__origin__", None) is list else ann
    is_model = isinstance(inner, type) and (issubclass(inner, BaseModel) or hasattr(inner, "__pydantic_fields__"))
    return inner if is_model else None


def env_name(name: str, info: FieldInfo, section: str | None = None) -> str:
    return _extra(info).get("env") or "KB_" + (f"{section}_{name}" if section else name).upper()


def env_names(settings_cls: type) -> dict[str, tuple[tuple[str, ...], FieldInfo]]:
    """Every KB_* variable -> (where it goes in the settings, its field)."""
    out = {}
    for name, info in fields_of(settings_cls).items():
        model = section_model(info)
        if model is None:
            out[env_name(name, info)] = ((name,), info)
        elif info.annotation is model:  # a table ([smtp]); arrays of tables have no variables
            for sub, sinfo in fields_of(model).items():
                out[env_name(sub, sinfo, name)] = ((name, sub), sinfo)
    return out


def suggest(word: str, known) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def locate(data_dir: str | Path | None, env: dict[str, str]) -> tuple[Path, Path]:
    """The data directory and the settings file, before either is read."""
    ddir = Path(data_dir or env.get("KB_DATA_DIR") or Path.home() / ".local" / "share" / "kb").expanduser()
    cfg = Path(env["KB_CONFIG"]).expanduser() if env.get("KB_CONFIG") else ddir / "kb.toml"
    return ddir, cfg


class _Source(PydanticBaseSettingsSource):
    values: dict[str, Any]

    def get_field_value(self, field, field_name):  # values come whole from __call__
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.values


class TomlSource(_Source):
    """kb.toml: every table and key checked against the model; secrets refused."""

    def __init__(self, settings_cls: type, path: Path):
        super().__init__(settings_cls)
        self.path = path
        self.values = {}
        if not path.exists():
            return
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise _error(f"{path}: not valid TOML ({exc}); fix the file or unset KB_CONFIG") from None
        _refuse_secrets(raw, path)
        fields = fields_of(settings_cls)
        for table, body in raw.items():
            if table not in FILE_SECTIONS:
                raise _error(f"{path}: unknown table [{table}]{suggest(table, FILE_SECTIONS)} (see docs/settings.md)")
            if table == "auth":
                continue
            if table in LIST_SECTIONS:
                if not isinstance(body, list):
                    raise _error(f"{path}: [[{table}]] must be a list of tables")
                model = section_model(fields[table])
                for i, entry in enumerate(body, start=1):
                    self._check(entry, fields_of(model), f"[[{table}]] entry {i}", None)
                self.values[table] = body
            elif not isinstance(body, dict):
                raise _error(f"{path}: {table} must be a table ([{table}])")
            elif table == "kb":
                top = {n: f for n, f in fields.items() if section_model(f) is None}
                self._check(body, top, "[kb]", None)
                self.values.update(self._paths(body, top))
            else:
                self._check(body, fields_of(section_model(fields[table])), f"[{table}]", table)
                self.values[table] = body

    def _check(self, table: dict, fields: dict[str, FieldInfo], where: str, section: str | None) -> None:
        for key in table:
            info = fields.get(key)
            if info is None:
                known = [n for n, f in fields.items() if in_file(f)]
                raise _error(f"{self.path}: {where}: unknown key {key!r}{suggest(key, known)} (see docs/settings.md)")
            if not in_file(info):
                var = env_name(key, info, section)
                raise _error(f"{self.path}: {where}: {key} is not set in kb.toml; set {var} instead")

    def _paths(self, table: dict, fields: dict[str, FieldInfo]) -> dict:
        """A relative path in kb.toml is relative to the file's folder, not to wherever a command runs."""
        out = dict(table)
        for key, value in table.items():
            if isinstance(value, str) and "Path" in str(fields[key].annotation):
                p = Path(value).expanduser()
                out[key] = p if p.is_absolute() else self.path.parent / p
        return out

    def origin(self, loc: tuple) -> str | None:
        if not loc or loc[0] not in self.values:
            return None
        head = loc[0]
        if head in LIST_SECTIONS and len(loc) > 1:
            return f"{self.path}: [[{head}]] entry {loc[1] + 1}: {'.'.join(map(str, loc[2:]))}"
        if head in ("smtp", "app"):
            return f"{self.path}: [{head}] {'.'.join(map(str, loc[1:]))}"
        return f"{self.path}: [kb] {head}"


class EnvSource(_Source):
    """KB_* variables; one that looks like a setting but is none is an error naming it."""

    def __init__(self, settings_cls: type, env: dict[str, str]):
        super().__init__(settings_cls)
        known = env_names(settings_cls)
        sections = {f"KB_{n.upper()}_" for n, f in fields_of(settings_cls).items() if section_model(f)}
        self.values, self.origins = {}, {}
        for var, value in env.items():
            if not var.startswith("KB_"):
                continue
            if var not in known:
                hint = suggest(var, known)
                if hint or any(var.startswith(s) for s in sections):
                    raise _error(f"environment variable {var} is not a setting{hint} (docs/settings.md lists them)")
                continue
            if value == "":  # an empty variable leaves the setting as the file or default has it
                continue
            loc, info = known[var]
            if info.annotation is bool:
                try:
                    value = TypeAdapter(bool).validate_python(value)
                except ValidationError:
                    raise _error(f"{var}={value!r}: must be true or false") from None
            target = self.values
            for part in loc[:-1]:
                target = target.setdefault(part, {})
            target[loc[-1]] = value
            self.origins[loc] = var

    def origin(self, loc: tuple) -> str | None:
        var = self.origins.get(tuple(loc[:2])) or self.origins.get(tuple(loc[:1]))
        return f"{var} (environment)" if var else None


class DefaultsSource(_Source):
    """Defaults derived from the environment outside KB_* (the XDG cache folder)."""

    def __init__(self, settings_cls: type, env: dict[str, str]):
        super().__init__(settings_cls)
        cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        self.values = {"eval_cache": cache / "kb" / "eval"}


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
            raise _error(
                f"{path}: {here} holds a secret; remove it from kb.toml and set it in the environment "
                '(KB_SMTP_PASSWORD for [smtp]) or in a file only you can read: password_file = "/path" '
                "with chmod 600 (KB_SMTP_PASSWORD_FILE). OIDC client secrets go in .streamlit/secrets.toml."
            )


def _expected(err: dict) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind.startswith("bool"):
        return "must be true or false"
    if kind.startswith("int"):
        return "must be a whole number"
    if kind.startswith("float"):
        return "must be a number"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind.startswith("string"):
        return "must be text"
    if kind.startswith("list"):
        return "must be a list"
    if kind in ("greater_than", "greater_than_equal"):
        return f"must be {'above' if kind == 'greater_than' else 'at least'} {ctx.get('gt', ctx.get('ge'))}"
    if kind == "missing":
        return "is required"
    return f"is not valid ({err['msg']})"


def explain(exc: ValidationError, toml: TomlSource, env: EnvSource) -> str:
    """One line per problem: the file and key, or the variable, what was expected, and what was given."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = env.origin(loc) or toml.origin(loc) or ".".join(map(str, loc)) or str(toml.path)
        if not loc:  # a check across fields: say where each of them came from
            names = re.findall(r"\b[a-z]+_[a-z_]+\b", err["msg"])
            whence = [f"{n} from {env.origin((n,)) or toml.origin((n,)) or 'the default'}" for n in names]
            lines.append(f"{err['msg'].removeprefix('Value error, ')} ({'; '.join(whence)})")
        elif err["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key (see docs/settings.md)")
        elif err["type"] == "missing":
            lines.append(f"{where} is required")
        else:
            lines.append(f"{where} {_expected(err)}, not {err['input']!r}")
    return "; ".join(lines)
