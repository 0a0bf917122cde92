"""Sentence embeddings: the model resolved offline and verified, its backend (torch or ONNX) loaded only when needed.

Model files live in kb.modelfiles, backends in kb.backends and kb.onnx; their public names are importable here.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property
from pathlib import Path

import numpy as np

from kb.backends import QUERY_THREADS, EmbeddingBackend, backend_name, create_backend
from kb.config import DEFAULT_MODEL, Settings
from kb.ids import sha256_text
from kb.modelfiles import (
    DEFAULT_WEIGHTS_SHA256,
    DEFAULT_WEIGHTS_SIZE,
    ModelError,
    default_model_path,
    model_fingerprint,
    pooling,
    verify_default_weights,
)
from kb.onnx import OnnxEncoder, export_onnx

__all__ = [
    "DEFAULT_WEIGHTS_SHA256", "DEFAULT_WEIGHTS_SIZE", "PASSAGE_FORMAT", "Embedder", "ModelError", "OnnxEncoder",
    "default_model_path", "export_onnx", "model_fingerprint", "verify_default_weights",
]  # fmt: skip

# What a passage vector is made from (how ingest/chunk.py cuts passages, and what of them the model reads); part
# of the collection name and of the ingest settings key, so a change here re-chunks every file and starts a new
# collection instead of mixing vectors of two kinds. text3: paragraph-bounded passages, inline headings, captions
# (as ctx2), each embedded as its own text alone. ctx2 put the document's title and the innermost heading before
# it: that helps an abstract found by its title (SciFact train, dense alone: nDCG@10 0.6854 with them, 0.6752
# without), but every passage of a long report then shares most of its vector, and BM25 already indexes the title
# and headings. Without them, measured 2026-12-01 (docs/benchmarks.md): real-PDF questions in the top 3 25 -> 26
# of 34 (MRR 0.62 -> 0.66; dense alone 12 -> 17), SciFact train hybrid nDCG@10 0.7470 -> 0.7476.
PASSAGE_FORMAT = "text3"


class Embedder:
    """Turns texts into normalised float32 vectors; caches by (model, text hash) in the catalogue."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.name = settings.embed_model
        self.passage_format = PASSAGE_FORMAT

    @cached_property
    def model_path(self) -> Path | None:
        if self.name == DEFAULT_MODEL:
            path = default_model_path()
            verify_default_weights(path, self.settings.data_dir)
            return path
        p = Path(self.name).expanduser()
        return p if p.exists() else None

    @cached_property
    def model_id(self) -> str:
        """The model's identity, safe inside a Chroma collection name: it keys the embedding cache and the
        collection. A model given by path is named by a hash of its weights and configuration (folder name
        only as a readable prefix); the default model's weights are pinned by their published sha256."""
        if self.name == DEFAULT_MODEL or not self.model_path:
            return re.sub(r"[^A-Za-z0-9._-]+", "-", self.name).strip("-.")[:60] or "model"
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", self.model_path.name).strip("-.")[:40] or "model"
        return f"{base}-{model_fingerprint(self.model_path, self.settings.data_dir)[:16]}"

    @cached_property
    def _st_config(self) -> dict:
        if self.model_path and (self.model_path / "sentence_bert_config.json").exists():
            return json.loads((self.model_path / "sentence_bert_config.json").read_text())
        return {}

    @cached_property
    def max_seq_length(self) -> int:
        if "max_seq_length" in self._st_config:
            return int(self._st_config["max_seq_length"])
        return int(self.model.max_seq_length)

    @cached_property
    def tokenizer(self):
        """The model's own tokenizer, without importing torch: chunk sizes are counted with it."""
        if self.model_path and (self.model_path / "tokenizer.json").exists():
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
            tok.no_truncation()
            tok.no_padding()
            return tok
        return _HFTokenizerAdapter(self.model.tokenizer)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word-piece counts without [CLS]/[SEP], as the model will see them."""
        encs = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        return [len(e.ids) for e in encs]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return list(self.tokenizer.encode(text, add_special_tokens=False).offsets)

    @property
    def max_content_tokens(self) -> int:
        """Room for text inside the model's window, after the special tokens."""
        return self.max_seq_length - 2

    @cached_property
    def torch(self) -> EmbeddingBackend:
        """sentence-transformers on torch; `.model` is the SentenceTransformer."""
        target = str(self.model_path) if self.model_path else self.name
        return create_backend("torch", target=target, device=self.settings.device, local=bool(self.model_path))

    @property
    def model(self):
        return self.torch.model

    @cached_property
    def dim(self) -> int:
        cfg = self.model_path / "config.json" if self.model_path else None
        if cfg and cfg.exists():
            return int(json.loads(cfg.read_text())["hidden_size"])
        return int(self.model.get_sentence_embedding_dimension())

    @cached_property
    def query_backend(self) -> str:
        """torch or onnx for queries (kb.backends.backend_name)."""
        return backend_name(self.settings, "query", self._onnx_supported())

    @cached_property
    def bulk_backend(self) -> str:
        """torch or onnx for batches of passages (kb.backends.backend_name)."""
        return backend_name(self.settings, "bulk", self._onnx_supported())

    def _onnx_supported(self) -> bool:
        return bool(self.model_path and (self.model_path / "tokenizer.json").exists() and pooling(self.model_path))

    @cached_property
    def onnx_path(self) -> Path:
        """The exported model, in the data directory, keyed by the weights it came from."""
        if self.name == DEFAULT_MODEL:
            key = DEFAULT_WEIGHTS_SHA256[:16]
        else:
            weights = [p for p in sorted(self.model_path.glob("*")) if p.suffix in (".safetensors", ".bin")]
            key = hashlib.sha256(
                "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in weights).encode()
            ).hexdigest()[:16]
        return self.settings.data_dir / "models" / f"{self.model_id}-{key}" / "model.onnx"

    def _onnx(self, threads: int) -> EmbeddingBackend:
        if not self._onnx_supported():
            raise ModelError(
                f"the ONNX backend needs a local model directory with tokenizer.json and mean or CLS pooling; "
                f"{self.name!r} has not: set KB_EMBED_BACKEND=torch"
            )
        return create_backend(
            "onnx",
            model_dir=self.model_path,
            onnx_path=self.onnx_path,
            max_seq_length=self.max_seq_length,
            pooling=pooling(self.model_path),
            threads=threads,
        )

    @cached_property
    def onnx(self) -> EmbeddingBackend:
        """ONNX Runtime on QUERY_THREADS threads, for queries."""
        return self._onnx(QUERY_THREADS)

    @cached_property
    def _bulk(self) -> EmbeddingBackend:
        return self._onnx(0) if self.bulk_backend == "onnx" else self.torch

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed without the cache. Texts longer than the window are the caller's bug, not truncated here."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._bulk.encode(texts, self.settings.embed_batch_size)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """A few texts on the query path (no torch import under `auto`), e.g. to score candidates."""
        if self.query_backend == "onnx":
            return self.onnx.encode(texts, self.settings.embed_batch_size)
        return self.encode(texts)

    def encode_cached(self, texts: list[str], catalogue, on_batch=None) -> tuple[np.ndarray, int]:
        """Embed texts, reusing vectors the catalogue holds; returns (vectors, how many were new)."""
        hashes = [sha256_text(t) for t in texts]
        have = catalogue.cached_vectors(self.model_id, hashes)
        todo = list(dict.fromkeys(h for h in hashes if h not in have))
        by_hash = dict(zip(hashes, texts, strict=True))
        step = max(self.settings.embed_batch_size * 4, 1)
        for i in range(0, len(todo), step):
            part = todo[i : i + step]
            vecs = self.encode([by_hash[h] for h in part])
            # Committed batch by batch: a killed run keeps what it already paid for.
            catalogue.cache_vectors(self.model_id, list(zip(part, vecs, strict=True)))
            have.update(zip(part, vecs, strict=True))
            if on_batch:
                on_batch(len(part))
        out = np.vstack([have[h] for h in hashes]) if hashes else np.zeros((0, self.dim), dtype=np.float32)
        return out, len(todo)


class _HFTokenizerAdapter:
    """Gives a transformers tokenizer the small part of the `tokenizers` API used here."""

    def __init__(self, tok):
        self.tok = tok

    class _Enc:
        def __init__(self, ids, offsets):
            self.ids = ids
            self.offsets = offsets

    def encode(self, text: str, add_special_tokens: bool = False):
        enc = self.tok(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
        return self._Enc(enc["input_ids"], enc["offset_mapping"])

    def encode_batch(self, texts: list[str], add_special_tokens: bool = False):
        return [self.encode(t, add_special_tokens) for t in texts]
