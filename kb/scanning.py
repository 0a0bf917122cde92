"""Scanning at a glance for the app and the CLI: what is new, each list's next digest, past digests, alerts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from kb.alerts import DEFAULT_THRESHOLD, Alert, AlertError, add_alert, alerts_of
from kb.config import ConfigError, MailingList, Settings
from kb.digest import AlertSection, Composer, Digest, Section, default_since, last_sent_at
from kb.dispatch import Dispatcher, SendOutcome, period_key
from kb.first_seen import note_documents
from kb.mail import render, subject_for
from kb.scan import item_origins
from kb.scanning_rules import ScanningError, require_manager

# The Scanning page imports these from here (kb/scanning_sources.py is their home).
from kb.scanning_sources import add_source, remove_source, scan_sources, set_paused, source_statuses  # noqa: F401
from kb.search import Filters
from kb.store import KnowledgeBase
from kb.visibility import Audience, allowed, for_list, may_see

PERIODS = ("since the last digest", "this week", "last week", "date range")
# The page lists everything new; the email caps each group (GROUP_CAP) but places items the same way.
PAGE_GROUP_CAP = 25


# -- the period ----------------------------------------------------------------------------------------


@dataclass
class Period:
    label: str
    since: str  # ISO date-time, inclusive
    until: str | None = None  # exclusive; None: up to now


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


def period_bounds(
    kb: KnowledgeBase,
    settings: Settings,
    choice: str,
    now: datetime | None = None,
    start: date | None = None,
    end: date | None = None,
) -> Period:
    """The window a choice of PERIODS means; weeks are ISO weeks (Monday to Sunday, UTC)."""
    now = now or datetime.now(UTC)
    monday = _midnight(now.date() - timedelta(days=now.weekday()))
    if choice == "since the last digest":
        sent = [s for s in (last_sent_at(kb, m.name) for m in settings.lists) if s]
        return Period(choice, max(sent) if sent else default_since("weekly", now))
    if choice == "this week":
        return Period(choice, monday.isoformat())
    if choice == "last week":
        return Period(choice, (monday - timedelta(days=7)).isoformat(), monday.isoformat())
    if choice == "date range":
        if start is None or end is None:
            raise ScanningError("pick both the first and the last day of the range")
        if start > end:
            raise ScanningError(f"the range starts ({start}) after it ends ({end}); swap the dates")
        return Period(f"{start} to {end}", _midnight(start).isoformat(), _midnight(end + timedelta(days=1)).isoformat())
    raise ScanningError(f"period must be one of {', '.join(PERIODS)}, not {choice!r}")


# -- new this period -----------------------------------------------------------------------------------


@dataclass
class NewItems:
    period: Period
    sections: list[Section]
    n_items: int
    sources: list[str] = field(default_factory=list)  # what the filters can offer, before filtering
    priorities: list[int] = field(default_factory=list)
    factors: list[str] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)  # every new visible document, toolkit entries too


def page_composer(kb: KnowledgeBase) -> Composer:
    # The page shows more per group than an email, but not all: a backlog of thousands of new documents
    # (a first ingest) would embed every one's key sentence before the page could draw.
    return Composer(kb, group_cap=PAGE_GROUP_CAP)


def _new_documents(composer: Composer, period: Period, audience: Audience):
    note_documents(composer.cat)
    # The digest's own query for "new", so the page and the email cannot disagree on what is new.
    return composer.new_documents(None, period.since, allowed(audience), until=period.until)


def new_items(
    kb: KnowledgeBase,
    period: Period,
    audience: Audience,
    sources: Iterable[str] = (),
    priorities: Iterable[int] = (),
    factors: Iterable[str] = (),
    composer: Composer | None = None,
) -> NewItems:
    """Documents first seen in the period that the viewer may see, grouped by priority then factor as the
    digest groups them; the filters narrow what is shown, never where an item is placed."""
    composer = composer or page_composer(kb)
    docs = _new_documents(composer, period, audience)
    items = [d for d in docs if d.doc_type != "toolkit"]
    origins = item_origins(kb, [d.doc_id for d in items])
    out = NewItems(period, [], 0, doc_ids=[d.doc_id for d in docs])
    out.sources = sorted({composer.source_of(d, origins.get(d.doc_id, {})) for d in items})
    sources, priorities, factors = set(sources), set(priorities), set(factors)
    show = (lambda d, origin: composer.source_of(d, origin) in sources) if sources else None
    sections = composer.sections(items, show=show, origins=origins)
    out.priorities = sorted({s.priority for s in sections if s.priority is not None})
    out.factors = sorted({g.factor for s in sections for g in s.groups if g.factor})
    for s in sections:
        if priorities and s.priority not in priorities:
            continue
        groups = [g for g in s.groups if (g.items or g.more) and not (factors and g.factor not in factors)]
        if groups:
            out.sections.append(replace(s, groups=groups))
    out.n_items = sum(len(g.items) + g.more for s in out.sections for g in s.groups)
    return out


# -- the next digest of each list ----------------------------------------------------------------------


@dataclass
class ListPreview:
    list_name: str
    audience: str
    period: str
    subject: str
    digest: Digest
    already_sent: bool  # this list's digest for `period` went out already; these items wait for the next


def next_digests(
    kb: KnowledgeBase,
    settings: Settings,
    lists: list[MailingList] | None = None,
    since: str | None = None,
    now: datetime | None = None,
    composer: Composer | None = None,
) -> list[ListPreview]:
    """What each list would get now (no lists configured: an internal preview of everything); nothing is
    sent or recorded. `kb digest preview` prints these."""
    composer = composer or Composer(kb)
    now = now or datetime.now(UTC)
    out = []
    for mlist in (settings.lists if lists is None else lists) or [None]:
        digest = composer.compose(mlist, since=since)
        period = period_key(mlist.frequency if mlist else "weekly", now)
        sent = bool(
            mlist
            and kb.catalogue.query(
                "SELECT 1 FROM digest_sends WHERE list_name = ? AND period = ? AND status = 'sent'",
                (mlist.name, period),
            )
        )
        out.append(ListPreview(digest.list_name, digest.audience, period, subject_for(digest, period), digest, sent))
    return out


def previews_for(previews: list[ListPreview], audience: Audience) -> list[ListPreview]:
    """The previews of lists whose audience sees nothing this viewer may not: an internal list's is for insiders."""
    mine = set(allowed(audience))
    return [p for p in previews if set(allowed(for_list(p.list_name, p.audience))) <= mine]


def send_now(
    kb: KnowledgeBase, settings: Settings, list_name: str, audience: Audience, now: datetime | None = None
) -> SendOutcome:
    """Send one list's digest exactly as `kb digest send --list` does: at most once per period; insiders only."""
    require_manager(audience, f"send the {list_name} digest")
    try:
        mlist = settings.mailing_list(list_name)
    except ConfigError as exc:
        raise ScanningError(str(exc)) from None
    return Dispatcher(kb, settings).send_list(mlist, now)


def visible_digest(kb: KnowledgeBase, digest: Digest, audience: Audience) -> tuple[Digest, int]:
    """The digest less what the viewer may not see, and how many documents that took out (0: the digest itself).

    A document no longer in the catalogue counts as not visible: its sensitivity cannot be checked."""
    ids = digest.doc_ids + [t.doc_id for t in digest.toolkit] + [m.doc_id for a in digest.alerts for m in a.matches]
    known = {}
    for doc_id in dict.fromkeys(ids):
        doc = kb.catalogue.get_document(doc_id)
        known[doc_id] = doc is not None and may_see(audience, doc.sensitivity)
    # An item carries the sensitivity it was sent with; either being hidden hides it.
    for s in digest.sections:
        for g in s.groups:
            for i in g.items:
                known[i.doc_id] = known.get(i.doc_id, True) and may_see(audience, i.sensitivity)
    hidden = sum(not v for v in known.values())
    if not hidden:
        return digest, 0

    def ok(doc_id: str) -> bool:
        return known.get(doc_id, False)

    d = Digest.from_dict(digest.to_dict())
    # "and N more" of an internal list may count items this viewer may not know exist.
    keep_more = digest.audience == "external"
    sections = []
    for s in d.sections:
        groups = [
            replace(g, items=[i for i in g.items if ok(i.doc_id)], more=g.more if keep_more else 0) for g in s.groups
        ]
        groups = [g for g in groups if g.items]
        if groups:
            sections.append(replace(s, groups=groups))
    d.sections = sections
    d.toolkit = [t for t in d.toolkit if ok(t.doc_id)]
    alerts = [
        replace(a, matches=[m for m in a.matches if ok(m.doc_id)], more=a.more if keep_more else 0) for a in d.alerts
    ]
    d.alerts = [a for a in alerts if a.matches]
    d.doc_ids = [x for x in d.doc_ids if ok(x)]
    return d, hidden


# -- past digests --------------------------------------------------------------------------------------


@dataclass
class PastDigest:
    send_id: int
    list_name: str
    audience: str  # from kb.toml; "unknown" for a list since removed
    period: str
    sent_at: str
    n_items: int
    subject: str


def past_digests(kb: KnowledgeBase, settings: Settings, audience: Audience) -> list[PastDigest]:
    """Every digest that reached all its recipients, newest first; for a viewer who may not see all of one,
    its subject and count as they would be without the hidden items (none left: not listed)."""
    list_audience = {m.name: m.audience for m in settings.lists}
    rows = kb.catalogue.query(
        """SELECT s.send_id, s.list_name, s.period, s.sent_at, s.n_items, a.subject, s.payload
           FROM digest_sends s LEFT JOIN digest_archive a ON a.send_id = s.send_id
           WHERE s.status = 'sent' ORDER BY s.sent_at DESC, s.send_id DESC"""
    )
    out = []
    for r in rows:
        digest = _stored_digest(r["payload"])
        subject, n_items = r["subject"] or subject_for(digest, r["period"]), r["n_items"]
        shown, hidden = visible_digest(kb, digest, audience)
        if hidden:
            if shown.is_empty:
                continue
            subject, n_items = subject_for(shown, r["period"]), shown.n_items
        out.append(
            PastDigest(
                r["send_id"],
                r["list_name"],
                list_audience.get(r["list_name"], "unknown"),
                r["period"],
                r["sent_at"],
                n_items,
                subject,
            )
        )
    return out


def _stored_digest(payload: str) -> Digest:
    return Digest.from_dict(json.loads(payload)["digest"])


def past_digest_html(kb: KnowledgeBase, settings: Settings, send_id: int, audience: Audience) -> str | None:
    """The email as it was sent; for a viewer who may not see all of it, re-rendered without those items."""
    rows = kb.catalogue.query(
        """SELECT s.period, s.payload, a.html FROM digest_sends s LEFT JOIN digest_archive a ON a.send_id = s.send_id
           WHERE s.send_id = ? AND s.status = 'sent'""",
        (send_id,),
    )
    if not rows:
        return None
    digest = _stored_digest(rows[0]["payload"])
    shown, hidden = visible_digest(kb, digest, audience)
    if not hidden and rows[0]["html"]:
        return rows[0]["html"]
    # Sent before the archive existed, or partly hidden from this viewer: drawn again from what was sent.
    return render(shown, subject_for(shown, rows[0]["period"]), settings.public_url)[1]


# -- alerts --------------------------------------------------------------------------------------------


@dataclass
class AlertView:
    alert: Alert
    section: AlertSection | None  # its new matches in the period, as the digest shows them; None: none

    @property
    def n_matches(self) -> int:
        return len(self.section.matches) + self.section.more if self.section else 0


def save_alert(kb: KnowledgeBase, owner: str | None, query: str, filters: Filters, name: str = "") -> Alert:
    """Keep a search (its words and filters) as an alert of this user; it feeds the digest as any alert does."""
    # What a viewer may see is not part of the search: each list's audience decides that when it is matched.
    kept = replace(filters, sensitivities=None)
    alert = Alert((name or query).strip(), query.strip(), kept, DEFAULT_THRESHOLD, owner)
    try:
        add_alert(kb, alert)
    except AlertError as exc:
        raise ScanningError(str(exc)) from None
    return alert


def alert_views(
    kb: KnowledgeBase,
    owner: str | None,
    period: Period,
    audience: Audience,
    composer: Composer | None = None,
) -> list[AlertView]:
    """A user's alerts, each with the new passages matching it in the period, found as the digest finds them."""
    composer = composer or page_composer(kb)
    mine = alerts_of(kb, owner)
    if not mine:
        return []
    docs = [d.doc_id for d in _new_documents(composer, period, audience) if d.doc_type != "toolkit"]
    sections = {a.name: a for a in composer.alert_sections(docs, allowed(audience))}
    return [AlertView(a, sections.get(a.name)) for a in mine]
