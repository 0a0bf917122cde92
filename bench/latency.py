"""Query latency of hybrid search (query embedding included) at 10k and 100k passages, embedded and server.

Over 400 lines because one run builds the synthetic 100k knowledge base, times every filter against the
baseline revision side by side, and writes the section: splitting it would spread one experiment over files."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import SCIFACT, Section, bench_env, du, mib, run_python, table

N_QUERIES = 200
TARGET = 100_000
SIGMA = 0.03  # per-dimension noise: a copy keeps cosine ~0.9 with its original, so neighbours stay plausible
EF_SEARCH = (100, 200, 400)
# The code timed side by side on the same knowledge base: main before filtered BM25 stopped calling Python per FTS5
# row and before dense search moved behind kb/dense.py. Older revisions cannot open today's catalogue schema.
BASELINE_REV = "0ba2238"
# Taxonomy slugs given to the synthetic passages (two factors each) so factor filters select realistic shares.
FACTORS = (
    "mental-health", "substance-misuse", "domestic-abuse", "exploitation", "education-exclusions",
    "gang-involvement", "deprivation", "online-spaces", "weapon-carrying", "children-in-care",
    "trusted-adult", "homelessness", "neurodiversity", "unemployment", "vawg", "bullying",
)  # fmt: skip
DOC_TYPES = ("research", "strategy", "evaluation", "guidance", "toolkit")
DISTRICTS = ("Leeds", "Bradford", "Calderdale", "Kirklees", "Wakefield")
DESIGNS = ("systematic_review", "rct", "quasi_experimental", "observational", "qualitative", "other")
# One of each filter a researcher sets, and two combined (Filters keyword arguments).
FILTERS = {
    "year >= 2020": {"year_from": 2020},
    "factor": {"factors": ["mental-health"]},
    "priority": {"priorities": [2]},
    "doc type": {"doc_types": ["strategy"]},
    "district": {"districts": ["Leeds"]},
    "design": {"study_designs": ["rct"]},
    "factor + year": {"factors": ["exploitation"], "year_from": 2015},
    "doc type + priority": {"doc_types": ["research"], "priorities": [1]},
}

MEASURE = r"""
import dataclasses, json, sys, time
args = json.loads({args!r})
if args.get("src"):
    # Before the work tree: `python -c` puts the working directory (the repo root) first on sys.path.
    sys.path.insert(0, args["src"])
import kb.search as ks
from kb.config import load_settings
from kb.store import KnowledgeBase
if args.get("exact_limit") is not None:
    import kb.dense
    kb.dense.EXACT_INDEX_LIMIT = args["exact_limit"]
if args.get("prune_from") is not None:
    ks.BM25_PRUNE_FROM = args["prune_from"]
kb = KnowledgeBase(load_settings(args["data_dir"]))
s = ks.Searcher(kb)
queries = args["queries"]
cpu = {{}}
def timed(filters, name="none"):
    for q in queries[:5]:
        s.search(q, k=10, filters=filters)
    out, cpu[name] = [], []
    for q in queries:
        t, c = time.perf_counter(), time.process_time()
        s.search(q, k=10, filters=filters)
        out.append(1000 * (time.perf_counter() - t))
        # CPU of every thread of the process: what a query costs, whatever else the machine is running.
        cpu[name].append(1000 * (time.process_time() - c))
    return out
embed = []
for q in queries:
    t0 = time.perf_counter(); kb.embedder.encode_query(q); embed.append(1000 * (time.perf_counter() - t0))
stages = {{"embed": [], "bm25": [], "dense": [], "fuse + fetch": []}}
none = ks.Filters()
for q in queries:
    t0 = time.perf_counter(); v = kb.embedder.encode_query(q); t1 = time.perf_counter()
    bm = s.bm25(q, none, ks.FUSION_DEPTH); t2 = time.perf_counter()
    de = s.dense(v, none, ks.FUSION_DEPTH); t3 = time.perf_counter()
    s._result(q, "hybrid", bm, de, 10); t4 = time.perf_counter()
    for k, a, b in (("embed", t0, t1), ("bm25", t1, t2), ("dense", t2, t3), ("fuse + fetch", t3, t4)):
        stages[k].append(1000 * (b - a))
res = {{"hybrid": timed(None), "embed": embed, "stages": stages}}
# Filters this code knows (older code, timed as the baseline, may lack a field).
known = {{f.name for f in dataclasses.fields(ks.Filters)}}
wanted = {{name: kw for name, kw in args.get("filters", {{}}).items() if set(kw) <= known}}
res["filters"] = {{name: timed(ks.Filters(**kw), name) for name, kw in wanted.items()}}
res["cpu"] = cpu
if hasattr(s, "allowed"):
    n = kb.catalogue.query("SELECT COUNT(*) FROM chunks")[0][0]
    res["shares"] = {{name: len(s.allowed(ks.Filters(**kw))) / n for name, kw in wanted.items()}}
# VmHWM, not ru_maxrss: the latter carries over the bench parent's peak through fork and exec.
res["rss_kib"] = int(next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM")))
print(json.dumps(res))
"""

RECALL = r"""
import json, sys
import numpy as np
from kb.config import load_settings
from kb.store import KnowledgeBase
from kb.dense import ExactDense
args = json.loads({args!r})
kb = KnowledgeBase(load_settings(args["data_dir"]))
if args.get("set_ef"):
    kb.vectors.collection.modify(configuration={{"hnsw": {{"ef_search": args["set_ef"]}}}})
    print(json.dumps({{"ok": True}})); sys.exit(0)
exact = ExactDense(kb.catalogue, kb.embedder.model_id)
exact.refresh()
qv = kb.embedder.onnx.encode(args["queries"], 32)
ids = kb.catalogue.rowids_for_chunk_ids
hits = 0
for v in qv:
    truth = {{r for r, _ in exact.search(v, 10)}}
    got = kb.vectors.query(v, 10)
    rid = ids([c for c, _ in got])
    hits += len(truth & {{rid[c] for c, _ in got if c in rid}})
print(json.dumps({{"recall@10": hits / (10 * len(qv))}}))
"""


def _queries() -> list[str]:
    from kb.evaluate import _jsonl

    return [q["text"] for q in _jsonl(SCIFACT / "queries.jsonl")][:N_QUERIES]


def build_100k(src: Path, dst: Path, target: int = TARGET, seed: int = 0, chroma_url: str | None = None) -> dict:
    """Copy the real SciFact KB, then add perturbed copies of its documents until `target` passages.

    Each copy keeps the original's title and passage texts (so BM25 sees real term statistics) and gets
    the original's vectors plus Gaussian noise, renormalised; copies get years 2000-2024 so a year filter
    selects a realistic fraction. Vectors are written straight to the embedding cache and Chroma (with
    `chroma_url`, to that server: only the catalogue is copied and the real passages' vectors are loaded too).
    """
    from kb.config import load_settings
    from kb.ids import sha256_text
    from kb.models import Chunk, Document
    from kb.store import KnowledgeBase

    if dst.exists():
        shutil.rmtree(dst)
    if chroma_url:
        dst.mkdir(parents=True)
        with sqlite3.connect(src / "catalogue.sqlite3") as con:  # a consistent copy, WAL included
            con.execute("VACUUM INTO ?", (str(dst / "catalogue.sqlite3"),))
    else:
        shutil.copytree(src, dst)
    env = {"HF_HUB_OFFLINE": "1", **({"KB_CHROMA_URL": chroma_url} if chroma_url else {})}
    kb = KnowledgeBase(load_settings(dst, env=env))
    cat, model = kb.catalogue, kb.embedder.model_id
    rows = cat.query(
        """SELECT c.doc_id, d.title, c.idx, c.text, c.section, c.n_tokens, e.vector FROM chunks c
           JOIN documents d ON d.doc_id = c.doc_id JOIN embed_cache e ON e.model = ? AND e.text_hash = c.text_hash
           ORDER BY c.doc_id, c.idx""",
        (model,),
    )
    by_doc: dict[str, list] = {}
    for r in rows:
        by_doc.setdefault(r[0], []).append(r)
    real = len(rows)
    rng = np.random.default_rng(seed)
    total, copy_no = real, 0
    t = time.perf_counter()
    if chroma_url:
        got = cat.query("SELECT chunk_id, doc_id, text_hash FROM chunks ORDER BY rowid")
        vec = cat.cached_vectors(model, [g[2] for g in got])
        kb.vectors.upsert([g[0] for g in got], np.vstack([vec[g[2]] for g in got]), [g[1] for g in got])
    while total < target:
        copy_no += 1
        docs, ids, vecs, doc_ids, cache = [], [], [], [], []
        for i, (doc_id, passages) in enumerate(by_doc.items()):
            if total >= target:
                break
            new_id = f"{doc_id}~{copy_no}"
            doc = Document(new_id, passages[0][1], "research", "synthetic", year=2000 + (i * 7 + copy_no) % 25)
            chunks, hashes = [], []
            for p in passages:
                v = np.frombuffer(p[6], dtype=np.float32) + rng.normal(0, SIGMA, 384).astype(np.float32)
                v /= np.linalg.norm(v)
                ch = Chunk(f"{new_id}:{p[2]:05d}", new_id, p[2], p[3], json.loads(p[4]), n_tokens=p[5])
                h = sha256_text("synthetic " + ch.chunk_id)
                chunks.append(ch)
                hashes.append(h)
                ids.append(ch.chunk_id)
                vecs.append(v)
                doc_ids.append(new_id)
                cache.append((h, v))
            docs.append((doc, chunks, hashes))
            total += len(passages)
        cat.cache_vectors(model, cache)
        kb.vectors.upsert(ids, np.vstack(vecs), doc_ids)
        with cat.transaction() as c:
            for doc, chunks, hashes in docs:
                cat.write_document(c, doc, chunks, hashes)
    n = kb.vectors.count()
    tag_synthetic(cat)
    kb.close()
    return {"real": real, "total": total, "copies": copy_no, "chroma_count": n, "build_s": time.perf_counter() - t}


def tag_synthetic(cat) -> None:
    """Give every passage two factor tags and a priority, and every document a type, a district and a study
    design, spread evenly, so each filter selects a known share (SciFact itself has no tags)."""
    with cat.transaction() as c:
        c.execute("DELETE FROM chunk_tags")
        rows = [r[0] for r in c.execute("SELECT rowid FROM chunks")]
        tags = []
        for r in rows:
            tags.append((r, "factor", FACTORS[r % len(FACTORS)], "risk"))
            tags.append((r, "factor", FACTORS[(r * 7 + 3) % len(FACTORS)], "protective"))
            tags.append((r, "priority", str(1 + r % 5), None))
        c.executemany("INSERT INTO chunk_tags(chunk_rowid, kind, value, polarity) VALUES (?, ?, ?, ?)", tags)
        docs = [r[0] for r in c.execute("SELECT doc_id FROM documents ORDER BY doc_id")]
        c.executemany(
            "UPDATE documents SET doc_type = ?, districts = ?, study_design = ? WHERE doc_id = ?",
            [
                (DOC_TYPES[i % 5], json.dumps([DISTRICTS[(i // 5) % 5]]), DESIGNS[(i // 3) % len(DESIGNS)], d)
                for i, d in enumerate(docs)
            ],
        )


def baseline_src(dst: Path, rev: str = BASELINE_REV) -> Path:
    """The kb package as it was at `rev`, unpacked for PYTHONPATH (the work tree stays untouched)."""
    from bench.common import ROOT

    dst.mkdir(parents=True, exist_ok=True)
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "kb", "ingest"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dst)], input=tar.stdout, check=True)
    return dst


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    """`chroma run` on the data dir's own Chroma folder, for the server rows."""

    def __init__(self, chroma_path: Path):
        self.port = _free_port()
        exe = Path(sys.executable).with_name("chroma")
        self.proc = subprocess.Popen(
            [str(exe), "run", "--path", str(chroma_path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=bench_env(),
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("chroma run did not start within 60 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def measure(data_dir: Path, queries: list[str], chroma_url: str | None = None, src: Path | None = None, **args) -> dict:
    env = bench_env(**({"KB_CHROMA_URL": chroma_url} if chroma_url else {}))
    payload = json.dumps({"data_dir": str(data_dir), "queries": queries, "src": str(src) if src else None, **args})
    return run_python(MEASURE.format(args=payload), env)


def recall(data_dir: Path, queries: list[str], ef: int) -> float:
    env = bench_env()
    run_python(RECALL.format(args=json.dumps({"data_dir": str(data_dir), "queries": [], "set_ef": ef})), env)
    # modify() takes effect in a new process, so the measurement runs in the next one.
    out = run_python(RECALL.format(args=json.dumps({"data_dir": str(data_dir), "queries": queries})), env)
    return out["recall@10"]


def _row(label: str, n: int, res: dict, key: str = "hybrid") -> list:
    from bench.common import pct

    lat = res[key]
    return [label, f"{n:,}", f"{pct(lat, 50):.1f}", f"{pct(lat, 95):.1f}", mib(res["rss_kib"] * 1024)]


def run(scifact_kb: Path, work: Path) -> Section:
    """scifact_kb: the scratch KB `kb eval` built (11,447 real passages); work: where the 100k copy goes."""
    from bench.common import pct
    from kb.dense import EXACT_INDEX_LIMIT, UNFILTERED_EXACT_LIMIT
    from kb.search import BM25_MAX_DF, BM25_PRUNE_FROM

    queries = _queries()
    with sqlite3.connect(scifact_kb / "catalogue.sqlite3") as con:
        n10 = con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    rows, data = [], {}
    data["10k_exact"] = r = measure(scifact_kb, queries)
    rows.append(_row("embedded, exact in-memory index (default at this size)", n10, r))
    data["10k_hnsw"] = r = measure(scifact_kb, queries, exact_limit=0)
    rows.append(_row("embedded Chroma HNSW (forced)", n10, r))
    server = ChromaServer(scifact_kb / "chroma")
    try:
        data["10k_server"] = r = measure(scifact_kb, queries, chroma_url=server.url)
        rows.append(_row("Chroma server (`chroma run`, HttpClient)", n10, r))
    finally:
        server.stop()

    big = work / "kb-100k"
    data["build"] = build = build_100k(scifact_kb, big)
    n100 = build["total"]
    data["100k_embedded"] = r = measure(big, queries, filters=FILTERS)
    rows.append(_row("embedded default: HNSW unfiltered, exact in-memory for filters", n100, r))
    data["100k_baseline"] = base = measure(big, queries, filters=FILTERS, src=baseline_src(work / "baseline"))
    rows.append(_row(f"the same, code before this round ({BASELINE_REV}, baseline)", n100, base))
    data["100k_all_terms"] = r = measure(big, queries, prune_from=10**9)
    rows.append(_row("embedded default, every BM25 query term kept (no common-term pruning)", n100, r))
    data["100k_hnsw"] = r = measure(big, queries, exact_limit=0)
    rows.append(_row("embedded Chroma HNSW (forced)", n100, r))
    server = ChromaServer(big / "chroma")
    try:
        data["100k_server"] = r = measure(big, queries, chroma_url=server.url)
        rows.append(_row("Chroma server (`chroma run`, HttpClient)", n100, r))
    finally:
        server.stop()
    now = data["100k_embedded"]
    data["filters"] = now["filters"]
    frows = []
    for name, lat in {"none": now["hybrid"], **now["filters"]}.items():
        old = base["hybrid"] if name == "none" else base["filters"].get(name)
        cpu = now["cpu"][name]
        frows.append(
            [
                name,
                "100%" if name == "none" else f"{now['shares'][name]:.1%}",
                f"{pct(old, 50):.1f} / {pct(old, 95):.1f}" if old else "n/a (no such filter then)",
                f"{pct(lat, 50):.1f} / {pct(lat, 95):.1f}",
                f"x{pct(old, 95) / pct(lat, 95):.1f}" if old else "",
                f"{pct(cpu, 50):.1f} / {pct(cpu, 95):.1f}",
            ]
        )
    size10, size100 = du(scifact_kb), du(big)
    recalls = {ef: recall(big, queries, ef) for ef in EF_SEARCH}
    data["recall_at_10_vs_exact"] = recalls
    data["sizes"] = {"10k": size10, "100k": size100}
    embed_p50 = pct(data["100k_embedded"]["embed"], 50)
    md = [
        f"{len(queries)} SciFact claims as queries, `Searcher.search(q, k=10)` hybrid, query embedding included "
        f"(ONNX Runtime backend), after 5 warm-up queries, in a new process per row. 10k = the SciFact corpus "
        f"({n10:,} real passages). 100k = that corpus plus {build['copies']} perturbed copies of its documents "
        f"(same texts, vectors + N(0, {SIGMA}²) noise per dimension, renormalised; years 2000-2024), written "
        f"straight to the catalogue, embedding cache and Chroma. Exact in-memory dense search is used up to "
        f"{EXACT_INDEX_LIMIT:,} passages (unfiltered searches above {UNFILTERED_EXACT_LIMIT:,} go to HNSW); "
        f"Chroma HNSW beyond or with a server; the forced rows set the limit to 0. Peak RSS is the whole "
        f"search process (model, vectors, Chroma). Above {BM25_PRUNE_FROM:,} passages BM25 drops query terms "
        f"found in more than {BM25_MAX_DF:.0%} of the passages; the 'every term kept' row turns that off. "
        f"Goals at 100k, embedded: p95 <= 40 ms unfiltered, <= 50 ms with any filter.",
        "",
        table(["setup", "passages", "p50 ms", "p95 ms", "peak RSS"], rows),
        "",
        f"Filtered hybrid search at {n100:,} passages, embedded, query embedding included (p50 / p95 ms, same "
        f"{len(queries)} queries per row; the baseline is the code at {BASELINE_REV}, run in the same bench on the "
        "same knowledge base). The synthetic passages carry two factor tags and a priority each, documents a type, "
        "a district and a study design, spread evenly, so each filter selects the share shown. Goal: p95 <= 50 ms "
        "for each. CPU is `time.process_time()` per query (every thread of the search process): what a query "
        "costs whatever else the machine runs, where wall time also holds the wait for a core (see the load below).",
        "",
        table(
            ["filter", "passages allowed", "baseline p50 / p95", "now p50 / p95", "p95 speed-up", "now CPU p50 / p95"],
            frows,
        ),
        "",
        "Where an unfiltered hybrid query's time goes (p50 ms per stage, run one after another here; `search()` "
        "runs BM25 in a second thread while it embeds the query and searches vectors):",
        "",
        table(
            ["passages", *data["100k_embedded"]["stages"]],
            [
                [n, *(f"{pct(v, 50):.1f}" for v in data[key]["stages"].values())]
                for key, n in (
                    ("10k_exact", f"{n10:,}"),
                    ("100k_embedded", f"{n100:,}"),
                    ("100k_baseline", f"{n100:,}, baseline code"),
                    ("100k_all_terms", f"{n100:,}, every term kept"),
                )
            ],
        ),
        "",
        f"Query embedding alone: p50 {embed_p50:.1f} ms. Data dir (catalogue + Chroma): {mib(size10)} at "
        f"{n10:,} passages, {mib(size100)} at {build['total']:,}; plus the exported ONNX model, 87 MB once.",
        "",
        "Dense recall@10 of Chroma HNSW against exact search at 100k (same queries):",
        "",
        table(["hnsw ef_search", "recall@10"], [[ef, f"{v:.3f}"] for ef, v in recalls.items()]),
    ]
    return Section("Query latency and memory", "\n".join(md), data)
