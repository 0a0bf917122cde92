"""Cron-safe sending: one digest per list per period, items never twice, a failed send retried, never marked sent."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from kb import audit
from kb.catalogue import now_iso
from kb.config import ConfigError, MailingList, Settings
from kb.digest import PERIOD_DAYS, Composer, Digest
from kb.mail import MailError, SmtpConnection, build_message, render, subject_for
from kb.models import READABLE
from kb.store import KnowledgeBase
from kb.subscribers import recipients
from kb.visibility import allowed as allowed_for
from kb.visibility import for_list, may_see

# Longer than any send takes, shorter than the hourly cron: a crashed run's lock frees itself.
LOCK_MINUTES = 30


@dataclass
class SendOutcome:
    list_name: str
    status: str  # sent | skipped | failed
    reason: str | None = None
    period: str | None = None
    n_items: int = 0
    delivered: list[str] = field(default_factory=list)


def period_key(frequency: str, now: datetime) -> str:
    """The period a digest belongs to: ISO week for weekly lists, the day or the month otherwise."""
    if frequency == "weekly":
        year, week, _ = now.isocalendar()
        return f"{year}-W{week:02d}"
    if frequency == "daily":
        return now.strftime("%Y-%m-%d")
    if frequency == "monthly":
        return now.strftime("%Y-%m")
    raise ConfigError(f"list frequency must be one of {', '.join(PERIOD_DAYS)}, not {frequency!r}")


class Dispatcher:
    def __init__(self, kb: KnowledgeBase, settings: Settings, composer: Composer | None = None):
        self.kb = kb
        self.cat = kb.catalogue
        self.settings = settings
        self.composer = composer or Composer(kb)

    def send(self, lists: list[MailingList], now: datetime | None = None) -> list[SendOutcome]:
        return [self.send_list(m, now) for m in lists]

    def send_list(self, mlist: MailingList, now: datetime | None = None) -> SendOutcome:
        now = (now or datetime.now(UTC)).replace(microsecond=0)
        try:
            period = period_key(mlist.frequency, now)
        except ConfigError as exc:
            return SendOutcome(mlist.name, "failed", str(exc))
        holder = uuid.uuid4().hex
        if not self._lock(mlist.name, holder, now):
            return SendOutcome(mlist.name, "skipped", "another `kb digest send` is sending this list", period)
        try:
            return self._send_locked(mlist, period)
        finally:
            with self.cat.transaction() as c:
                c.execute("DELETE FROM digest_locks WHERE list_name = ? AND holder = ?", (mlist.name, holder))

    def _lock(self, list_name: str, holder: str, now: datetime) -> bool:
        expires = (now + timedelta(minutes=LOCK_MINUTES)).replace(microsecond=0).isoformat()
        with self.cat.transaction() as c:
            row = c.execute("SELECT expires_at FROM digest_locks WHERE list_name = ?", (list_name,)).fetchone()
            if row and row[0] > now.isoformat():
                return False
            c.execute(
                "INSERT OR REPLACE INTO digest_locks(list_name, holder, expires_at) VALUES (?, ?, ?)",
                (list_name, holder, expires),
            )
        return True

    def _send_locked(self, mlist: MailingList, period: str) -> SendOutcome:
        row = self.cat.query("SELECT * FROM digest_sends WHERE list_name = ? AND period = ?", (mlist.name, period))
        row = row[0] if row else None
        if row and row["status"] == "sent":
            return SendOutcome(mlist.name, "skipped", f"already sent for {period}", period, row["n_items"])
        people = recipients(self.kb, mlist)
        if not people:
            return SendOutcome(mlist.name, "skipped", "no recipients (all unsubscribed or none in kb.toml)", period)

        if row is None:
            digest = self.composer.compose(mlist)
            if digest.is_empty:
                return SendOutcome(mlist.name, "skipped", "nothing new", period)
            allowed = allowed_for(for_list(mlist.name, mlist.audience))
            payload = {
                "digest": digest.to_dict(),
                "toolkit_state": {
                    e["slug"]: [e["approach"], e.get("impact_band")] for e, _ in self.composer.toolkit_entries(allowed)
                },
            }
            with self.cat.transaction() as c:
                # An older period's send that never completed is replaced: its items were never marked
                # sent, so this digest (composed since the last completed send) carries them again.
                c.execute(
                    "UPDATE digest_sends SET status = 'superseded' WHERE list_name = ? AND status = 'pending'",
                    (mlist.name,),
                )
                send_id = c.execute(
                    """INSERT INTO digest_sends(list_name, period, status, payload, n_items, created_at)
                       VALUES (?, ?, 'pending', ?, ?, ?)""",
                    (mlist.name, period, json.dumps(payload), digest.n_items, digest.generated_at),
                ).lastrowid
        else:
            # A retry sends the digest that was composed for this period, so every recipient gets the same one.
            send_id = row["send_id"]
            payload = json.loads(row["payload"])
            digest = Digest.from_dict(payload["digest"])
        digest = self.recheck(digest, mlist)
        if digest.is_empty:
            return SendOutcome(
                mlist.name, "skipped", "nothing left to send: its items were removed or reclassified", period
            )

        done = {r[0] for r in self.cat.query("SELECT email FROM digest_deliveries WHERE send_id = ?", (send_id,))}
        outcome = SendOutcome(mlist.name, "sent", None, period, digest.n_items)
        try:
            todo = [(e, t) for e, t in people if e not in done]
            if todo:
                with SmtpConnection(self.settings.smtp) as conn:
                    for email, token in todo:
                        conn.send(build_message(digest, period, email, token, self.settings))
                        with self.cat.transaction() as c:
                            c.execute(
                                "INSERT OR IGNORE INTO digest_deliveries(send_id, email, accepted_at) VALUES (?, ?, ?)",
                                (send_id, email, now_iso()),
                            )
                        outcome.delivered.append(email)
        except MailError as exc:
            with self.cat.transaction() as c:
                c.execute("UPDATE digest_sends SET error = ? WHERE send_id = ?", (str(exc), send_id))
            outcome.status, outcome.reason = "failed", f"{exc}; will retry on the next run"
            return outcome
        self._complete(mlist.name, send_id, digest, payload, period)
        if outcome.delivered:
            docs = [self.cat.get_document(d) for d in digest.doc_ids]
            audit.record(self.cat, f"list:{mlist.name}", "mail", docs, ", ".join(outcome.delivered))
        return outcome

    def recheck(self, digest: Digest, mlist: MailingList) -> Digest:
        """Every item read again at this try: a removed one is dropped, one the list may no longer see never goes.

        A retry sends the digest composed for its period, so a document reclassified or removed since then
        must be taken out here, not trusted from the stored copy. Dropped items are not marked sent.
        """
        audience = for_list(mlist.name, mlist.audience)
        fits: dict[str, bool] = {}

        def ok(doc_id: str) -> bool:
            if doc_id not in fits:
                doc = self.cat.get_document(doc_id)
                fits[doc_id] = doc is not None and doc.status in READABLE and may_see(audience, doc.sensitivity)
            return fits[doc_id]

        for section in digest.sections:
            for group in section.groups:
                group.items = [i for i in group.items if ok(i.doc_id)]
            section.groups = [g for g in section.groups if g.items]
        digest.sections = [s for s in digest.sections if s.groups]
        digest.toolkit = [t for t in digest.toolkit if ok(t.doc_id)]
        for a in digest.alerts:
            a.matches = [m for m in a.matches if ok(m.doc_id)]
        digest.alerts = [a for a in digest.alerts if a.matches]
        digest.doc_ids = [d for d in digest.doc_ids if ok(d)]
        return digest

    def _complete(self, list_name: str, send_id: int, digest: Digest, payload: dict, period: str) -> None:
        """Every recipient's server accepted it: only now are its items sent and the toolkit baseline moved.

        The stored digest becomes the one sent (after `recheck`), so past digests show only what went out.
        """
        subject = subject_for(digest, period)
        toolkit_state = payload["toolkit_state"]
        sent = json.dumps({**payload, "digest": digest.to_dict()})
        # Archived as every recipient read it, less their own unsubscribe link, so it can be shared.
        text, html = render(digest, subject, self.settings.public_url)
        with self.cat.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO digest_archive(send_id, subject, html, text) VALUES (?, ?, ?, ?)",
                (send_id, subject, html, text),
            )
            c.execute(
                """UPDATE digest_sends SET status = 'sent', sent_at = ?, error = NULL, payload = ?, n_items = ?
                   WHERE send_id = ?""",
                (now_iso(), sent, digest.n_items, send_id),
            )
            c.executemany(
                "INSERT OR IGNORE INTO digest_items(list_name, doc_id, send_id) VALUES (?, ?, ?)",
                [(list_name, d, send_id) for d in digest.doc_ids],
            )
            c.execute("DELETE FROM toolkit_snapshot WHERE list_name = ?", (list_name,))
            c.executemany(
                "INSERT INTO toolkit_snapshot(list_name, slug, approach, band) VALUES (?, ?, ?, ?)",
                [(list_name, slug, approach, band) for slug, (approach, band) in toolkit_state.items()],
            )
