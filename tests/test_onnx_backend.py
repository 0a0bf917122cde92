"""The ONNX Runtime query backend: same vectors as torch, same search results, no torch or Chroma import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from kbfixtures import ROOT, kb_env, open_kb, run_kb

from kb.search import Searcher

TEXTS = [
    "knife crime among young people in Leeds",
    "a",
    "Mentoring reduces offending among young people at risk. " * 40,  # longer than the window: truncated alike
    "Adverse childhood experiences and later violence",
]


@pytest.fixture(scope="module")
def kb_dir(corpus_data_dir, tmp_path_factory):
    """One private copy of the sample corpus for the module: the ONNX export is written into it once."""
    dst = tmp_path_factory.mktemp("onnx") / "kb"
    shutil.copytree(corpus_data_dir, dst)
    return dst


def test_onnx_vectors_match_torch(kb_dir):
    kb = open_kb(kb_dir)
    emb = kb.embedder
    torch_vecs = emb.encode(TEXTS)  # batches go through torch under `auto`
    onnx_vecs = emb.onnx.encode(TEXTS, batch_size=4)  # one padded batch of unequal lengths
    cos = (torch_vecs * onnx_vecs).sum(axis=1)
    assert cos.min() >= 0.9999, cos
    assert np.allclose(np.linalg.norm(onnx_vecs, axis=1), 1.0, atol=1e-5)
    assert emb.query_backend == "onnx"
    assert np.dot(emb.encode_query(TEXTS[0]), torch_vecs[0]) >= 0.9999
    assert emb.onnx_path.is_file() and emb.onnx_path.is_relative_to(kb_dir)
    kb.close()


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_search_results_identical_between_backends(kb_dir, mode):
    runs = {}
    for backend in ("torch", "onnx"):
        kb = open_kb(kb_dir, KB_EMBED_BACKEND=backend)
        result = Searcher(kb).search("protective factors against youth violence", k=10, mode=mode)
        runs[backend] = [(h.chunk.chunk_id, h.rank) for h in result.hits]
        kb.close()
    assert runs["torch"] and runs["torch"] == runs["onnx"]


def test_cold_search_imports_neither_torch_nor_chroma(kb_dir):
    # Exported by the tests above or here; the point is what a new process loads to answer a query.
    open_kb(kb_dir).embedder.onnx  # noqa: B018
    code = (
        "import sys, json\n"
        "from kb.cli import main\n"
        "try:\n"
        "    main(['search', 'gang exploitation of children', '--json'], standalone_mode=False)\n"
        "finally:\n"
        "    heavy = [m for m in ('torch', 'sentence_transformers', 'chromadb', 'spacy') if m in sys.modules]\n"
        "    print('HEAVY=' + json.dumps(heavy), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=kb_env(kb_dir), capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY=[]" in proc.stderr
    assert json.loads(proc.stdout)["results"]


def test_cli_results_identical_cold_and_between_backends(kb_dir):
    outs = [
        json.loads(run_kb(kb_dir, "search", "county lines", "--json", check=True, KB_EMBED_BACKEND=b).stdout)
        for b in ("onnx", "torch")
    ]
    ids = [[(p["rank"], p["chunk_id"]) for g in o["results"] for p in g["passages"]] for o in outs]
    assert ids[0] and ids[0] == ids[1]
