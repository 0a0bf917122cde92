"""The knowledge base: catalogue + vectors + embedder, opened once and shared by every command and page."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from kb.catalogue import Catalogue, now_precise
from kb.config import Settings
from kb.embed import Embedder
from kb.ids import sha256_text
from kb.merge import derive, fallback_id, latest_edits, settle_dois
from kb.models import DOC_TYPES, EDITABLE_FIELDS, SENSITIVITIES, Document, Edit, SourceRecord
from kb.taxonomy import Taxonomy

# The labels of SHARED-INTERFACES (kb/models.py documents them on Document.study_design).
_DESIGNS = ("systematic_review", "rct", "quasi_experimental", "observational", "qualitative", "other")


class EditError(ValueError):
    """An analyst's edit was refused; the message says why."""


class MergeError(ValueError):
    """Sources would derive a document whose id another document holds; nothing is written."""


@dataclass
class Change:
    """One step of change to the sources: sources that go, sources that come (each with .doc_id set to the
    document, or new group, it joins), the existing documents touched, and analyst edits to record."""

    drop: set[str] = field(default_factory=set)
    add: list[SourceRecord] = field(default_factory=list)
    docs: set[str] = field(default_factory=set)
    edits: list[tuple[str, Edit]] = field(default_factory=list)
    forget_edits: set[str] = field(default_factory=set)


@dataclass
class Applied:
    documents: list[Document]
    embedded: int


class KnowledgeBase:
    """Opens lazily: a command that needs no vector never imports torch or Chroma."""

    def __init__(self, settings: Settings):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.catalogue = Catalogue(settings.catalogue_path)
        self.embedder = Embedder(settings)

    @cached_property
    def taxonomy(self) -> Taxonomy:
        """The taxonomy the settings name, read once and handed to the tagger, the CLI, the digest and the pages."""
        from kb import taxonomy

        return taxonomy.load_taxonomy(self.settings.taxonomy_path)

    @cached_property
    def vectors(self):
        from kb.vectors import VectorStore

        store = VectorStore(self.settings, self.embedder.model_id, self.embedder.dim)
        self._recover(store)
        return store

    def _recover(self, store) -> None:
        """Finish what a killed run left: vectors written whose catalogue rows never committed go."""
        pending = self.catalogue.pending()
        if not pending:
            return
        kept = self.catalogue.existing_chunk_ids(pending)
        store.delete([i for i in pending if i not in kept])
        self.catalogue.clear_pending(pending)

    def apply(
        self,
        change: Change,
        record: Callable[[sqlite3.Connection], None] | None = None,
        on_embedded: Callable[[int], None] | None = None,
    ) -> Applied:
        """Derive every touched document again from its sources and edits, and write both stores.

        Crash safety as in docs/architecture.md: the ids about to change are recorded as pending, vectors
        go first, then the catalogue in one transaction (with `record`, e.g. the file manifest), then cleanup.
        """
        cat = self.catalogue
        add_keys = {s.source_key for s in change.add}
        # A DOI that a second work now claims (or that its other claimant no longer does) moves the id of
        # documents this change does not otherwise touch: they are derived again too.
        moved, contested = settle_dois(cat, change.drop, change.add, change.docs)
        docs = change.docs | moved
        groups: dict[str, list[SourceRecord]] = {}
        gone: dict[str, list[str]] = {}  # per document, its sources that go for good (not replaced)
        for d in sorted(docs):
            recorded = cat.sources_of(d)
            groups[d] = [s for s in recorded if s.source_key not in change.drop and s.source_key not in add_keys]
            gone[d] = [s.source_key for s in recorded if s.source_key in change.drop and s.source_key not in add_keys]
        for s in change.add:
            groups.setdefault(s.doc_id, []).append(s)
        new_edits: dict[str, list[Edit]] = {}
        for key, e in change.edits:
            new_edits.setdefault(key, []).append(e)

        derived = []
        carried: list[tuple[str, Edit]] = []
        for d, members in groups.items():
            if not members:
                continue
            keys = [m.source_key for m in members]
            edits = cat.edits_of(k for k in keys if k not in change.forget_edits)
            edits += [e for k in keys for e in new_edits.get(k, [])]
            # An analyst's correction is of the work: when the source it was made on goes (a file renamed in a
            # folder is pruned after its new name joined the document), the sources that stay take it over.
            kept = [m.source_key for m in members if not m.alone]
            taken = list(latest_edits(cat.edits_of(gone.get(d, []))).values())
            if taken and kept:
                edits += [e for e in taken if e not in edits]
                winners = latest_edits(edits)
                carried += [(k, e) for e in taken if winners[e.field] == e for k in kept]
            doc, chunks, toolkit = derive(members, edits, contested)
            derived.append((doc, chunks, toolkit, members))
        ids = [d.doc_id for d, *_ in derived]
        clash = [i for i in ids if ids.count(i) > 1 or (i not in docs and cat.get_document(i) is not None)]
        if clash:
            raise MergeError(
                f"would overwrite document {clash[0]}, which other sources give: "
                "split the wrong merge with `kb edit DOC_ID --split SOURCE` and ingest again"
            )

        all_chunks = [c for _, chunks, _, _ in derived for c in chunks]
        embed_texts = [c.text for c in all_chunks]  # a passage is embedded as its own text (kb.embed.PASSAGE_FORMAT)
        vectors, n_new = None, 0
        if all_chunks:
            vectors, n_new = self.embedder.encode_cached(embed_texts, cat, on_batch=on_embedded)
        old_ids = {i for d in docs for i in cat.chunk_ids_of(d)}
        new_ids = [c.chunk_id for c in all_chunks]
        cat.add_pending(old_ids | set(new_ids))
        if new_ids:
            self.vectors.upsert(new_ids, vectors, [c.doc_id for c in all_chunks])
        hashes = iter(sha256_text(t) for t in embed_texts)
        with cat.transaction() as c:
            for d in docs:
                cat.delete_document_rows(c, d)
            cat.delete_sources(c, change.drop)
            for key in change.forget_edits:
                cat.delete_edits(c, key)
            for key, e in [*carried, *change.edits]:
                cat.put_edit(c, key, e)
            for doc, chunks, toolkit, members in derived:
                for m in members:
                    m.doc_id = doc.doc_id
                    cat.put_source(c, m)
                cat.write_document(c, doc, chunks, [next(hashes) for _ in chunks], toolkit)
            if record:
                record(c)
        gone = sorted(old_ids - set(new_ids))
        if gone:
            self.vectors.delete(gone)
        cat.clear_pending(old_ids | set(new_ids))
        return Applied([d for d, *_ in derived], n_new)

    def edit(self, doc_id: str, values: dict[str, object]) -> Document:
        """Record an analyst's values for a document's fields; they win over every source's."""
        for name, value in values.items():
            if name not in EDITABLE_FIELDS:
                raise EditError(f"{name} cannot be edited (editable: {', '.join(EDITABLE_FIELDS)})")
            if name == "doc_type" and value not in DOC_TYPES:
                raise EditError(f"type must be one of {', '.join(DOC_TYPES)}, not {value!r}")
            if name == "study_design" and value not in _DESIGNS:
                raise EditError(f"design must be one of {', '.join(_DESIGNS)}, not {value!r}")
            if name == "sensitivity" and value not in SENSITIVITIES:
                raise EditError(f"sensitivity must be one of {', '.join(SENSITIVITIES)}, not {value!r}")
        members = self._sources(doc_id)
        at = now_precise()
        change = Change(
            docs={doc_id}, edits=[(m.source_key, Edit(k, v, at)) for m in members for k, v in values.items()]
        )
        (doc,) = self.apply(change).documents
        return doc

    def split(self, doc_id: str, source: str) -> tuple[Document, Document]:
        """Undo a wrong merge: one source (its key, or its file's path) becomes a document of its own, for good."""
        self._sources(doc_id)
        members = self.catalogue.sources_of(doc_id)
        picked = [m for m in members if source in (m.source_key, m.path)]
        if not picked:
            known = "; ".join(m.source_key for m in members)
            raise EditError(f"{source!r} is not a source of {doc_id} (its sources: {known})")
        if len(picked) == len(members):
            raise EditError(f"{doc_id} has no other source to split {source!r} from")
        for m in picked:
            m.alone, m.match = True, None
            m.doc_id = f"new:{m.source_key}"
            m.document.doc_id = fallback_id(m.document)
        applied = self.apply(Change(docs={doc_id}, add=picked, forget_edits={m.source_key for m in picked}))
        rest, alone = sorted(applied.documents, key=lambda d: d.doc_id in {m.doc_id for m in picked})
        return rest, alone

    def _sources(self, doc_id: str) -> list[SourceRecord]:
        if self.catalogue.get_document(doc_id) is None:
            raise KeyError(doc_id)
        members = self.catalogue.sources_of(doc_id, passages=False)
        if not members:
            raise EditError(f"{doc_id} has no recorded sources (it was not ingested); ingest its file again")
        return members

    def remove_path(self, path: str) -> Applied:
        """Take one file's contributions out: documents it merged into keep what their other sources gave."""
        mine = self.catalogue.sources_of_path(path, passages=False)
        change = Change(drop={s.source_key for s in mine}, docs={s.doc_id for s in mine})
        return self.apply(change, record=lambda c: self.catalogue.forget_file(c, path))

    def remove(self, doc_id: str) -> int:
        """Remove a document from both stores; returns how many passages went."""
        ids = self.catalogue.chunk_ids_of(doc_id)
        if self.catalogue.get_document(doc_id) is None:
            raise KeyError(doc_id)
        keys = {s.source_key for s in self.catalogue.sources_of(doc_id, passages=False)}
        # Works that shared a DOI with this one take `doi:X` back once no other document claims it.
        moved, _ = settle_dois(self.catalogue, keys, [], {doc_id})
        self.catalogue.add_pending(ids)
        with self.catalogue.transaction() as c:
            self.catalogue.delete_document(c, doc_id)
        if ids:
            self.vectors.delete(ids)
        self.catalogue.clear_pending(ids)
        if moved:
            self.apply(Change(docs=moved))
        return len(ids)

    def check_consistency(self) -> dict:
        """Passage ids in the catalogue versus Chroma: what a crash could have left behind."""
        in_cat = {r[0] for r in self.catalogue.query("SELECT chunk_id FROM chunks")}
        in_vec = set(self.vectors.all_ids())
        return {
            "catalogue": len(in_cat),
            "vectors": len(in_vec),
            "missing_vectors": sorted(in_cat - in_vec),
            "orphan_vectors": sorted(in_vec - in_cat),
        }

    def close(self) -> None:
        self.catalogue.close()
