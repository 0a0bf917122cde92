"""Chroma vector store: embedded PersistentClient by default, a Chroma server when KB_CHROMA_URL is set."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import numpy as np

from kb.config import Settings
from kb.embed import PASSAGE_FORMAT

# Raised when embedding settings or chunking change in a way that changes vector contents.
INDEX_VERSION = 1


class VectorStoreError(RuntimeError):
    pass


def collection_name(model_id: str, dim: int, settings: Settings, passage_format: str = PASSAGE_FORMAT) -> str:
    """The settings that change the vectors are in the name, so different settings never mix."""
    raw = f"kb-{model_id}-d{dim}-t{settings.chunk_tokens}-o{settings.chunk_overlap}-{passage_format}-v{INDEX_VERSION}"
    return re.sub(r"[^A-Za-z0-9._-]", "-", raw)[:200]


def _client(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        u = urlparse(settings.chroma_url)
        if not u.hostname:
            raise VectorStoreError(f"KB_CHROMA_URL={settings.chroma_url!r} is not a URL like http://127.0.0.1:8000")
        try:
            return chromadb.HttpClient(
                host=u.hostname,
                port=u.port or (443 if u.scheme == "https" else 8000),
                ssl=u.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:
            raise VectorStoreError(
                f"cannot reach the Chroma server at {settings.chroma_url} ({exc}); start it with "
                "`chroma run --path DIR --host 127.0.0.1 --port N` or unset KB_CHROMA_URL"
            ) from None
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


class VectorStore:
    """Ids are chunk ids; the only metadata is the document id. Text lives in the catalogue alone."""

    def __init__(self, settings: Settings, model_id: str, dim: int):
        self.settings = settings
        self.name = collection_name(model_id, dim, settings)
        self.client = _client(settings)
        self.collection = self.client.get_or_create_collection(
            name=self.name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine", "ef_search": settings.hnsw_ef_search, "ef_construction": 200}},
            metadata={"model": model_id, "dim": dim},
        )

    def upsert(self, ids: list[str], vectors: np.ndarray, doc_ids: list[str], batch: int = 2000) -> None:
        for i in range(0, len(ids), batch):
            self.collection.upsert(
                ids=ids[i : i + batch],
                embeddings=vectors[i : i + batch],
                metadatas=[{"doc_id": d} for d in doc_ids[i : i + batch]],
            )

    def delete(self, ids: list[str], batch: int = 2000) -> None:
        for i in range(0, len(ids), batch):
            part = ids[i : i + batch]
            if part:
                self.collection.delete(ids=part)

    def count(self) -> int:
        return self.collection.count()

    def all_ids(self) -> list[str]:
        out: list[str] = []
        offset = 0
        while True:
            got = self.collection.get(include=[], limit=5000, offset=offset)["ids"]
            out.extend(got)
            if len(got) < 5000:
                return out
            offset += len(got)

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Nearest passages by cosine similarity, best first (fewer than k when the collection holds fewer).

        No count first: Chroma answers a k above its size with what it holds, and a Chroma server counts a
        million vectors about ten times slower than it answers the query itself."""
        if k <= 0:
            return []
        res = self.collection.query(query_embeddings=[vector], n_results=k, include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]
