"""Embedding backends behind one interface: which one `auto` picks, and torch and ONNX giving the same vectors."""

from __future__ import annotations

import numpy as np
import pytest

from kb.backends import OnnxBackend, TorchBackend, backend_name, create_backend
from kb.config import load_settings
from kb.embed import Embedder, ModelError

TEXTS = ["Knife crime among teenagers in Leeds", "Mentoring for children in care reduces exclusions"]


def test_auto_answers_queries_with_onnx_and_embeds_batches_with_torch(tmp_path):
    auto = load_settings(tmp_path, env={})
    assert backend_name(auto, "query", onnx_ok=True) == "onnx"
    assert backend_name(auto, "query", onnx_ok=False) == "torch"  # a model ONNX cannot reproduce
    assert backend_name(auto, "bulk", onnx_ok=True) == "torch"
    gpu = load_settings(tmp_path, env={"KB_DEVICE": "cuda"})
    assert backend_name(gpu, "query", onnx_ok=True) == "torch"
    for forced in ("torch", "onnx"):
        s = load_settings(tmp_path, env={"KB_EMBED_BACKEND": forced})
        assert backend_name(s, "query", True) == backend_name(s, "bulk", True) == forced


def test_an_unknown_backend_is_a_clear_error():
    with pytest.raises(ModelError, match="no embedding backend 'tensorflow'.*KB_EMBED_BACKEND"):
        create_backend("tensorflow")


def test_both_backends_embed_alike_and_the_embedder_uses_the_chosen_one(tmp_path):
    emb = Embedder(load_settings(tmp_path, env={"HF_HUB_OFFLINE": "1"}))
    assert isinstance(emb.torch, TorchBackend) and isinstance(emb.onnx, OnnxBackend)
    torch_vecs = emb.torch.encode(TEXTS, 2)
    onnx_vecs = emb.onnx.encode(TEXTS, 2)
    assert torch_vecs.shape == onnx_vecs.shape == (2, emb.dim)
    assert np.allclose(np.linalg.norm(onnx_vecs, axis=1), 1, atol=1e-5)
    assert np.abs(torch_vecs - onnx_vecs).max() < 1e-4
    assert emb.query_backend == "onnx" and emb.bulk_backend == "torch"
    assert np.allclose(emb.encode_query(TEXTS[0]), onnx_vecs[0], atol=1e-5)  # alone: no padding
    assert np.array_equal(emb.encode(TEXTS), torch_vecs)
