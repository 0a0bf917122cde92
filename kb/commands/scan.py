"""`kb scan`: fetch the configured feeds and folders and ingest what is new."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from kb.commands import State, console, emit_json, fail, pass_state


@click.command()
@click.option("--source", "only", multiple=True, help="Scan only this source (by name; repeatable).")
@click.option("--no-links", is_flag=True, help="Ingest feed entries as they are, without fetching linked pages.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable report.")
@pass_state
def scan(state: State, only: tuple[str, ...], no_links: bool, as_json: bool):
    """Fetch configured feeds and folders, ingest new items once. Exit 1 if any source or item failed."""
    from ingest.pipeline import Ingestor
    from kb.scan import Scanner

    sources = state.settings.sources
    if only:
        unknown = sorted(set(only) - {s.name for s in sources})
        if unknown:
            fail(f"no source named {', '.join(unknown)} in kb.toml (known: {', '.join(s.name for s in sources)})")
        sources = [s for s in sources if s.name in only]
    if not sources:
        fail("no [[sources]] in kb.toml: add a feed or folder to watch (see docs/operations.md)")
    kb = state.kb

    def ingest(paths: list[Path], doc_type: str | None, sensitivity: str):
        return Ingestor(kb, doc_type=doc_type, sensitivity=sensitivity).run(paths)

    report = Scanner(kb, ingest, fetch_links=not no_links).run(sources)
    if as_json:
        emit_json(report.to_dict())
    else:
        c = console()
        for s in report.sources:
            if s.status == "failed":
                c.print(f"[red]failed[/] {escape(s.name)} ({s.kind}): {escape(s.error or '')}")
                continue
            extra = f", {s.unchanged} unchanged" if s.kind == "folder" else ""
            c.print(
                f"[green]ok[/] {escape(s.name)} ({s.kind}): {s.count('new')} new, {s.count('duplicate')} duplicate, "
                f"{s.count('failed')} failed{extra}"
            )
            for item in s.items:
                if item.status != "duplicate":
                    note = f" — {item.reason}" if item.reason else ""
                    line = f"  {item.status:9} {item.how or '':8} {item.title[:80]}{note}"
                    c.print(escape(line), style="yellow" if item.link_refused else None)
    sys.exit(1 if report.failed else 0)
