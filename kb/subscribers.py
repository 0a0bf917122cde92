"""Who is on each mailing list: unsubscribe tokens made on first send, unsubscribing by token or address."""

from __future__ import annotations

import re
import secrets

from kb.catalogue import now_iso
from kb.config import MailingList
from kb.store import KnowledgeBase

# What secrets.token_urlsafe makes: anything else in a link is not a token (an address, above all).
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,}")


class UnsubscribeError(ValueError):
    pass


def _norm_email(email: str) -> str:
    return email.strip().lower()


def recipients(kb: KnowledgeBase, mlist: MailingList) -> list[tuple[str, str]]:
    """(email, unsubscribe token) of everyone on the list who has not unsubscribed; tokens made on first use."""
    wanted = list(dict.fromkeys(_norm_email(e) for e in mlist.recipients if e.strip()))
    with kb.catalogue.transaction() as c:
        c.executemany(
            "INSERT OR IGNORE INTO subscribers(list_name, email, token) VALUES (?, ?, ?)",
            [(mlist.name, e, secrets.token_urlsafe(24)) for e in wanted],
        )
    rows = kb.catalogue.query(
        "SELECT email, token FROM subscribers WHERE list_name = ? AND unsubscribed_at IS NULL", (mlist.name,)
    )
    active = {r[0]: r[1] for r in rows}
    return [(e, active[e]) for e in wanted if e in active]


def unsubscribe(kb: KnowledgeBase, list_name: str, token_or_email: str) -> str:
    """Take someone off a list by their token (from the email) or address; returns the address."""
    value = token_or_email.strip()
    with kb.catalogue.transaction() as c:
        if "@" in value:
            email = _norm_email(value)
            # Remembered even if the address was never sent to, so adding it to kb.toml later does not resubscribe it.
            c.execute(
                "INSERT OR IGNORE INTO subscribers(list_name, email, token) VALUES (?, ?, ?)",
                (list_name, email, secrets.token_urlsafe(24)),
            )
        else:
            row = c.execute(
                "SELECT email FROM subscribers WHERE list_name = ? AND token = ?", (list_name, value)
            ).fetchone()
            if row is None:
                raise UnsubscribeError(
                    f"no subscriber of list {list_name!r} has that token; check the link or use the address"
                )
            email = row[0]
        c.execute(
            "UPDATE subscribers SET unsubscribed_at = COALESCE(unsubscribed_at, ?) WHERE list_name = ? AND email = ?",
            (now_iso(), list_name, email),
        )
    return email


def mask_email(email: str) -> str:
    """'j***@example.org': enough for the owner to recognise, too little for someone who sees the screen."""
    local, at, domain = email.partition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def unsubscribe_by_link(kb: KnowledgeBase, list_name: str, token: str) -> str:
    """Unsubscribe from an emailed link; returns the address taken off the list.

    Only a token is accepted: `unsubscribe` also takes an address, which from a web link would let
    anyone take anyone else off a list.
    """
    if not list_name or not _TOKEN.fullmatch(token.strip()):
        raise UnsubscribeError(
            "this unsubscribe link is incomplete or altered; open the link from the email exactly as it is, "
            "or use your mail program's unsubscribe button"
        )
    return unsubscribe(kb, list_name, token)
