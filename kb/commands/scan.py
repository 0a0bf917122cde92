"""`kb scan`: fetch the configured feeds and folders and ingest what is new."""

from __future__ import annotations

import sys
from functools import partial

import click
from rich.markup import escape

from kb.commands import State, console, emit_json, fail, pass_state


@click.command()
@click.option("--source", "only", multiple=True, help="Scan only this source (by name; repeatable).")
@click.option("--no-links", is_flag=True, help="Ingest feed entries as they are, without fetching linked pages.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable report.")
@click.option("--status", is_flag=True, help="Show each source's last scan (as the app's Scanning page) and exit.")
@pass_state
def scan(state: State, only: tuple[str, ...], no_links: bool, as_json: bool, status: bool):
    """Fetch configured feeds and folders, ingest new items once. Exit 1 if any source or item failed."""
    if status:
        _show_status(state, as_json)
        return
    from kb.ingestion import ingest_paths
    from kb.scanning_sources import scan_sources
    from kb.visibility import OPERATOR

    sources = state.settings.sources
    if only:
        unknown = sorted(set(only) - {s.name for s in sources})
        if unknown:
            fail(f"no source named {', '.join(unknown)} in kb.toml (known: {', '.join(s.name for s in sources)})")
        sources = [s for s in sources if s.name in only]
    if not sources:
        fail("no [[sources]] in kb.toml: add a feed or folder to watch (see docs/operations.md)")
    if not [s for s in sources if not s.paused]:
        fail("every source in kb.toml is paused: remove `paused = true` from one to scan it")
    kb = state.kb
    # Paused sources are skipped.
    report = scan_sources(kb, sources, partial(ingest_paths, kb), OPERATOR, fetch_links=not no_links)
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


def _show_status(state: State, as_json: bool) -> None:
    from dataclasses import asdict

    from kb.scanning_sources import source_statuses
    from kb.visibility import OPERATOR

    statuses = source_statuses(state.kb, state.settings, OPERATOR)
    if as_json:
        emit_json([asdict(s) for s in statuses])
        return
    c = console()
    for s in statuses:
        state_word = "paused" if s.paused else s.status
        when = (s.last_run or "never")[:16].replace("T", " ")
        line = f"{state_word:13} {s.name} ({s.kind}), last fetch {when}: {s.items_found} found, {s.new_items} new, "
        c.print(line + f"{s.duplicates} duplicates skipped" + (f" — {s.error}" if s.error else ""))
