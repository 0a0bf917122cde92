"""Embedding backends behind one interface: sentence-transformers on torch, or ONNX Runtime; `create_backend` picks."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np

from kb.config import Settings
from kb.modelfiles import ModelError

# Threads of the ONNX session that answers queries: one. A query is a few dozen tokens, and during a hybrid
# search the BM25 run needs the other core (docs/benchmarks.md, "Query latency and memory").
QUERY_THREADS = 1


class EmbeddingBackend(Protocol):
    """Texts to normalised float32 vectors, `batch_size` texts at a time."""

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray: ...


class TorchBackend:
    """sentence-transformers on torch (imported on first use: it costs seconds)."""

    def __init__(self, target: str, device: str, local: bool):
        self.target, self.device, self.local = target, device, local

    @cached_property
    def model(self):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelError(f"sentence-transformers cannot be imported ({exc}): pip install -e .") from None
        if self.local:
            # Loading by path needs no hub; saying so stops any library from trying one.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
        try:
            return SentenceTransformer(self.target, device=self.device)
        except Exception as exc:  # the library raises many kinds; all mean the same to a user
            raise ModelError(
                f"cannot load embedding model {self.target!r} ({type(exc).__name__}: {exc}). "
                "Models are never downloaded at run time: set KB_EMBED_MODEL to a local model directory."
            ) from None

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        vecs = self.model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32)


class OnnxBackend:
    """The model exported to ONNX once (into the data directory), then run by ONNX Runtime without torch."""

    def __init__(self, model_dir: Path, onnx_path: Path, max_seq_length: int, pooling: str, threads: int = 0):
        from kb.onnx import OnnxEncoder, export_onnx

        if not onnx_path.exists():
            export_onnx(model_dir, onnx_path)
        self.encoder = OnnxEncoder(onnx_path, model_dir, max_seq_length, pooling, threads)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self.encoder.encode(texts, batch_size)


BACKENDS: dict[str, Callable[..., EmbeddingBackend]] = {"torch": TorchBackend, "onnx": OnnxBackend}


def backend_name(settings: Settings, purpose: str, onnx_ok: bool) -> str:
    """torch or onnx for `query` or `bulk` work. `auto` answers queries with ONNX Runtime on CPU (importing
    torch and sentence-transformers costs seconds of every new process, ONNX Runtime well under one) and
    embeds batches with torch (on CPU ONNX is no faster, on a GPU torch is)."""
    chosen = settings.embed_backend
    if chosen != "auto":
        return chosen
    return "onnx" if purpose == "query" and settings.device == "cpu" and onnx_ok else "torch"


def create_backend(name: str, **kwargs) -> EmbeddingBackend:
    """The backend called `name`, built from its own arguments (TorchBackend's or OnnxBackend's)."""
    if name not in BACKENDS:
        raise ModelError(f"no embedding backend {name!r} (known: {', '.join(BACKENDS)}): set KB_EMBED_BACKEND")
    return BACKENDS[name](**kwargs)
