"""Saved searches ("alerts"): a named query with filters, and the new passages that match it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from kb.catalogue import now_iso
from kb.search import Filters
from kb.store import KnowledgeBase

# Cosine similarity (MiniLM, normalised) above which a passage counts as a match: below about 0.4
# passages share words with a query more than meaning.
DEFAULT_THRESHOLD = 0.45


class AlertError(ValueError):
    pass


@dataclass
class Alert:
    name: str
    query: str
    filters: Filters = field(default_factory=Filters)
    threshold: float = DEFAULT_THRESHOLD
    owner: str | None = None  # the app user who saved it; None: made with `kb alert add`

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "query": self.query,
            "filters": asdict(self.filters),
            "threshold": self.threshold,
            "owner": self.owner,
        }


@dataclass
class Match:
    rowid: int
    doc_id: str
    score: float


def add_alert(kb: KnowledgeBase, alert: Alert) -> None:
    if not alert.query.strip():
        raise AlertError("the alert's query is empty: give the words to watch for")
    if not 0 < alert.threshold < 1:
        raise AlertError(f"--threshold must be between 0 and 1 (cosine similarity), not {alert.threshold}")
    with kb.catalogue.transaction() as c:
        row = c.execute("SELECT owner FROM alerts WHERE name = ?", (alert.name,)).fetchone()
        if row is not None and row[0] != alert.owner:
            # Replacing someone else's alert would silently change what their digest watches for.
            raise AlertError(f"an alert named {alert.name!r} belongs to someone else; choose another name")
        c.execute(
            """INSERT INTO alerts(name, query, filters, threshold, created_at, owner) VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT(name) DO UPDATE SET query=excluded.query, filters=excluded.filters,
               threshold=excluded.threshold""",
            (alert.name, alert.query, json.dumps(asdict(alert.filters)), alert.threshold, now_iso(), alert.owner),
        )


def list_alerts(kb: KnowledgeBase) -> list[Alert]:
    return [
        Alert(r["name"], r["query"], Filters(**json.loads(r["filters"])), r["threshold"], r["owner"])
        for r in kb.catalogue.query("SELECT * FROM alerts ORDER BY name")
    ]


def alerts_of(kb: KnowledgeBase, owner: str | None) -> list[Alert]:
    """One app user's alerts (owner None: the ones made from the command line)."""
    return [a for a in list_alerts(kb) if a.owner == owner]


def remove_alert(kb: KnowledgeBase, name: str) -> None:
    with kb.catalogue.transaction() as c:
        if not c.execute("DELETE FROM alerts WHERE name = ?", (name,)).rowcount:
            raise AlertError(f"no alert named {name!r}; `kb alert list` shows them")


def remove_own_alert(kb: KnowledgeBase, name: str, owner: str | None) -> None:
    """Remove an alert only if this user saved it."""
    with kb.catalogue.transaction() as c:
        if not c.execute("DELETE FROM alerts WHERE name = ? AND owner IS ?", (name, owner)).rowcount:
            raise AlertError(f"you have no alert named {name!r}")


def match_alert(kb: KnowledgeBase, alert: Alert, doc_ids: list[str], sensitivities: list[str] | None) -> list[Match]:
    """Passages of the given (new) documents that pass the alert's filters and score above its threshold."""
    if not doc_ids:
        return []
    filters = Filters(**asdict(alert.filters))
    if sensitivities is not None:
        filters.sensitivities = [s for s in (filters.sensitivities or sensitivities) if s in sensitivities]
    where, params = filters.sql()
    marks = ",".join("?" * len(doc_ids))
    rows = kb.catalogue.query(
        f"""SELECT c.rowid, c.doc_id FROM chunks c JOIN documents d ON d.doc_id = c.doc_id
            WHERE c.doc_id IN ({marks}) AND {where}""",
        [*doc_ids, *params],
    )
    if not rows:
        return []
    doc_of = {r[0]: r[1] for r in rows}
    rowids, mat = kb.catalogue.vectors_for_rowids(kb.embedder.model_id, list(doc_of))
    if not rowids:
        return []
    scores = mat @ kb.embedder.encode_query(alert.query)
    order = np.argsort(-scores)
    return [Match(rowids[i], doc_of[rowids[i]], float(scores[i])) for i in order if scores[i] >= alert.threshold]
