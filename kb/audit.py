"""The audit trail: every view, export, brief and mailing of an official-sensitive document (who, what, when, where)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from kb.catalogue import Catalogue, now_iso
from kb.models import Document
from kb.visibility import OFFICIAL

ACTIONS = ("view", "export", "brief", "mail")


@dataclass
class AuditEntry:
    at: str
    actor: str  # app user name, "single-user", "cli:<login>", "list:<name>"
    action: str  # view | export | brief | mail
    doc_id: str
    title: str
    sensitivity: str
    destination: str  # the page, the export format, or the addresses a mailing went to

    def to_dict(self) -> dict:
        return asdict(self)


def record(cat: Catalogue, actor: str, action: str, documents: Iterable[Document], destination: str) -> int:
    """Log what of `documents` is not plain official (each once); returns how many entries were written."""
    if action not in ACTIONS:
        raise ValueError(f"audit action must be one of {', '.join(ACTIONS)}, not {action!r}")
    # Anything but official is logged, an unknown sensitivity included: the log fails closed too.
    seen = {d.doc_id: d for d in documents if d is not None and d.sensitivity != OFFICIAL}
    if not seen:
        return 0
    at = now_iso()
    with cat.transaction() as c:
        c.executemany(
            """INSERT INTO audit_log(at, actor, action, doc_id, title, sensitivity, destination)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [(at, actor, action, d.doc_id, d.title, d.sensitivity, destination) for d in seen.values()],
        )
    return len(seen)


def entries(cat: Catalogue, since: str | None = None) -> list[AuditEntry]:
    """The trail, oldest first; `since` (ISO date or date-time, UTC) keeps entries at or after it."""
    sql = "SELECT at, actor, action, doc_id, title, sensitivity, destination FROM audit_log"
    params: list[str] = []
    if since:
        sql += " WHERE at >= ?"
        params.append(since)
    return [AuditEntry(*r) for r in cat.query(sql + " ORDER BY entry_id", params)]
