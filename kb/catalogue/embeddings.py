"""The embedding cache (model, text hash -> vector) and vector writes pending in Chroma, for crash recovery."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class EmbeddingRows:
    """Mixin of Catalogue: needs `query`, `transaction` and `rowids_for_chunk_ids`."""

    # -- pending vector writes (crash recovery) ---------------------------------------------------
    def add_pending(self, chunk_ids: Iterable[str]) -> None:
        with self.transaction() as c:
            c.executemany("INSERT OR IGNORE INTO pending_vectors(chunk_id) VALUES (?)", [(i,) for i in chunk_ids])

    def pending(self) -> list[str]:
        return [r[0] for r in self.query("SELECT chunk_id FROM pending_vectors")]

    def clear_pending(self, chunk_ids: Iterable[str]) -> None:
        with self.transaction() as c:
            c.executemany("DELETE FROM pending_vectors WHERE chunk_id = ?", [(i,) for i in chunk_ids])

    def existing_chunk_ids(self, chunk_ids: list[str]) -> set[str]:
        return set(self.rowids_for_chunk_ids(chunk_ids))

    # -- embedding cache --------------------------------------------------------------------------
    def cached_vectors(self, model: str, text_hashes: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        uniq = list(dict.fromkeys(text_hashes))
        for i in range(0, len(uniq), 500):
            part = uniq[i : i + 500]
            marks = ",".join("?" * len(part))
            for r in self.query(
                f"SELECT text_hash, vector FROM embed_cache WHERE model = ? AND text_hash IN ({marks})",
                [model, *part],
            ):
                out[r[0]] = np.frombuffer(r[1], dtype=np.float32)
        return out

    def cache_vectors(self, model: str, items: list[tuple[str, np.ndarray]]) -> None:
        with self.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO embed_cache(model, text_hash, vector) VALUES (?, ?, ?)",
                [(model, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items],
            )

    def vectors_for_rowids(self, model: str, rowids: list[int]) -> tuple[list[int], np.ndarray]:
        """Vectors of the given passages from the embedding cache (exact search over a filtered set)."""
        ids: list[int] = []
        vecs: list[np.ndarray] = []
        for i in range(0, len(rowids), 900):
            part = rowids[i : i + 900]
            marks = ",".join("?" * len(part))
            for r in self.query(
                f"""SELECT c.rowid, e.vector FROM chunks c JOIN embed_cache e
                    ON e.text_hash = c.text_hash AND e.model = ? WHERE c.rowid IN ({marks})""",
                [model, *part],
            ):
                ids.append(r[0])
                vecs.append(np.frombuffer(r[1], dtype=np.float32))
        return ids, (np.vstack(vecs) if vecs else np.zeros((0, 0), dtype=np.float32))
