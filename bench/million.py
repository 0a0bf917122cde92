"""A large knowledge base on a Chroma server: load rate of pre-embedded passages, latency, peak memory, disk."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Section, du, mib, pct, table
from bench.latency import FILTERS, ChromaServer, _queries, baseline_src, build_100k, measure, tag_synthetic

DEFAULT_PASSAGES = 1_000_000
# The code timed side by side on the same knowledge base and server: main before this session's large-collection
# work (BM25 split into rowid shards, HNSW oversampling by the filter's share).
BASELINE_REV = "fc25802"


def _vmhwm_kib(pid: int) -> int:
    """Peak resident memory of a running process (the Chroma server), from /proc."""
    with open(f"/proc/{pid}/status") as f:
        return int(next(ln.split()[1] for ln in f if ln.startswith("VmHWM")))


def _build_key(scifact_kb: Path, n: int) -> str:
    """What a kept build depends on: the source knowledge base, the size and the code that builds it."""
    src = inspect.getsource(build_100k) + inspect.getsource(tag_synthetic)
    with sqlite3.connect(f"file:{scifact_kb / 'catalogue.sqlite3'}?mode=ro", uri=True) as con:
        rows = con.execute("SELECT COUNT(*), MAX(rowid), MAX(text_hash) FROM chunks").fetchone()
    return hashlib.sha256(f"{scifact_kb.resolve()}|{rows}|{n}|{src}".encode()).hexdigest()[:16]


def _kept(scifact_kb: Path, root: Path, n: int) -> dict | None:
    """The manifest of a finished build under `root` from the same source, size and build code (it is written
    last), or None, having cleared what an unfinished or different build left."""
    manifest = root / f"build-{n}.json"
    if manifest.exists():
        kept = json.loads(manifest.read_text(encoding="utf-8"))
        if kept.get("key") == _build_key(scifact_kb, n):
            return kept
        manifest.unlink()
    for stale in (root / f"server-{n}", root / f"kb-{n}"):
        shutil.rmtree(stale, ignore_errors=True)
    return None


def _build(scifact_kb: Path, root: Path, n: int, server: ChromaServer) -> dict:
    load = os.getloadavg()
    build = build_100k(scifact_kb, root / f"kb-{n}", target=n, chroma_url=server.url)
    build |= {
        "key": _build_key(scifact_kb, n),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": load,
    }
    (root / f"build-{n}.json").write_text(json.dumps(build), encoding="utf-8")
    return build


def run(scifact_kb: Path, work: Path, passages: int | None, keep: Path | None = None) -> Section:
    """`python -m bench --passages N`: SciFact plus perturbed copies up to N passages, vectors in `chroma run`,
    catalogue in SQLite; hybrid search through the server, unfiltered and with every bench filter.

    With `keep` (`--keep-build DIR`) the built knowledge base and server data stay in DIR and a later run with
    the same source, size and build code measures them again instead of rebuilding (the build of a million
    passages takes most of an hour); the section then reports the load rate of the run that built them."""
    n = passages or DEFAULT_PASSAGES
    queries = _queries()
    root = keep or work
    root.mkdir(parents=True, exist_ok=True)
    chroma_dir, data_dir = root / f"server-{n}", root / f"kb-{n}"
    kept = _kept(scifact_kb, root, n)
    server = ChromaServer(chroma_dir)
    try:
        build, reused = (kept, True) if kept else (_build(scifact_kb, root, n, server), False)
        measured_at = os.getloadavg()
        res = measure(data_dir, queries, chroma_url=server.url, filters=FILTERS)
        old = baseline_src(work / "base", BASELINE_REV)
        base = measure(data_dir, queries, chroma_url=server.url, filters=FILTERS, src=old)
        server_kib = _vmhwm_kib(server.proc.pid)
    finally:
        server.stop()
    with sqlite3.connect(data_dir / "catalogue.sqlite3") as con:
        total = con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    cat_bytes, chroma_bytes = du(data_dir), du(chroma_dir)
    runs = {"none": res["hybrid"], **res["filters"]}
    base_runs = {"none": base["hybrid"], **base["filters"]}
    p95 = {k: pct(v, 95) for k, v in runs.items()}
    load_rate = (build["total"] - build["real"]) / build["build_s"]
    md = [
        f"`python -m bench --passages {n}`: the SciFact knowledge base plus {build['copies']} perturbed copies of "
        f"its documents ({total:,} passages, as in the latency section), vectors in a Chroma server (`chroma run` "
        f"on 127.0.0.1), catalogue in SQLite. {len(queries)} SciFact claims, hybrid, query embedding included, "
        "k=10. Goal: p95 <= 100 ms.",
        "",
        table(
            ["measure", "value"],
            [
                ["passages", f"{total:,}"],
                [
                    "load rate of pre-embedded passages (catalogue + FTS5 + embedding cache + server)",
                    f"{load_rate:,.0f} passages/s ({build['build_s'] / 60:.1f} min)"
                    + (f"; built {build['date']} (load {build['load_average'][0]:.1f} at its start), reused" * reused),
                ],
                ["load average as the latency runs started", ", ".join(f"{x:.1f}" for x in measured_at)],
                ["peak RSS, search process", mib(res["rss_kib"] * 1024)],
                ["peak RSS, Chroma server", mib(server_kib * 1024)],
                ["disk: data dir (catalogue, FTS5, embedding cache)", mib(cat_bytes)],
                ["disk: Chroma server", mib(chroma_bytes)],
            ],
        ),
        "",
        f"Baseline: the code at {BASELINE_REV} (main before the BM25 shards and the HNSW oversampling), measured "
        "right after on the same knowledge base and server.",
        "",
        table(
            ["filter", "passages allowed", "p50 ms", "p95 ms", "baseline p95 ms", "p95 speed-up"],
            [
                [
                    k,
                    f"{res['shares'].get(k, 1.0):.1%}",
                    f"{pct(v, 50):.1f}",
                    f"{p95[k]:.1f}",
                    f"{pct(base_runs[k], 95):.1f}",
                    f"x{pct(base_runs[k], 95) / p95[k]:.2f}",
                ]
                for k, v in runs.items()
            ],
        ),
    ]
    data = {
        "passages": total,
        "build": build,
        "build_reused": reused,
        "p95_ms": p95,
        "latency": runs,
        "baseline": {"rev": BASELINE_REV, "latency": base_runs},
        "measured_load_average": measured_at,
        "rss_kib": res["rss_kib"],
        "server_kib": server_kib,
        "disk": {"data_dir": cat_bytes, "chroma": chroma_bytes},
    }
    return Section(f"{total:,} passages on a Chroma server", "\n".join(md), data)
