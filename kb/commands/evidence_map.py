"""`kb map`: the evidence map, factors x priorities or WHO levels, as a grid, JSON or CSV."""

from __future__ import annotations

import click

from kb.commands import State, console, emit_json, fail, pass_state

BAND_CODES = {"HIGH": "H", "MODERATE": "M", "LOW": "L", "INSUFFICIENT EVIDENCE": "IE", "HARMFUL": "X"}


@click.command("map")
@click.option("--columns", type=click.Choice(["priority", "who_level"]), default="priority", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the whole map as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print one CSV line per cell, for a spreadsheet.")
@pass_state
def map_command(state: State, columns: str, as_json: bool, as_csv: bool):
    """Where evidence is and is not: passages, documents and the strongest toolkit band per cell."""
    from kb.evidence_map import build_map

    if as_json and as_csv:
        fail("choose one of --json and --csv")
    emap = build_map(state.kb, columns=columns)
    if as_json:
        emit_json(emap.to_dict())
    elif as_csv:
        click.echo(emap.to_csv(), nl=False)
    else:
        _print_grid(emap)


def _cell_text(cell) -> str:
    text = f"{cell.passages}/{cell.documents}" if cell.passages else "·"
    if cell.band:
        text += f" {BAND_CODES[cell.band]}"
    if cell.harmful and cell.band != "HARMFUL":
        text += " [bold red]X[/]"
    return f"[bold]{text}[/]" if cell.linked else f"[dim]{text}[/]"


def _print_grid(emap) -> None:
    from rich.table import Table

    t = Table(title=f"Evidence map: factors x {emap.columns_kind.replace('_', ' ')}", show_lines=False)
    t.add_column("factor", no_wrap=True)
    for col in emap.columns:
        t.add_column(col.id, justify="center", no_wrap=True)
    for row in emap.rows:
        t.add_row(row.factor, *(_cell_text(row.cells[col.id]) for col in emap.columns))
    c = console()
    c.print(t)
    if emap.columns_kind == "priority":
        c.print("[dim]priorities: " + "; ".join(f"{col.id} {col.label}" for col in emap.columns) + "[/]")
    c.print(
        "[dim]passages/documents tagged with the factor and the column; · none. Strongest band of linked toolkit "
        "approaches: H HIGH, M MODERATE, L LOW, IE INSUFFICIENT EVIDENCE, X HARMFUL. Bold: the strategy files "
        "the factor there. `kb map --json` has the ids to drill into.[/]"
    )
