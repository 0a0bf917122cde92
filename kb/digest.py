"""Digest composition: what is new for a list, grouped by priority then factor, one key sentence per item."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import numpy as np

from kb import digest_reads as reads
from kb.alerts import list_alerts, match_alert
from kb.catalogue import now_iso
from kb.config import MailingList
from kb.first_seen import note_documents
from kb.models import READABLE, Chunk, Document
from kb.results import authors_short, cite
from kb.scan import item_origins
from kb.store import KnowledgeBase
from kb.taxonomy import Taxonomy
from kb.text import sentences
from kb.visibility import allowed as allowed_for
from kb.visibility import for_list

GROUP_CAP = 5
ALERT_CAP = 5
PERIOD_DAYS = {"daily": 1, "weekly": 7, "monthly": 31}
# Candidate sentences come from the passages nearest the document's centre; more adds embedding time only.
KEY_PASSAGES = 3
MAX_CANDIDATES = 40


@dataclass
class Item:
    doc_id: str
    title: str
    source: str
    date: str
    citation: str
    link: str
    key_sentence: str
    factors: list[str] = field(default_factory=list)
    priorities: list[str] = field(default_factory=list)
    doc_type: str = ""
    sensitivity: str = "official"
    authors: str = ""  # "Peach and Martin"; empty when none are recorded (and in digests stored before)


@dataclass
class Group:
    title: str
    factor: str | None
    items: list[Item]
    more: int = 0


@dataclass
class Section:
    title: str
    priority: int | None
    groups: list[Group]


@dataclass
class ToolkitChange:
    slug: str
    approach: str
    change: str  # new | band
    band: str | None
    old_band: str | None
    link: str
    doc_id: str


@dataclass
class AlertMatch:
    title: str
    citation: str
    text: str
    link: str
    score: float
    doc_id: str


@dataclass
class AlertSection:
    name: str
    query: str
    matches: list[AlertMatch]
    more: int = 0


@dataclass
class Digest:
    list_name: str
    audience: str
    since: str
    generated_at: str
    sections: list[Section] = field(default_factory=list)
    toolkit: list[ToolkitChange] = field(default_factory=list)
    alerts: list[AlertSection] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)  # every item counted, shown or in "and N more"

    @property
    def is_empty(self) -> bool:
        return not self.doc_ids and not self.toolkit

    @property
    def n_items(self) -> int:
        return len(self.doc_ids)

    def to_dict(self) -> dict:
        return {**asdict(self), "n_items": self.n_items}

    @classmethod
    def from_dict(cls, d: dict) -> Digest:
        return cls(
            list_name=d["list_name"],
            audience=d["audience"],
            since=d["since"],
            generated_at=d["generated_at"],
            sections=[
                Section(
                    s["title"],
                    s["priority"],
                    [Group(g["title"], g["factor"], [Item(**i) for i in g["items"]], g["more"]) for g in s["groups"]],
                )
                for s in d["sections"]
            ],
            toolkit=[ToolkitChange(**t) for t in d["toolkit"]],
            alerts=[
                AlertSection(a["name"], a["query"], [AlertMatch(**m) for m in a["matches"]], a["more"])
                for a in d["alerts"]
            ],
            doc_ids=list(d["doc_ids"]),
        )


def default_since(frequency: str, now: datetime | None = None) -> str:
    """Where a list's first digest starts: one period back."""
    now = now or datetime.now(UTC)
    return (now - timedelta(days=PERIOD_DAYS.get(frequency, 7))).replace(microsecond=0).isoformat()


class Composer:
    """Builds the digest for one list (or an ad-hoc internal preview when the list is None)."""

    def __init__(self, kb: KnowledgeBase, taxonomy: Taxonomy | None = None, group_cap: int = GROUP_CAP):
        self.kb = kb
        self.cat = kb.catalogue
        self.tax = taxonomy or kb.taxonomy
        self.group_cap = group_cap

    def compose(self, mlist: MailingList | None, since: str | None = None) -> Digest:
        note_documents(self.cat)
        name = mlist.name if mlist else "preview"
        audience = mlist.audience if mlist else "internal"
        if since is None:
            since = last_sent_at(self.kb, name) if mlist else None
            since = since or default_since(mlist.frequency if mlist else "weekly")
        allowed = allowed_for(for_list(name, audience))
        digest = Digest(name, audience, since, now_iso())

        docs = self.new_documents(name if mlist else None, since, allowed)
        items = [d for d in docs if d.doc_type != "toolkit"]
        digest.doc_ids = [d.doc_id for d in docs]
        digest.sections = self.sections(items)
        digest.toolkit = self._toolkit_changes(name if mlist else None, since, allowed)
        digest.alerts = self.alert_sections([d.doc_id for d in items], allowed)
        return digest

    # -- what is new ------------------------------------------------------------------------------
    def new_documents(
        self, list_name: str | None, since: str, allowed: list[str], until: str | None = None
    ) -> list[Document]:
        """Documents first seen from `since` (to before `until`) with a sensitivity in `allowed`, newest first;
        with a list name, less what that list was already sent. The digest and the Scanning page both ask this."""
        # >=, not >: timestamps have one-second resolution, so a document first seen in the second of the
        # last send would otherwise never be new. What that send carried is excluded by digest_items.
        where = [
            "f.first_seen >= ?",
            f"d.status IN ({','.join('?' * len(READABLE))})",
            f"d.sensitivity IN ({','.join('?' * len(allowed))})",
        ]
        params: list = [since, *READABLE, *allowed]
        if until is not None:
            where.append("f.first_seen < ?")
            params.append(until)
        if list_name is not None:
            where.append("NOT EXISTS (SELECT 1 FROM digest_items i WHERE i.list_name = ? AND i.doc_id = d.doc_id)")
            params.append(list_name)
        rows = self.cat.query(
            f"""SELECT d.doc_id FROM documents d JOIN doc_first_seen f ON f.doc_id = d.doc_id
                WHERE {" AND ".join(where)} ORDER BY f.first_seen DESC, d.title""",
            params,
        )
        ids = [r[0] for r in rows]
        by_id = reads.documents(self.kb, ids)
        return [by_id[i] for i in ids if i in by_id]

    def first_seen(self, doc_id: str) -> str:
        rows = self.cat.query("SELECT first_seen FROM doc_first_seen WHERE doc_id = ?", (doc_id,))
        return rows[0][0] if rows else ""

    # -- grouping ---------------------------------------------------------------------------------
    def sections(
        self,
        docs: list[Document],
        show: Callable[[Document, dict], bool] | None = None,
        origins: dict[str, dict] | None = None,
    ) -> list[Section]:
        """Each document placed once, under its strongest priority then factor; groups capped at `group_cap`.

        Placing is cheap; an item (its key sentence embedded) is built only for what is shown, so a backlog
        of thousands of new documents costs no more than the capped groups. `show(doc, origin)` narrows what
        is shown (and counted as more) without moving any document to another group. `origins` (from
        `item_origins`) spares reading them again when the caller has them."""
        if origins is None:
            origins = item_origins(self.kb, [d.doc_id for d in docs])
        ids = [d.doc_id for d in docs]
        counts, seen = reads.tag_counts(self.kb, ids), reads.first_seen_of(self.kb, ids)
        placed: dict[tuple[int | None, str | None], list[tuple[int, str, Document]]] = {}
        for doc in docs:
            priority, factor, strength = self._strongest(*counts.get(doc.doc_id, (Counter(), Counter())))
            placed.setdefault((priority, factor), []).append((strength, seen.get(doc.doc_id, ""), doc))

        sections: dict[int | None, Section] = {}
        for (priority, factor), members in sorted(placed.items(), key=lambda kv: _group_order(kv[0])):
            members.sort(key=lambda m: m[1][:10], reverse=True)
            members.sort(key=lambda m: -m[0])
            section = sections.get(priority)
            if section is None:
                title = (
                    f"Priority {priority}: {self.tax.priorities[priority].name}"
                    if priority in self.tax.priorities
                    else "Other new evidence"
                )
                section = sections[priority] = Section(title, priority, [])
            label = self.tax.factors[factor].label if factor in self.tax.factors else "General"
            kept = [m for m in members if show is None or show(m[2], origins.get(m[2].doc_id, {}))]
            shown = [self._item(doc, self.cat.chunks_of(doc.doc_id), origins) for _, _, doc in kept[: self.group_cap]]
            section.groups.append(Group(label, factor, shown, max(0, len(kept) - self.group_cap)))
        return list(sections.values())

    def source_of(self, doc: Document, origin: dict) -> str:
        """Where an item came from, as the digest and the Scanning page's filter name it."""
        return origin.get("source") or doc.publisher or doc.journal or doc.doc_type.replace("_", " ")

    def _strongest(self, priorities: Counter, factors: Counter) -> tuple[int | None, str | None, int]:
        """The priority most passages speak to, then its factor most passages name: each item goes once.

        `priorities` and `factors` count the document's passages that carry each value."""
        priorities = Counter(priorities)
        if not priorities:
            # A factor implies its priorities even when the tagger filed none.
            for f, n in factors.items():
                for p in self.tax.factors[f].priorities if f in self.tax.factors else ():
                    priorities[p] += n
        if not priorities:
            return None, None, 0
        priority = min(priorities, key=lambda p: (-priorities[p], p))
        in_priority = {
            f: n for f, n in factors.items() if f in self.tax.factors and priority in self.tax.factors[f].priorities
        }
        if not in_priority:
            return priority, None, priorities[priority]
        factor = min(in_priority, key=lambda f: (-in_priority[f], f))
        return priority, factor, in_priority[factor]

    def _item(self, doc: Document, chunks: list[Chunk], origins: dict[str, dict]) -> Item:
        sentence, chunk = self.key_sentence(doc, chunks)
        origin = origins.get(doc.doc_id, {})
        factor_counts = Counter((t.factor, t.polarity) for ch in chunks for t in ch.tags.factors)
        priority_counts = Counter(p for ch in chunks for p in set(ch.tags.priorities))
        return Item(
            doc_id=doc.doc_id,
            title=doc.title,
            authors=authors_short(doc) or "",
            source=self.source_of(doc, origin),
            date=self.first_seen(doc.doc_id)[:10],
            citation=cite(doc, chunk) if chunk else doc.title,
            link=self.link(doc, origin.get("url")),
            key_sentence=sentence,
            factors=[
                f"{self.tax.factors[f].label if f in self.tax.factors else f} ({pol})"
                for (f, pol), _ in factor_counts.most_common()
            ],
            priorities=[
                f"{p}: {self.tax.priorities[p].name}" if p in self.tax.priorities else str(p)
                for p, _ in sorted(priority_counts.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            doc_type=doc.doc_type,
            sensitivity=doc.sensitivity,
        )

    def link(self, doc: Document, scanned_url: str | None = None) -> str:
        if doc.url or scanned_url:
            return doc.url or scanned_url
        if doc.doi:
            return f"https://doi.org/{doc.doi}"
        return f"{self.kb.settings.public_url.rstrip('/')}/?doc={quote(doc.doc_id, safe='')}"

    # -- the key sentence -------------------------------------------------------------------------
    def key_sentence(self, doc: Document, chunks: list[Chunk]) -> tuple[str, Chunk | None]:
        """The sentence whose embedding is nearest the mean of the document's passage vectors."""
        if not chunks:
            return (sentences(doc.abstract or "") or [""])[0], None
        rows = self.cat.query("SELECT rowid, chunk_id FROM chunks WHERE doc_id = ?", (doc.doc_id,))
        by_rowid = {r[0]: r[1] for r in rows}
        rowids, mat = self.cat.vectors_for_rowids(self.kb.embedder.model_id, list(by_rowid))
        by_id = {ch.chunk_id: ch for ch in chunks}
        if not rowids:
            return (sentences(chunks[0].text) or [chunks[0].text])[0], chunks[0]
        centroid = mat.mean(axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        near = np.argsort(-(mat @ centroid))[:KEY_PASSAGES]
        candidates: list[tuple[str, Chunk]] = []
        for i in near:
            ch = by_id[by_rowid[rowids[i]]]
            candidates += [(s, ch) for s in sentences(ch.text) if _readable(s)]
        if not candidates:
            ch = by_id[by_rowid[rowids[near[0]]]]
            candidates = [(s, ch) for s in sentences(ch.text)] or [(ch.text, ch)]
        candidates = candidates[:MAX_CANDIDATES]
        if len(candidates) == 1:
            return candidates[0]
        vecs, _ = self.kb.embedder.encode_cached([s for s, _ in candidates], self.cat)
        return candidates[int(np.argmax(vecs @ centroid))]

    # -- toolkit ----------------------------------------------------------------------------------
    def _toolkit_changes(self, list_name: str | None, since: str, allowed: list[str]) -> list[ToolkitChange]:
        snapshot = (
            {
                r["slug"]: r["band"]
                for r in self.cat.query("SELECT * FROM toolkit_snapshot WHERE list_name = ?", (list_name,))
            }
            if list_name
            else {}
        )
        changes = []
        for entry, doc in self.toolkit_entries(allowed):
            band = entry.get("impact_band")
            link = (entry.get("source_urls") or [None])[0] or self.link(doc)
            if entry["slug"] in snapshot:
                if snapshot[entry["slug"]] != band:
                    changes.append(
                        ToolkitChange(
                            entry["slug"], entry["approach"], "band", band, snapshot[entry["slug"]], link, doc.doc_id
                        )
                    )
            elif self.first_seen(doc.doc_id) >= since:  # the snapshot stops a repeat, as digest_items does
                changes.append(ToolkitChange(entry["slug"], entry["approach"], "new", band, None, link, doc.doc_id))
        return changes

    def toolkit_entries(self, allowed: list[str]) -> list[tuple[dict, Document]]:
        out = []
        for entry in self.cat.toolkit_entries():
            doc = self.cat.get_document(entry["doc_id"])
            if doc is not None and doc.sensitivity in allowed:
                out.append((entry, doc))
        return out

    # -- saved searches ---------------------------------------------------------------------------
    def alert_sections(self, doc_ids: list[str], allowed: list[str]) -> list[AlertSection]:
        """Every saved search's passages among these (new) documents, best first, `ALERT_CAP` shown."""
        out = []
        for alert in list_alerts(self.kb) if doc_ids else []:
            matches = match_alert(self.kb, alert, doc_ids, allowed)
            if not matches:
                continue
            chunks = self.cat.get_chunks([m.rowid for m in matches[:ALERT_CAP]])
            shown = []
            for m in matches[:ALERT_CAP]:
                doc = self.cat.get_document(m.doc_id)
                ch = chunks[m.rowid]
                text = ch.text if len(ch.text) <= 300 else ch.text[:300].rsplit(" ", 1)[0] + "…"
                shown.append(AlertMatch(doc.title, cite(doc, ch), text, self.link(doc), round(m.score, 3), doc.doc_id))
            out.append(AlertSection(alert.name, alert.query, shown, max(0, len(matches) - ALERT_CAP)))
        return out


def _group_order(key: tuple[int | None, str | None]) -> tuple:
    priority, factor = key
    return (priority is None, priority or 0, factor is None, factor or "")


def _readable(sentence: str) -> bool:
    """A sentence a reader can take in alone: not a heading, a list fragment or a paragraph-long run-on."""
    return 40 <= len(sentence) <= 400 and len(sentence.split()) >= 6


def last_sent_at(kb: KnowledgeBase, list_name: str) -> str | None:
    """When the last digest that reached every recipient of a list was composed."""
    rows = kb.catalogue.query(
        "SELECT MAX(created_at) FROM digest_sends WHERE list_name = ? AND status = 'sent'", (list_name,)
    )
    return rows[0][0] if rows else None
