"""Embedding throughput on real passages: torch fp32, ONNX Runtime (plain, BERT-fused graph, int8), batches, threads."""

from __future__ import annotations

import json
from pathlib import Path

from bench.common import SCIFACT, Section, bench_env, run_python, table

N_PASSAGES = 128  # real SciFact passages in their embedded form (title — heading. text)

MEASURE = r"""
import json, os, time
import numpy as np
args = json.loads({args!r})
os.environ["OMP_NUM_THREADS"] = str(args["threads"])
from pathlib import Path
from kb.config import load_settings
from kb.store import KnowledgeBase
kb = KnowledgeBase(load_settings(args["data_dir"], env={{"HF_HUB_OFFLINE": "1"}}))
e = kb.embedder
rows = kb.catalogue.query("SELECT text FROM chunks ORDER BY rowid LIMIT ?", [args["n"]])
texts = [r[0] for r in rows]  # what the product embeds (kb.embed.PASSAGE_FORMAT)
if args["backend"] == "torch":
    import torch
    torch.set_num_threads(args["threads"])
    enc = lambda t: np.asarray(e.model.encode(t, batch_size=args["batch"], normalize_embeddings=True), np.float32)
else:
    from kb.modelfiles import pooling
    from kb.onnx import OnnxEncoder
    path = Path(args["onnx"])
    enc_obj = OnnxEncoder(path, e.model_path, e.max_seq_length, pooling(e.model_path), threads=args["threads"])
    enc = lambda t: enc_obj.encode(t, args["batch"])
enc(texts[:8])
t = time.perf_counter()
vecs = enc(texts)
secs = time.perf_counter() - t
ref = np.load(args["reference"]) if args.get("reference") else None
out = {{"passages_per_s": len(texts) / secs}}
if ref is not None:
    cos = (vecs * ref).sum(axis=1)
    out["min_cos"] = float(cos.min()); out["mean_cos"] = float(cos.mean())
else:
    np.save(args["save"], vecs)
print(json.dumps(out))
"""


def variants(model_onnx: Path, out_dir: Path) -> dict[str, Path]:
    """The exported model, its BERT-fused graph (attention, LayerNorm, GELU fused) and an int8 dynamic copy."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    out_dir.mkdir(parents=True, exist_ok=True)
    fused = out_dir / "model-fused.onnx"
    if not fused.exists():
        optimizer.optimize_model(str(model_onnx), model_type="bert", num_heads=12, hidden_size=384).save_model_to_file(
            str(fused)
        )
    int8 = out_dir / "model-int8.onnx"
    if not int8.exists():
        quantize_dynamic(str(model_onnx), str(int8), weight_type=QuantType.QInt8)
    return {"onnx fp32": model_onnx, "onnx fp32, BERT-fused graph": fused, "onnx int8 dynamic": int8}


def default_kb() -> Path:
    """The SciFact train knowledge base `kb eval` keeps (built on first use)."""
    from bench.common import cache_root
    from kb.config import load_settings
    from kb.evaluate import load_collection, scratch_settings

    return scratch_settings(
        load_collection(SCIFACT, "train"), load_settings(Path("/tmp/kb-bench-settings"), env={}), cache_root()
    ).data_dir


def onnx_variants(scifact_kb: Path) -> dict[str, Path]:
    """The knowledge base's exported ONNX model (exported now if missing) and its `variants`."""
    from kb.config import load_settings
    from kb.onnx import export_onnx
    from kb.store import KnowledgeBase

    kb = KnowledgeBase(load_settings(scifact_kb, env={"HF_HUB_OFFLINE": "1"}))
    onnx_path = kb.embedder.onnx_path
    if not onnx_path.exists():
        export_onnx(kb.embedder.model_path, onnx_path)
    kb.close()
    return variants(onnx_path, onnx_path.parent / "bench")


def run(scifact_kb: Path | None = None) -> Section:
    scifact_kb = scifact_kb or default_kb()
    paths = onnx_variants(scifact_kb)
    ref = scifact_kb / "bench-torch-reference.npy"
    env = bench_env()

    def one(backend: str, batch: int, threads: int, onnx: Path | None = None, save: bool = False) -> dict:
        args = {"data_dir": str(scifact_kb), "n": N_PASSAGES, "backend": backend, "batch": batch}
        args.update(threads=threads, onnx=str(onnx or ""), reference=None if save else str(ref), save=str(ref))
        return run_python(MEASURE.format(args=json.dumps(args)), env)

    results = []
    base = one("torch", 32, 2, save=True)
    results.append(("torch fp32 (ingest default)", 32, 2, base | {"min_cos": 1.0, "mean_cos": 1.0}))
    for batch, threads in ((64, 2), (32, 1)):
        results.append(("torch fp32", batch, threads, one("torch", batch, threads)))
    for name, path in paths.items():
        for batch, threads in ((32, 2), (64, 2), (32, 1)):
            results.append((name, batch, threads, one("onnx", batch, threads, path)))
    speed0 = base["passages_per_s"]
    rows = [
        [
            name,
            batch,
            threads,
            f"{r['passages_per_s']:.1f}",
            f"x{r['passages_per_s'] / speed0:.2f}",
            f"{r['min_cos']:.4f} / {r['mean_cos']:.5f}",
        ]
        for name, batch, threads, r in results
    ]
    md = [
        f"{N_PASSAGES} real SciFact passages as the model reads them (`title — heading. text`), each setup in a "
        "new process after a warm-up batch; cosine of each vector with the torch fp32 one (min / mean). ONNX "
        "Runtime's default session already applies its basic and extended graph optimisations; the BERT-fused "
        "graph adds onnxruntime.transformers' attention / LayerNorm / GELU fusion.",
        "",
        table(["backend", "batch", "threads", "passages/s", "vs torch", "cosine to torch min / mean"], rows),
    ]
    data = {"results": [{"backend": n, "batch": b, "threads": t, **r} for n, b, t, r in results]}
    return Section("Embedding throughput", "\n".join(md), data)
