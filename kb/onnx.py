"""The model as ONNX: exported once from the transformer (torch imported only then), run with ONNX Runtime."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from kb.modelfiles import ModelError


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
        # Idle worker threads sleep rather than spin: on a shared machine spinning burns the core the other
        # search run (BM25) or another process needs (docs/benchmarks.md, "Query latency and memory").
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
