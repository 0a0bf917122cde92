"""What the digest reads for a backlog of new documents, in batches: the documents, first-seen dates, tag counts."""

from __future__ import annotations

from collections import Counter

from kb.catalogue.rows import in_batches
from kb.changes import memo
from kb.map_designs import documents_by_id
from kb.models import Document
from kb.store import KnowledgeBase

# Documents kept in memory between page opens (kb.changes.memo); a larger backlog is read each time instead.
DOCUMENT_MEMO_CAP = 50_000


def documents(kb: KnowledgeBase, doc_ids: list[str]) -> dict[str, Document]:
    """The documents, kept until the catalogue changes: the Scanning page asks for the same backlog of new
    documents three times per open and again in every session, and parsing them was most of its time."""
    known = memo(kb).setdefault("digest_documents", {})
    todo = [i for i in doc_ids if i not in known]
    if not todo:
        return {i: known[i] for i in doc_ids}
    found = documents_by_id(kb, todo)
    if len(known) + len(found) <= DOCUMENT_MEMO_CAP:
        known.update(found)
    return {i: d for i in doc_ids if (d := known.get(i) or found.get(i)) is not None}


def first_seen_of(kb: KnowledgeBase, doc_ids: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for part, marks in in_batches(doc_ids):
        out.update(kb.catalogue.query(f"SELECT doc_id, first_seen FROM doc_first_seen WHERE doc_id IN ({marks})", part))
    return out


def tag_counts(kb: KnowledgeBase, doc_ids: list[str]) -> dict[str, tuple[Counter, Counter]]:
    """Per document, how many of its passages carry each priority and each factor, counted in SQL.

    Placing a backlog of thousands of new documents read and parsed every passage of each (most of a
    Scanning page open at 5,000 new documents); chunk_tags holds the same tags, one indexed row each."""
    out: dict[str, tuple[Counter, Counter]] = {}
    for part, marks in in_batches(doc_ids):
        for doc_id, kind, value, n in kb.catalogue.query(
            f"""SELECT c.doc_id, t.kind, t.value, COUNT(DISTINCT t.chunk_rowid) FROM chunks c
                JOIN chunk_tags t ON t.chunk_rowid = c.rowid AND t.kind IN ('priority', 'factor')
                WHERE c.doc_id IN ({marks}) GROUP BY c.doc_id, t.kind, t.value""",
            part,
        ):
            priorities, factors = out.setdefault(doc_id, (Counter(), Counter()))
            if kind == "priority":
                priorities[int(value)] = n
            else:
                factors[value] = n
    return out
