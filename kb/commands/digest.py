"""`kb digest` (preview, send, unsubscribe) and `kb alert` (saved searches that feed the digest)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime

import click

from kb.commands import State, TaxonomyChoice, console, emit_json, fail, pass_state


def _since(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        try:
            when = datetime.combine(date.fromisoformat(value), datetime.min.time())
        except ValueError:
            fail(f"--since {value!r} is not a date: use YYYY-MM-DD or an ISO date-time")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat()


def _lists(state: State, name: str | None):
    from kb.config import ConfigError

    if name is None:
        return state.settings.lists
    try:
        return [state.settings.mailing_list(name)]
    except ConfigError as exc:
        fail(str(exc))


@click.group()
def digest():
    """The scanning digest: what is new, grouped by priority and factor, emailed to each list."""


@digest.command()
@click.option("--list", "list_name", help="The list to preview (its audience and what it was already sent).")
@click.option("--since", help="Cover what was first seen after this date (default: since the last send).")
@click.option("--json", "as_json", is_flag=True, help="Print the digest as JSON.")
@click.option("--html", "as_html", is_flag=True, help="Print the HTML email.")
@pass_state
def preview(state: State, list_name: str | None, since: str | None, as_json: bool, as_html: bool):
    """Show the digest a list would get now, without sending or recording anything."""
    from kb.mail import render
    from kb.scanning import next_digests

    if as_json and as_html:
        fail("choose one of --json and --html")
    lists = _lists(state, list_name)
    if as_html and len(lists) > 1:
        fail(f"--html shows one email: add --list ({', '.join(m.name for m in lists)})")
    # The app's Scanning page shows the same previews (kb.scanning.next_digests).
    previews = next_digests(state.kb, state.settings, lists, since=_since(since))
    if as_json:
        emit_json(previews[0].digest.to_dict() if list_name else {"digests": [p.digest.to_dict() for p in previews]})
        return
    for p in previews:
        d = p.digest
        text, html = render(d, p.subject, state.settings.public_url)
        if as_html:
            click.echo(html)
        elif d.is_empty:
            click.echo(f"{d.list_name}: nothing new since {d.since[:10]}; no email would be sent.")
        else:
            click.echo(text)


@digest.command()
@click.option("--list", "list_name", help="Send only this list (default: every list in kb.toml).")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def send(state: State, list_name: str | None, as_json: bool):
    """Email each list its digest: at most once per period, nothing twice, nothing on an empty week.

    Exit 1 if a list's send failed; it is retried on the next run and nothing of it is marked sent.
    """
    from dataclasses import asdict

    from kb.dispatch import Dispatcher

    lists = _lists(state, list_name)
    if not lists:
        fail("no [[lists]] in kb.toml: add a mailing list (see docs/operations.md)")
    outcomes = Dispatcher(state.kb, state.settings).send(lists)
    if as_json:
        emit_json({"lists": [asdict(o) for o in outcomes]})
    else:
        c = console()
        styles = {"sent": "green", "skipped": "dim", "failed": "red"}
        for o in outcomes:
            detail = f"{o.n_items} item(s) to {len(o.delivered)} recipient(s)" if o.status == "sent" else o.reason or ""
            c.print(f"[{styles[o.status]}]{o.status}[/] {o.list_name} ({o.period or '-'}): {detail}")
    sys.exit(1 if any(o.status == "failed" for o in outcomes) else 0)


@digest.command()
@click.argument("token_or_email")
@click.option("--list", "list_name", required=True, help="The list to leave.")
@pass_state
def unsubscribe(state: State, token_or_email: str, list_name: str):
    """Take a recipient off a list, by the token in their unsubscribe link or by address."""
    from kb.subscribers import UnsubscribeError
    from kb.subscribers import unsubscribe as do_unsubscribe

    _lists(state, list_name)
    try:
        email = do_unsubscribe(state.kb, list_name, token_or_email)
    except UnsubscribeError as exc:
        fail(str(exc))
    click.echo(f"unsubscribed {email} from {list_name}")


@click.group()
def alert():
    """Saved searches: new passages that match one appear in the digest under its name."""


@alert.command("add")
@click.argument("name")
@click.argument("query", nargs=-1, required=True)
@click.option("--factor", multiple=True, help="Factor id from the taxonomy (repeatable).")
@click.option("--polarity", type=click.Choice(["risk", "protective"]))
@click.option("--priority", type=TaxonomyChoice("priority"), multiple=True, help="Priority number from the taxonomy.")
@click.option("--type", "doc_type", multiple=True, help="Document type (repeatable).")
@click.option("--district", multiple=True, help="Bradford, Calderdale, Kirklees, Leeds or Wakefield.")
@click.option("--threshold", type=float, default=None, help="Cosine similarity a passage must reach (0-1).")
@pass_state
def alert_add(state: State, name, query, factor, polarity, priority, doc_type, district, threshold):
    """Save (or replace) an alert: NAME and the words to watch for, with optional filters."""
    from kb.alerts import DEFAULT_THRESHOLD, Alert, AlertError, add_alert
    from kb.search import Filters

    filters = Filters(
        factors=list(factor),
        polarity=polarity,
        priorities=list(priority),
        doc_types=list(doc_type),
        districts=list(district),
    )
    a = Alert(name, " ".join(query), filters, DEFAULT_THRESHOLD if threshold is None else threshold)
    try:
        add_alert(state.kb, a)
    except AlertError as exc:
        fail(str(exc))
    click.echo(f"alert {name!r} saved: {a.query!r} (threshold {a.threshold})")


@alert.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def alert_list(state: State, as_json: bool):
    """List saved alerts."""
    from kb.alerts import list_alerts

    alerts = list_alerts(state.kb)
    if as_json:
        emit_json([a.to_dict() for a in alerts])
        return
    if not alerts:
        click.echo("no alerts; add one with `kb alert add NAME QUERY`")
    for a in alerts:
        active = {k: v for k, v in a.to_dict()["filters"].items() if v}
        click.echo(f"{a.name}: {a.query!r} threshold {a.threshold}" + (f" filters {active}" if active else ""))


@alert.command("remove")
@click.argument("name")
@pass_state
def alert_remove(state: State, name: str):
    """Delete a saved alert."""
    from kb.alerts import AlertError, remove_alert

    try:
        remove_alert(state.kb, name)
    except AlertError as exc:
        fail(str(exc))
    click.echo(f"alert {name!r} removed")
