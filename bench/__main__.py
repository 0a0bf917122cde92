"""`python -m bench`: run the benchmarks and regenerate docs/benchmarks.md (machine, date, command, tables).

`--only latency,realpdf` reruns those sections and keeps the others' last figures (docs/benchmarks.json holds
every section's figures, date and load); `--passages 1000000` runs the Chroma-server scale section at that size.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.common import ROOT, SCIFACT, Section, machine, median, pct, table

ALL = (
    "retrieval",
    "startup",
    "latency",
    "ingestion",
    "tagging",
    "realpdf",
    "embedding",
    "embedquality",
    "design",
    "ocr",
    "whatworks",
    "pages",
)
RESULTS = ROOT / "docs" / "benchmarks.json"  # every section's last figures, so one section can be rerun alone


def tagging_section() -> Section:
    from bench import tagging as tg

    tagger = tg.Tagger(tg.load_taxonomy())
    items = tg.load_labelled()
    report = tg.evaluate(tagger, items)
    report.words_per_second = tg.throughput(tagger, items)
    m = report.micro
    md = [
        "`python -m bench.tagging` (also runnable alone, with `--json`): the tagger against the labelled "
        f"passages in tests/data/tagging ({report.n_items} items).",
        "",
        table(
            ["measure", "value"],
            [
                ["micro precision / recall / F1", f"{m.precision:.3f} / {m.recall:.3f} / {m.f1:.3f}"],
                ["macro F1", f"{report.macro_f1:.3f}"],
                ["polarity accuracy", f"{report.polarity_accuracy:.3f}"],
                ["speed", f"{report.words_per_second:,.0f} words/s"],
            ],
        ),
        "",
        tg._table(report),
    ]
    return Section("Tagging quality and speed", "\n".join(md), report.as_dict())


def goals(sections: dict[str, Section]) -> str:
    rows = [r for s in sections.values() for r in s.data.get("_legacy_goals", [])]
    sections = {k: s for k, s in sections.items() if s.data and not s.data.get("_legacy_goals")}
    if "retrieval" in sections:
        modes = {m["mode"]: m["ndcg@10"] for m in sections["retrieval"].data["eval"]["modes"]}
        h, r = modes["hybrid"], modes["rrf"]
        rows.append(["hybrid beats plain RRF of its own runs (train)", f"{h:.4f} vs {r:.4f}", "yes" if h > r else "no"])
        rows.append(["hybrid nDCG@10 >= 0.746 on train (acceptance: >= 0.74 on test)", f"{h:.4f}", _yes(h >= 0.746)])
    if "ingestion" in sections:
        d = sections["ingestion"].data
        rows.append(["ingest time / embedding time <= 1.3", f"{d['ratio']:.2f}", _yes(d["ratio"] <= 1.3)])
        rows.append(["re-ingest unchanged <= 5%", f"{d['reingest_pct']:.1f}%", _yes(d["reingest_pct"] <= 5)])
    if "latency" in sections:
        d = sections["latency"].data
        p95 = pct(d["100k_embedded"]["hybrid"], 95)
        rows.append(["unfiltered hybrid p95 <= 40 ms at 100k, embedded", f"{p95:.1f} ms", _yes(p95 <= 40)])
        if d.get("filters"):
            worst, name = max((pct(v, 95), k) for k, v in d["filters"].items())
            rows.append(
                [
                    f"filtered hybrid p95 <= 50 ms at 100k, every one of {len(d['filters'])} filters (worst: {name})",
                    f"{worst:.1f} ms",
                    _yes(worst <= 50),
                ]
            )
    if "startup" in sections:
        p50 = median(sections["startup"].data["onnx_s"])
        ok = p50 <= 2 and sections["startup"].data["identical"]
        rows.append(["cold `kb search` p50 <= 2 s at 10k, identical results", f"{p50:.2f} s", _yes(ok)])
    if "realpdf" in sections:
        share = sections["realpdf"].data["share"]
        rows.append(["real-PDF questions answered in the top 3, right page >= 90%", f"{share:.0%}", _yes(share >= 0.9)])
    if "design" in sections:
        f1, n = sections["design"].data["macro_f1"], sections["design"].data["n"]
        rows.append([f"study design macro-F1 >= 0.80 ({n} labelled abstracts)", f"{f1:.3f}", _yes(f1 >= 0.8)])
    if "whatworks" in sections:
        d = sections["whatworks"].data
        opened = max(median(d["new_session_s"]), d["new_server_first_open_s"])
        rows.append(["What works page opens <= 2 s (sample corpus)", f"{opened:.2f} s", _yes(opened <= 2)])
    if "pages" in sections:
        from bench.pages import goal_rows

        rows += goal_rows(sections["pages"].data)
    for key, sec in sections.items():
        if key.startswith("server-") and sec.data.get("p95_ms"):
            worst = max(sec.data["p95_ms"].values())
            n = sec.data["passages"]
            rows.append(
                [f"hybrid p95 <= 100 ms at {n:,} passages, Chroma server", f"{worst:.1f} ms", _yes(worst <= 100)]
            )
    return table(["goal", "measured", "met"], rows)


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


def render(sections: dict[str, Section], info: dict) -> str:
    out = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench` (or `make bench`); do not edit by hand. `python -m bench --only NAME[,NAME]` "
        "reruns some sections and keeps the others' last figures (docs/benchmarks.json); each section says when it "
        "ran. Benchmarks are not tests: figures vary run to run, and more on a shared machine.",
        "",
        table(
            ["", ""],
            [
                ["generated", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")],
                ["machine", f"{info['nproc']} cores, {info['cpu']}, {info['ram_gib']} GiB RAM, no GPU"],
                [
                    "software",
                    f"Python {info['python']}, chromadb {info['chromadb']}, onnxruntime {info['onnxruntime']}",
                ],
                ["sections", ", ".join(sections)],
            ],
        ),
        "",
        "## Goals",
        "",
        goals(sections),
        "",
    ]
    for s in sections.values():
        out += [f"## {s.title}", "", s.markdown, ""]
        r = s.data.get("_run")
        if r and r.get("legacy"):
            out += [f"*Carried over from the run of {r['date']} (not rerun since).*", ""]
        elif r:
            out += [
                f"*Measured {r['date']} with `{r['command']}` in {r['seconds'] / 60:.0f} min; load average at start "
                f"{', '.join(f'{x:.1f}' for x in r['load_average'])} on {r['nproc']} cores.*",
                "",
            ]
    scale = ROOT / "docs" / "operations-scale.md"
    if scale.exists():
        out += ["## Scale path", "", "See [operations-scale.md](operations-scale.md).", ""]
    return "\n".join(out)


def _run_one(
    name: str, scifact_kb: Path, work: Path, passages: int | None, page_runs: int = 5, keep_build: Path | None = None
) -> Section:
    if name == "retrieval":
        from bench import retrieval

        return retrieval.run("train")
    if name == "startup":
        from bench import startup

        return startup.run(scifact_kb)
    if name == "latency":
        from bench import latency

        return latency.run(scifact_kb, work)
    if name == "ingestion":
        from bench import ingestion

        return ingestion.run()
    if name == "realpdf":
        from bench import realpdf

        return realpdf.run()
    if name == "embedding":
        from bench import embedding

        return embedding.run()
    if name == "embedquality":
        from bench import embedding, embedding_quality
        from bench.common import cache_root

        variants = embedding.onnx_variants(scifact_kb)
        return embedding_quality.run(scifact_kb, SCIFACT, variants, cache_root() / "embedding-variants")
    if name == "design":
        from bench import design

        return design.run()
    if name == "ocr":
        from bench import ocr

        return ocr.run()
    if name == "whatworks":
        from bench import whatworks

        return whatworks.run()
    if name == "pages":
        from bench import pages

        return pages.run(page_runs)
    if name == "server":
        from bench import million

        return million.run(scifact_kb, work, passages, keep_build)
    return tagging_section()


# Section titles of the page before docs/benchmarks.json existed, to carry their figures over once.
LEGACY_TITLES = {
    "Retrieval quality (SciFact)": "retrieval",
    "Cold start of `kb search`": "startup",
    "Query latency and memory": "latency",
    "Ingestion speed": "ingestion",
    "Tagging quality and speed": "tagging",
}
LEGACY_GOALS = {"RRF": "retrieval", "nDCG": "retrieval", "ingest": "ingestion", "cold": "startup", "100k": "latency"}


def from_page(text: str) -> dict[str, Section]:
    """Sections (and their goal rows) of a page written before docs/benchmarks.json, kept as they were."""
    date = re.search(r"\| date \| ([^|]+) \|", text)
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    goals_md = dict(zip(parts[1::2], parts[2::2], strict=True)).get("Goals", "")
    out: dict[str, Section] = {}
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        key = LEGACY_TITLES.get(title.strip())
        if not key:
            continue
        rows = [
            [c.strip() for c in ln.strip().strip("|").split("|")]
            for ln in goals_md.splitlines()
            if ln.startswith("| ") and any(w in ln.split("|")[1] and k == key for w, k in LEGACY_GOALS.items())
        ]
        run = {"date": date.group(1).strip() if date else "before", "legacy": True}
        out[key] = Section(title.strip(), body.strip(), {"_legacy_goals": rows, "_run": run})
    return out


def load_results(path: Path) -> dict[str, Section]:
    if not path.exists():
        page = path.with_suffix(".md")
        return from_page(page.read_text(encoding="utf-8")) if page.exists() else {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {k: Section(v["title"], v["markdown"], v["data"]) for k, v in raw.items()}


def save_results(path: Path, sections: dict[str, Section]) -> None:
    """One line per section (raw latencies make long lists), so a rerun of one section is a one-line diff."""
    lines = [
        f"{json.dumps(k)}: " + json.dumps({"title": s.title, "markdown": s.markdown, "data": s.data}, default=str)
        for k, s in sections.items()
    ]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--only", help=f"comma-separated subset of {','.join(ALL)}; the others keep their last figures")
    p.add_argument(
        "--passages", type=int, help="run the Chroma-server scale section at this many passages (e.g. 1000000)"
    )
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    p.add_argument("--print", action="store_true", help="print the document instead of writing it")
    p.add_argument("--work", type=Path, help="scratch space for the large knowledge bases (default: a temp dir)")
    p.add_argument("--json", action="store_true", help="also print every figure as JSON")
    p.add_argument("--queries", type=int, help="latency queries per row (default 200)")
    p.add_argument(
        "--keep-build",
        type=Path,
        help="keep the --passages knowledge base and server data in this folder, and reuse them on the next run",
    )
    p.add_argument("--page-runs", type=int, default=5, help="runs per figure of the app pages benchmark")
    p.add_argument(
        "--render", action="store_true", help="only rewrite the page from docs/benchmarks.json (e.g. after a merge)"
    )
    # --only always keeps the other sections now; --update is accepted for the commands in older notes.
    p.add_argument("--update", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.queries:
        from bench import latency

        latency.N_QUERIES = args.queries
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    wanted = args.only.split(",") if args.only else ([] if args.passages or args.render else list(ALL))
    unknown = set(wanted) - set(ALL)
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    if args.passages:
        wanted.append("server")
    info = machine()
    results = args.out.with_suffix(".json")
    sections = load_results(results)
    fresh: dict[str, Section] = {}

    from bench.common import cache_root
    from kb.config import load_settings
    from kb.evaluate import load_collection, scratch_settings

    # Only a run needs the SciFact collection (from ../shared); --render reads the stored figures alone.
    scifact_kb = (
        scratch_settings(
            load_collection(SCIFACT, "train"),
            load_settings(Path(tempfile.gettempdir()) / "kb-bench-settings", env={}),
            cache_root(),
        ).data_dir
        if wanted
        else None
    )
    command = "python -m bench" + " ".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        for name in wanted:
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            t = time.perf_counter()
            load = os.getloadavg()
            key = f"server-{args.passages}" if name == "server" else name
            try:
                sec = _run_one(name, scifact_kb, Path(work), args.passages, args.page_runs, args.keep_build)
            except Exception as exc:  # one broken benchmark must not lose the others' figures
                traceback.print_exc()
                sec = Section(name, f"**failed**: {type(exc).__name__}: {exc}", {})
            sec.data["_run"] = {
                "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "command": command.strip(),
                "seconds": time.perf_counter() - t,
                "load_average": load,
                "nproc": info["nproc"],
            }
            fresh[key] = sec
            print(f"bench: {name} done in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
            # Saved section by section (a long run that dies keeps what it measured), over what the file holds
            # now, so two runs of different sections at once do not drop each other's figures.
            sections = {**load_results(results), **fresh}
            if not args.print:
                save_results(results, sections)
                args.out.write_text(render(_ordered(sections), info), encoding="utf-8")
    text = render(_ordered(sections), info)
    if args.print:
        print(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out} and {results}", file=sys.stderr)
        if args.out.resolve() == (ROOT / "docs" / "benchmarks.md").resolve():
            from bench import docpages  # the pages that show a section's tables follow the new figures

            for page in docpages.write_all(docpages.load(results)):
                print(f"wrote {page}", file=sys.stderr)
    if args.json:
        print(json.dumps({k: s.data for k, s in fresh.items()}, indent=2, default=str))
    return 0


def _ordered(sections: dict[str, Section]) -> dict[str, Section]:
    order = {k: i for i, k in enumerate(ALL)}
    return dict(sorted(sections.items(), key=lambda kv: (order.get(kv[0], len(ALL)), kv[0])))


if __name__ == "__main__":
    sys.exit(main())
