"""The knowledge base: catalogue + vectors + embedder, opened once and shared by every command and page."""

from __future__ import annotations

from functools import cached_property

from kb.catalogue import Catalogue
from kb.config import Settings
from kb.embed import Embedder


class KnowledgeBase:
    """Opens lazily: a command that needs no vector never imports torch or Chroma."""

    def __init__(self, settings: Settings):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.catalogue = Catalogue(settings.catalogue_path)
        self.embedder = Embedder(settings)

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

    def remove(self, doc_id: str) -> int:
        """Remove a document from both stores; returns how many passages went."""
        ids = self.catalogue.chunk_ids_of(doc_id)
        if self.catalogue.get_document(doc_id) is None:
            raise KeyError(doc_id)
        self.catalogue.add_pending(ids)
        with self.catalogue.transaction() as c:
            self.catalogue.delete_document(c, doc_id)
        if ids:
            self.vectors.delete(ids)
        self.catalogue.clear_pending(ids)
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
