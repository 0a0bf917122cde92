"""When each document was first seen: what "new" means to digests, unmoved when a re-ingest changes ingested_at."""

from __future__ import annotations

from kb.catalogue import Catalogue


def note_documents(cat: Catalogue) -> None:
    """Remember when each document was first seen, before a later re-ingest moves its ingested_at."""
    with cat.transaction() as c:
        c.execute("INSERT OR IGNORE INTO doc_first_seen(doc_id, first_seen) SELECT doc_id, ingested_at FROM documents")
