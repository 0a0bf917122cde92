"""`kb map`: the evidence map, factors x priorities, WHO levels or toolkit approaches, as a grid, JSON or CSV."""

from __future__ import annotations

import click

from kb.commands import State, console, emit_json, fail, pass_state

BAND_CODES = {"HIGH": "H", "MODERATE": "M", "LOW": "L", "INSUFFICIENT EVIDENCE": "IE", "HARMFUL": "X"}
DESIGN_CODES = {
    "systematic_review": "SR",
    "rct": "RCT",
    "quasi_experimental": "QE",
    "observational": "Obs",
    "qualitative": "Qual",
    "other": "Oth",
}


@click.command("map")
@click.option(
    "--columns",
    type=click.Choice(["priority", "who_level", "approach"]),
    default="priority",
    show_default=True,
    help="approach: toolkit approaches x factors (the axes of YEF's evidence and gap map).",
)
@click.option(
    "--unit",
    type=click.Choice(["documents", "passages"]),
    default="documents",
    show_default=True,
    help="What the grid counts; --json and --csv always carry both.",
)
@click.option(
    "--include",
    "include",
    multiple=True,
    type=click.Choice(["strategy", "news"]),
    help="Count these too; by default only evidence counts (research, evaluation, needs assessment, "
    "reference, toolkit).",
)
@click.option(
    "--cell",
    metavar="FACTOR:COLUMN",
    help="Drill into one cell: its studies, strongest design first, each with its best passage.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole map as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print one CSV line per cell, for a spreadsheet.")
@pass_state
def map_command(
    state: State, columns: str, unit: str, include: tuple[str, ...], cell: str | None, as_json: bool, as_csv: bool
):
    """Where evidence is and is not: studies (documents) per cell, by design, beside the strongest toolkit band."""
    from kb.evidence_map import EVIDENCE_DOC_TYPES, build_approach_map, build_map

    if as_json and as_csv:
        fail("choose one of --json and --csv")
    doc_types = [*EVIDENCE_DOC_TYPES, *include]
    if cell:
        _print_cell(state, cell, columns, doc_types, as_json)
        return
    if columns == "approach":
        if as_csv:
            fail("--csv is for the priority and WHO level views; use --json with --columns approach")
        amap = build_approach_map(state.kb, doc_types=doc_types)
        if as_json:
            emit_json(amap.to_dict())
        else:
            _print_approaches(amap)
        return
    emap = build_map(state.kb, columns=columns, doc_types=doc_types, unit=unit)
    if as_json:
        emit_json(emap.to_dict())
    elif as_csv:
        click.echo(emap.to_csv(), nl=False)
    else:
        _print_grid(emap)


def _cell_text(cell, unit: str) -> str:
    n = cell.count(unit)
    text = str(n) if n else "·"
    if cell.strongest_design:
        text += f" {DESIGN_CODES[cell.strongest_design]}"
    if cell.band:
        text += f" {BAND_CODES[cell.band]}"
    if cell.harmful and cell.band != "HARMFUL":
        text += " [bold red]X[/]"
    return f"[bold]{text}[/]" if cell.linked else f"[dim]{text}[/]"


def _legend() -> str:
    designs = ", ".join(f"{code} {d.replace('_', ' ')}" for d, code in DESIGN_CODES.items())
    return f"strongest design among the cell's studies: {designs}"


def _print_grid(emap) -> None:
    from rich.table import Table

    kind = emap.columns_kind.replace("_", " ")
    t = Table(title=f"Evidence map: factors x {kind}, counting {emap.unit}", show_lines=False)
    t.add_column("factor", no_wrap=True)
    for col in emap.columns:
        t.add_column(col.id, justify="center", no_wrap=True)
    for row in emap.rows:
        t.add_row(row.factor, *(_cell_text(row.cells[col.id], emap.unit) for col in emap.columns))
    c = console()
    c.print(t)
    if emap.columns_kind == "priority":
        c.print("[dim]priorities: " + "; ".join(f"{col.id} {col.label}" for col in emap.columns) + "[/]")
    for col in emap.columns:
        if col.empty_reason:
            c.print(f"[yellow]Column {col.id} is empty by the strategy's design.[/] {col.empty_reason}")
    c.print(
        f"[dim]{emap.unit} of {', '.join(t.replace('_', ' ') for t in emap.doc_types)} tagged with the factor and "
        f"the column; · none. {_legend()}. Strongest band of linked toolkit approaches: H HIGH, M MODERATE, "
        "L LOW, IE INSUFFICIENT EVIDENCE, X HARMFUL. Bold: the strategy files the factor there. "
        "`kb map --json` has the design breakdown and the ids to drill into.[/]"
    )


def _print_approaches(amap) -> None:
    from rich.table import Table

    t = Table(title="Toolkit approaches x factors: toolkit band where linked; local studies naming the approach")
    t.add_column("factor", no_wrap=True)
    for i in range(1, len(amap.approaches) + 1):
        t.add_column(str(i), justify="center", no_wrap=True)
    for factor, _, cells in amap.rows:
        texts = []
        for a in amap.approaches:
            cell = cells[a.slug]
            text = str(cell.documents) if cell.documents else "·"
            if cell.linked:
                text = f"[bold]{text} {BAND_CODES.get(a.band, '?')}[/]"
            texts.append(text)
        t.add_row(factor, *texts)
    c = console()
    c.print(t)
    c.print("[dim]" + "; ".join(f"{i} {a.approach}" for i, a in enumerate(amap.approaches, start=1)) + "[/]")
    c.print(
        "[dim]Bold: the toolkit links the approach to the factor, with its band (? = band not published). "
        "The number counts local studies whose passages are tagged with the factor and name the approach.[/]"
    )


def _print_cell(state: State, cell: str, columns: str, doc_types: list[str], as_json: bool) -> None:
    from kb.evidence_map import DESIGN_LABELS, MapError, cell_studies

    factor, _, column = cell.partition(":")
    if not column or columns == "approach":
        fail("--cell takes FACTOR:COLUMN, e.g. weapon-carrying:3, with --columns priority or who_level")
    try:
        studies = cell_studies(state.kb, factor, column, columns, doc_types=doc_types)
    except MapError as exc:
        fail(str(exc))
    if as_json:
        emit_json(
            {"factor": factor, "column": column, "columns_kind": columns, "studies": [s.to_dict() for s in studies]}
        )
        return
    c = console()
    if not studies:
        c.print(f"No study in {factor} x {column}: a gap in the evidence.")
    for s in studies:
        d = s.to_dict()
        c.print(f"[bold]{d['title']}[/] ({d['year'] or 'n.d.'}, {d['doc_type']}) — {DESIGN_LABELS[s.design]}")
        c.print(f"  {d['passages']} tagged passages; best: {d['citation']}")
        c.print(f"  [dim]{s.best.text[:300]}{'…' if len(s.best.text) > 300 else ''}[/]")
