"""`kb toolkit`: what works for a factor, priority or WHO level, as published, with local evidence on request."""

from __future__ import annotations

import click

from kb.commands import State, TaxonomyChoice, console, emit_json, fail, pass_state

BAND_STYLES = {
    "HIGH": "bold green",
    "MODERATE": "green",
    "LOW": "yellow",
    "INSUFFICIENT EVIDENCE": "magenta",
    "HARMFUL": "bold white on red",
}
ORDER_NOTE = (
    "strongest impact band first (HIGH, MODERATE, LOW, INSUFFICIENT EVIDENCE, HARMFUL), "
    "then approaches whose band is not published; by approach name within a band"
)


def _published(value: float | None) -> float | int | None:
    # The sources publish whole percentages ("33"); print them as written, not as 33.0.
    return int(value) if value is not None and value.is_integer() else value


def entry_json(entry, hits=None) -> dict:
    from kb.toolkit import HARMFUL, display

    d = entry.to_dict()
    d["impact_percent"] = _published(entry.impact_percent)
    d["harmful"] = entry.impact_band == HARMFUL
    d["display"] = display(entry)
    if hits is not None:
        d["local_evidence"] = [h.to_dict() for h in hits]
    return d


@click.command()
@click.option("--factor", help="Factor id, label or synonym from the taxonomy, e.g. substance-misuse.")
@click.option("--priority", type=TaxonomyChoice("priority"), help="Priority number from the taxonomy.")
@click.option("--who", "who_level", type=TaxonomyChoice("who"), help="WHO level id from the taxonomy.")
@click.option("--local", "with_local", is_flag=True, help="Add passages from local documents that discuss each one.")
@click.option("-k", "k", default=3, show_default=True, help="Local passages per approach (with --local).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable output.")
@pass_state
def toolkit(state: State, factor, priority, who_level, with_local: bool, k: int, as_json: bool):
    """What works: toolkit approaches with impact band, % with its outcome, confidence, cost and source."""
    from kb.embed import ModelError
    from kb.search import Searcher
    from kb.toolkit import ToolkitError, approaches, local_evidence, resolve_factor

    tax = state.taxonomy
    try:
        fid = resolve_factor(tax, factor) if factor else None
        entries = approaches(state.kb, factor=fid, priority=priority, who_level=who_level, taxonomy=tax)
    except ToolkitError as exc:
        fail(str(exc))
    local: dict[str, list] = {}
    if with_local:
        searcher = Searcher(state.kb)
        try:
            local = {e.slug: local_evidence(state.kb, e, k=k, searcher=searcher) for e in entries}
        except ModelError as exc:
            fail(str(exc))
    if as_json:
        emit_json(
            {
                "filters": {"factor": fid, "priority": priority, "who_level": who_level},
                "order": ORDER_NOTE,
                "count": len(entries),
                "approaches": [entry_json(e, local.get(e.slug) if with_local else None) for e in entries],
            }
        )
        return
    _print(entries, local if with_local else None, fid, priority, who_level)


def _short_url(url: str) -> str:
    # The terminal is narrow; `--json` keeps the address exactly as published.
    return url.removeprefix("https://").removeprefix("http://").removeprefix("www.")


def _print(entries, local: dict | None, factor, priority, who_level) -> None:
    from rich.markup import escape
    from rich.table import Table

    from kb.toolkit import HARMFUL, display

    c = console()
    shown = ", ".join(
        f"{name} {value}"
        for name, value in (("factor", factor), ("priority", priority), ("WHO level", who_level))
        if value
    )
    if not entries:
        c.print(f"No toolkit approach is linked to {shown or 'anything'}. `kb toolkit` lists them all.")
        return
    harmful = [e.approach for e in entries if e.impact_band == HARMFUL]
    if harmful:
        warning = f"[{BAND_STYLES[HARMFUL]}] EVIDENCE OF HARM [/] {', '.join(harmful)}"
        c.print(f"{warning}: the toolkit finds it can make things worse.")
    t = Table(title=f"What works{' for ' + shown if shown else ''}: {len(entries)} approaches", show_lines=False)
    for col in ("approach", "band", "impact (% with outcome)", "confidence", "cost", "source"):
        t.add_column(col, overflow="fold")
    for e in entries:
        d = display(e)
        t.add_row(
            escape(e.approach),
            f"[{BAND_STYLES.get(e.impact_band, 'dim')}]{d['band']}[/]",
            d["impact"],
            d["confidence"],
            d["cost"],
            _short_url(d["source"]),
        )
    c.print(t)
    c.print(
        f"[dim]Order: {ORDER_NOTE}. 'not published' = the source gives no figure; 'not recorded here — see source' "
        "= the source publishes one that our copy did not capture (follow the source link). None is estimated.[/]"
    )
    if local is None:
        return
    for e in entries:
        c.print(f"\n[bold]{escape(e.approach)}[/] — national: {display(e)['band']}, {display(e)['impact']}")
        hits = local[e.slug]
        if not hits:
            c.print("  [dim]No passage in the local documents discusses it.[/]")
        for h in hits:
            c.print(f"  [cyan]{h.rank}.[/] {escape(h.citation)}")
            c.print(f"     {escape(h.chunk.text[:300])}{'…' if len(h.chunk.text) > 300 else ''}")
