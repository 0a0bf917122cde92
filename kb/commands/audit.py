"""`kb audit`: the trail of views, exports, briefs and mailings of official-sensitive documents."""

from __future__ import annotations

import click
from rich.markup import escape

from kb.commands import State, console, emit_json, pass_state


@click.command()
@click.option("--since", help="Only entries at or after this date (YYYY-MM-DD) or ISO date-time (UTC).")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def audit(state: State, since: str | None, as_json: bool):
    """Views, exports, briefs and mailings of official-sensitive documents: who, what, when, to where."""
    from kb.audit import entries
    from kb.commands.digest import _since

    when = _since(since)
    rows = entries(state.kb.catalogue, when)
    if as_json:
        emit_json({"since": when, "count": len(rows), "entries": [e.to_dict() for e in rows]})
        return
    if not rows:
        click.echo("no views, exports or sends of official-sensitive documents" + (f" since {since}" if since else ""))
        return
    from rich.table import Table

    t = Table(title=f"{len(rows)} audit entries")
    for col in ("when", "who", "action", "document", "to / where"):
        t.add_column(col, overflow="fold")
    for e in rows:
        t.add_row(e.at, escape(e.actor), e.action, escape(f"{e.title} ({e.doc_id})"), escape(e.destination))
    console().print(t)
