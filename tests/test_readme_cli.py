"""The README's command-line section is checked against the real `kb` commands, so it cannot drift from `--help`."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from kb.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _cli_block() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## The `kb` command line", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    return [ln for ln in block.splitlines() if ln.strip()]


def _invocations() -> list[list[str]]:
    """Each `kb ...` call of the block, comments dropped, `&&` chains split."""
    calls = []
    for line in _cli_block():
        code = line.split("  #", 1)[0].split(" > ", 1)[0]
        for part in code.split("&&"):
            words = shlex.split(part.strip())
            if words and words[0] == "kb":
                calls.append(words[1:])
    return calls


def _resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    """Walk `kb group sub ...` down to the command; returns it and the words after its name."""
    ctx = click.Context(main)
    cmd: click.Command = main
    rest = list(words)
    while isinstance(cmd, click.Group) and rest and not rest[0].startswith("-"):
        sub = cmd.get_command(ctx, rest[0])
        if sub is None:
            raise AssertionError(f"README names `kb ... {rest[0]}`, which `kb --help` does not list")
        cmd, rest = sub, rest[1:]
    return cmd, rest


def _option_names(cmd: click.Command) -> set[str]:
    return {name for p in cmd.params if isinstance(p, click.Option) for name in (*p.opts, *p.secondary_opts)}


@pytest.mark.parametrize("words", _invocations(), ids=lambda w: " ".join(w[:2]))
def test_every_readme_invocation_names_real_commands_and_options(words):
    cmd, rest = _resolve(words)
    options = {w.split("=", 1)[0] for w in rest if re.match(r"^--?[A-Za-z]", w)}
    unknown = options - _option_names(cmd) - {"--help"}
    assert not unknown, f"`kb {' '.join(words)}`: {cmd.name} has no option(s) {sorted(unknown)}"


def test_every_command_of_kb_help_is_shown_in_the_readme():
    ctx = click.Context(main)
    shown = {words[0] for words in _invocations() if words}
    missing = [name for name in main.list_commands(ctx) if name not in shown]
    assert not missing, f"README's command-line section shows no example of: {missing}"
