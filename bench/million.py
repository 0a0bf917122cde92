"""A large knowledge base on a Chroma server: load rate of pre-embedded passages, latency, peak memory, disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.common import Section, du, mib, pct, table
from bench.latency import FILTERS, ChromaServer, _queries, build_100k, measure

DEFAULT_PASSAGES = 1_000_000


def _vmhwm_kib(pid: int) -> int:
    """Peak resident memory of a running process (the Chroma server), from /proc."""
    with open(f"/proc/{pid}/status") as f:
        return int(next(ln.split()[1] for ln in f if ln.startswith("VmHWM")))


def run(scifact_kb: Path, work: Path, passages: int | None) -> Section:
    """`python -m bench --passages N`: SciFact plus perturbed copies up to N passages, vectors in `chroma run`,
    catalogue in SQLite; hybrid search through the server, unfiltered and with every bench filter."""
    n = passages or DEFAULT_PASSAGES
    queries = _queries()
    chroma_dir = work / f"server-{n}"
    server = ChromaServer(chroma_dir)
    try:
        data_dir = work / f"kb-{n}"
        build = build_100k(scifact_kb, data_dir, target=n, chroma_url=server.url)
        res = measure(data_dir, queries, chroma_url=server.url, filters=FILTERS)
        server_kib = _vmhwm_kib(server.proc.pid)
    finally:
        server.stop()
    with sqlite3.connect(data_dir / "catalogue.sqlite3") as con:
        total = con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    cat_bytes, chroma_bytes = du(data_dir), du(chroma_dir)
    runs = {"none": res["hybrid"], **res["filters"]}
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
                    f"{load_rate:,.0f} passages/s ({build['build_s'] / 60:.1f} min)",
                ],
                ["peak RSS, search process", mib(res["rss_kib"] * 1024)],
                ["peak RSS, Chroma server", mib(server_kib * 1024)],
                ["disk: data dir (catalogue, FTS5, embedding cache)", mib(cat_bytes)],
                ["disk: Chroma server", mib(chroma_bytes)],
            ],
        ),
        "",
        table(
            ["filter", "passages allowed", "p50 ms", "p95 ms"],
            [[k, f"{res['shares'].get(k, 1.0):.1%}", f"{pct(v, 50):.1f}", f"{p95[k]:.1f}"] for k, v in runs.items()],
        ),
    ]
    data = {
        "passages": total,
        "build": build,
        "p95_ms": p95,
        "latency": runs,
        "rss_kib": res["rss_kib"],
        "server_kib": server_kib,
        "disk": {"data_dir": cat_bytes, "chroma": chroma_bytes},
    }
    return Section(f"{total:,} passages on a Chroma server", "\n".join(md), data)
