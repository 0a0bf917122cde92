"""Shared plumbing for `kb` commands: settings and stores opened once per process, JSON output, errors."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from kb.config import ConfigError, Settings, load_settings


class State:
    def __init__(self, data_dir: str | None):
        self.data_dir = data_dir
        self._settings: Settings | None = None
        self._kb = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.data_dir)
            except ConfigError as exc:
                fail(str(exc))
        return self._settings

    @property
    def kb(self):
        if self._kb is None:
            from kb.store import KnowledgeBase

            self._kb = KnowledgeBase(self.settings)
        return self._kb

    @property
    def taxonomy(self):
        """The knowledge base's taxonomy; a broken taxonomy file is an error naming it, not a traceback."""
        from kb.taxonomy import TaxonomyError

        try:
            return self.kb.taxonomy
        except TaxonomyError as exc:
            fail(f"{exc} (the taxonomy_path setting names this file)")


pass_state = click.make_pass_decorator(State)


class TaxonomyChoice(click.ParamType):
    """A priority number or WHO level, checked when the command runs against the knowledge base's taxonomy
    (the file the settings name), so an analyst's edited taxonomy is what the command line accepts."""

    def __init__(self, kind: str):
        if kind not in ("priority", "who"):
            raise ValueError(f"TaxonomyChoice kind must be priority or who, not {kind!r}")
        self.kind = kind
        self.name = "priority" if kind == "priority" else "who-level"

    def convert(self, value, param, ctx):
        tax = ctx.find_object(State).taxonomy
        if self.kind == "priority":
            known = ", ".join(f"{n} {p.name}" for n, p in sorted(tax.priorities.items()))
            try:
                number = int(value)
            except (TypeError, ValueError):
                number = None
            if number not in tax.priorities:
                self.fail(f"{value!r} is not a priority of {tax.path} (priorities: {known})", param, ctx)
            return number
        if value not in tax.who_levels:
            self.fail(f"{value!r} is not a WHO level of {tax.path} (levels: {', '.join(tax.who_levels)})", param, ctx)
        return value


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def progress_bar():
    """Progress on stderr, shown only in a terminal, so --json output and logs stay clean."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    err = console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def audit_cli(state: State, action: str, documents, destination: str) -> None:
    """Official-sensitive documents a command showed go in the audit trail, under the login that ran it."""
    import getpass

    from kb.audit import record

    record(state.kb.catalogue, f"cli:{getpass.getuser()}", action, documents, destination)
