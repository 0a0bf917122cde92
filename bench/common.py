"""Shared bench plumbing: machine facts, percentiles, markdown tables, clean subprocesses."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
SCIFACT = SHARED_DATA / "scifact"


@dataclass
class Section:
    """One benchmark's part of docs/benchmarks.md, and its figures for --json."""

    title: str
    markdown: str
    data: dict = field(default_factory=dict)


def machine() -> dict:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        platform.processor() or "unknown",
    )
    mem_kb = next(
        int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")
    )
    import chromadb
    import onnxruntime

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kb / 1024**2, 1),
        "python": platform.python_version(),
        "chromadb": chromadb.__version__,
        "onnxruntime": onnxruntime.__version__,
        "load_average": os.getloadavg(),
    }


def pct(xs: list[float], p: float) -> float:
    """Nearest-rank percentile: with 200 samples p95 is the 190th, not an interpolation."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def table(headers: list[str], rows: list[list]) -> str:
    out = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|",
    ]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def du(path: Path, skip: tuple[str, ...] = ("models",)) -> int:
    """Bytes under path; the exported ONNX model (models/, ~87 MB, once per data dir) is reported apart."""
    root = Path(path)
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] not in skip)


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def bench_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update(HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str], timeout: float = 3600) -> dict:
    """Run a measurement in a new process (own RSS, own imports); it prints one JSON line last."""
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench subprocess failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cache_root() -> Path:
    """Where scratch knowledge bases are kept between runs: the eval_cache setting (KB_EVAL_CACHE)."""
    import tempfile

    from kb.config import load_settings

    return load_settings(Path(tempfile.gettempdir()) / "kb-bench-settings").eval_cache
