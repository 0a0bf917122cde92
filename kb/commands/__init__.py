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


pass_state = click.make_pass_decorator(State)


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
