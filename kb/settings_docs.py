"""docs/settings.md, generated from the Settings model so no setting goes undocumented."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from kb.settings_sources import _extra, env_name, fields_of, in_file, section_model

HEADER = """# Settings

Generated from the `Settings` model in `kb/config.py` by `python -m kb.config > docs/settings.md`; a test
fails when it is out of date. Settings are read once, from `kb.toml` (in the data directory, or the file
`KB_CONFIG` names) and then from `KB_*` environment variables, which win over the file. Top-level settings
go in the file's `[kb]` table. An unknown table, key or `KB_*` variable that looks like a setting is an
error naming the file (or variable) and the key, with the nearest valid key when one is close. Secrets are
never accepted in `kb.toml`: the SMTP password comes from `KB_SMTP_PASSWORD` or a `password_file` only its
owner can read (chmod 600). `[auth]` (sign-in) is described in docs/app.md.

| kb.toml key | environment variable | type | default | description |
|---|---|---|---|---|
"""


def _type(info: FieldInfo) -> str:
    text = str(info.annotation).replace("typing.", "").replace("pathlib.", "").replace("kb.config.", "")
    text = re.sub(r"<class '([\w.]+)'>", r"\1", text)
    text = re.sub(r"\b[\w]+\.(?=[A-Z])", "", text)  # __main__.Secret -> Secret, whatever runs the module
    return text.replace("|", "or")


def _default(info: FieldInfo) -> str:
    if "doc_default" in _extra(info):
        return _extra(info)["doc_default"]
    if info.default_factory is not None:
        return "[]" if "list" in str(info.annotation) else "—"
    if info.default is PydanticUndefined:
        return "required"
    return "—" if info.default is None else f"`{info.default}`"


def rows(settings_cls: type) -> Iterator[tuple[str, str, FieldInfo]]:
    """(kb.toml key, variable, field) for every setting, sections after the top-level ones."""
    fields = fields_of(settings_cls)
    for name, info in fields.items():
        if section_model(info) is None:
            yield (f"`[kb] {name}`" if in_file(info) else "—", f"`{env_name(name, info)}`", info)
    for name, info in fields.items():
        model = section_model(info)
        if model is None:
            continue
        table = f"[{name}]" if info.annotation is model else f"[[{name}]]"
        for sub, sinfo in fields_of(model).items():
            var = f"`{env_name(sub, sinfo, name)}`" if info.annotation is model else "—"
            yield (f"`{table} {sub}`" if in_file(sinfo) else "—", var, sinfo)


def markdown(settings_cls: type) -> str:
    lines = [
        f"| {key} | {var} | {_type(info)} | {_default(info)} | {info.description or ''} |"
        for key, var, info in rows(settings_cls)
    ]
    return HEADER + "\n".join(lines) + "\n"
