"""App pages in headless Chromium: every page's first render and a search, on the sample corpus and on SciFact.

`python -m bench.pages` runs it alone (`--runs`, `--json`); `python -m bench --only pages --update` rewrites its
section of docs/benchmarks.md. Knowledge bases are built once into bench/out/ and reused.
Over 400 lines because it runs alone: knowledge bases, the browser driver and the report of one benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.chromium import CHROMIUM, CHROMIUM_ARGS
from bench.common import ROOT, SCIFACT, Section, bench_env, median, table

OUT = ROOT / "bench" / "out"
CORPUS = ROOT / "corpus"
RENDER_GOAL_S = 2.0
SEARCH_GOAL_S = 1.0
TIMEOUT_MS = 120_000
# A page not drawn within this is reported as not rendered and not tried again in that run, so one page stuck
# working (Scanning composing thousands of new items) cannot hold the whole benchmark.
PAGE_LIMIT_MS = 30_000
# The element that shows a page's content, per URL path; either the content or the page's own empty state.
MAIN = {
    "": '[data-testid="stMain"] [data-testid="stPageLink"]',
    "Search": ".st-key-q input",
    "What_works": '[class*="st-key-card_"], [data-testid="stMain"] [data-testid="stAlertContentWarning"]',
    "Evidence_map": '.st-key-map_chart [data-testid="stVegaLiteChart"] :is(canvas, svg), '
    '[data-testid="stMain"] [data-testid="stAlertContentWarning"]',
    "Library": '[data-testid="stMain"] [data-testid="stDataFrame"] [data-testid="data-grid-canvas"]',
    "Scanning": '[data-testid="stMain"] h1',
}
FALLBACK_MAIN = '[data-testid="stMain"] h1'
SAMPLE_QUERIES = (
    "trusted adult mentoring",
    "school exclusion and knife crime",
    "adverse childhood experiences",
    "girls physical activity in school",
    "modern slavery indicators",
    "youth violence prevention review",
    "county lines exploitation",
    "parenting programmes",
    "teenagers active after school",
    "police and community trust",
)
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning'
      && !document.querySelector('[data-testid="stStatusWidget"]');
}"""


@dataclass
class PageTimes:
    """One knowledge base's figures: seconds per page (new browser session each run) and per search."""

    label: str
    passages: int
    documents: int
    floor_s: list[float] = field(default_factory=list)  # a one-title Streamlit page, same browser and machine
    cold_s: float = 0.0  # the first page after the server starts: opens the knowledge base and the model
    render_s: dict[str, list[float]] = field(default_factory=dict)
    switch_s: dict[str, list[float]] = field(default_factory=dict)  # from the sidebar, frontend already loaded
    search_s: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)  # pages not drawn within PAGE_LIMIT_MS

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "passages": self.passages,
            "documents": self.documents,
            "cold_s": self.cold_s,
            "floor_s": self.floor_s,
            "render_s": self.render_s,
            "switch_s": self.switch_s,
            "search_s": self.search_s,
            "load_average": self.load,
            "timed_out": self.timed_out,
        }


def pages() -> dict[str, str]:
    """Page name -> URL path, as Streamlit names them: Home, then app/pages/*.py in file order."""
    found = {"Home": ""}
    for p in sorted((ROOT / "app" / "pages").glob("*.py")):
        path = p.stem.split("_", 1)[1] if p.stem.split("_", 1)[0].isdigit() else p.stem
        found[path.replace("_", " ")] = path
    return found


# -- knowledge bases ------------------------------------------------------------------------------
def _counts(data_dir: Path) -> tuple[int, int]:
    con = sqlite3.connect(f"file:{data_dir / 'catalogue.sqlite3'}?mode=ro", uri=True)
    try:
        return (
            con.execute("SELECT count(*) FROM documents").fetchone()[0],
            con.execute("SELECT count(*) FROM chunks").fetchone()[0],
        )
    finally:
        con.close()


def _ingest(data_dir: Path, *paths: Path) -> None:
    """The sample corpus through the real pipeline (incremental: unchanged files cost nothing)."""
    from ingest.pipeline import Ingestor
    from kb.config import load_settings
    from kb.store import KnowledgeBase

    kb = KnowledgeBase(load_settings(data_dir, env=bench_env()))
    try:
        report = Ingestor(kb).run(list(paths))
    finally:
        kb.close()
    if report.failed:
        raise RuntimeError(f"ingest into {data_dir} failed for {[(f.path, f.reason) for f in report.failed]}")


def _seed_embed_cache(src: Path, dst: Path) -> None:
    """Give a new knowledge base the embeddings another already has, so nothing is embedded twice."""
    con = sqlite3.connect(dst / "catalogue.sqlite3")
    try:
        con.execute("ATTACH DATABASE ? AS src", (str(src / "catalogue.sqlite3"),))
        con.execute("INSERT OR IGNORE INTO embed_cache SELECT * FROM src.embed_cache")
        con.commit()
    finally:
        con.close()


def sample_kb(out: Path = OUT) -> Path:
    data = out / "pages-sample"
    _ingest(data, CORPUS)
    return data


def scifact_kb(out: Path = OUT, sample: Path | None = None) -> Path:
    """SciFact's 5,183 abstracts (built once, as `kb eval` builds them) with the sample corpus on top.

    The sample corpus brings the toolkit, tags and strategy that What works and the Evidence map draw;
    SciFact alone would show their empty states and measure nothing.
    """
    from kb.config import load_settings
    from kb.evaluate import ingest_corpus, load_collection, scratch_settings
    from kb.store import KnowledgeBase

    col = load_collection(SCIFACT, "train")
    settings = scratch_settings(col, load_settings(Path(tempfile.gettempdir()) / "kb-bench-settings", env={}), out)
    n_docs = sum(1 for _ in _lines(col.corpus_path))
    if not (settings.data_dir / "catalogue.sqlite3").exists() or _counts(settings.data_dir)[0] < n_docs:
        print(f"bench pages: building the SciFact knowledge base in {settings.data_dir} ...", file=sys.stderr)
        kb = KnowledgeBase(settings)
        try:
            ingest_corpus(kb, col.corpus_path)
        finally:
            kb.close()
    data = out / f"pages-{settings.data_dir.name}"
    marker = data / "bench-pages-built"
    if not marker.exists():
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(settings.data_dir, data)
        if sample:
            _seed_embed_cache(sample, data)
        _ingest(data, CORPUS)
        marker.write_text(datetime.now(UTC).isoformat())
    return data


def _lines(path: Path):
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        yield from (ln for ln in f if ln.strip())


def scifact_queries(n: int) -> list[str]:
    out = []
    for ln in _lines(SCIFACT / "queries.jsonl"):
        out.append(json.loads(ln)["text"])
        if len(out) >= n:
            break
    return out


# -- the browser ----------------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(cmd: list[str], env: dict[str, str], what: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [*cmd, "--port" if cmd[1] == "app" else "--server.port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                return proc, url
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                code = proc.poll()
                raise RuntimeError(f"{what} did not answer at {url} (exit code {code})") from None
            time.sleep(0.3)


def _start_app(data_dir: Path) -> tuple[subprocess.Popen, str]:
    kb_bin = Path(sys.executable).with_name("kb")
    cmd = [str(kb_bin), "app", "--address", "127.0.0.1"]
    return _serve(cmd, bench_env(KB_DATA_DIR=str(data_dir)), f"`kb app` on {data_dir}")


def _start_floor(script: Path) -> tuple[subprocess.Popen, str]:
    """A one-title Streamlit script, served as `kb app` serves: what loading Streamlit alone costs."""
    script.write_text('import streamlit as st\n\nst.title("floor")\n')
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.address", "127.0.0.1"]
    cmd += ["--server.headless", "true", "--browser.gatherUsageStats", "false"]
    return _serve(cmd, bench_env(), "streamlit run (floor)")


def _wait_rendered(page, selector: str, timeout_ms: float = TIMEOUT_MS) -> None:
    page.locator(selector).first.wait_for(state="visible", timeout=timeout_ms)
    page.wait_for_function(IDLE_JS, polling=20, timeout=timeout_ms)


def _render(browser, url: str, path: str, selector: str | None = None) -> float:
    """Seconds from navigation in a new browser session until the main content is drawn and the run is over."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = ctx.new_page()
        t = time.perf_counter()
        page.goto(f"{url}/{path}")
        _wait_rendered(page, selector or MAIN.get(path, FALLBACK_MAIN), PAGE_LIMIT_MS)
        return time.perf_counter() - t
    finally:
        ctx.close()


def _switch(browser, url: str, path: str) -> float:
    """Seconds from a click on the page's sidebar link, in a session already showing another page."""
    start = "" if path == "Search" else "Search"  # a start page without the target's main content
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(f"{url}/{start}")
        _wait_rendered(page, MAIN.get(start, FALLBACK_MAIN))
        link = page.locator(f'[data-testid="stSidebarNav"] a[href="{url}/{path}"]')
        t = time.perf_counter()
        link.click()
        _wait_rendered(page, MAIN.get(path, FALLBACK_MAIN), PAGE_LIMIT_MS)
        return time.perf_counter() - t
    finally:
        ctx.close()


def _search(browser, url: str, query: str) -> float:
    """Seconds from typing the query and pressing Search until the passages are drawn and the run is over."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(f"{url}/Search")
        _wait_rendered(page, MAIN["Search"])
        box = page.locator(".st-key-q input")
        t = time.perf_counter()
        box.fill(query)
        page.locator(".st-key-search_go button").click()
        page.locator(".kb-passage").first.wait_for(state="visible", timeout=TIMEOUT_MS)
        page.wait_for_function(IDLE_JS, polling=20, timeout=TIMEOUT_MS)
        return time.perf_counter() - t
    finally:
        ctx.close()


def measure(data_dir: Path, label: str, queries: list[str], runs: int) -> PageTimes:
    from playwright.sync_api import TimeoutError as PageTimeout
    from playwright.sync_api import sync_playwright

    docs, passages = _counts(data_dir)
    times = PageTimes(label, passages, docs)
    proc, url = _start_app(data_dir)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                times.cold_s = _render(browser, url, "")
                named = pages()
                for _ in range(runs):
                    times.load.append(os.getloadavg()[0])
                    for name, path in named.items():  # interleaved, so a busy minute hits every page alike
                        if name in times.timed_out:
                            continue
                        try:
                            render, switch = _render(browser, url, path), _switch(browser, url, path)
                        except PageTimeout:
                            times.timed_out.append(name)
                            continue
                        times.render_s.setdefault(name, []).append(render)
                        times.switch_s.setdefault(name, []).append(switch)
                for q in (queries * runs)[:runs]:
                    times.search_s.append(_search(browser, url, q))
                proc.terminate()
                proc.wait(timeout=30)
                with tempfile.TemporaryDirectory() as tmp:
                    proc, url = _start_floor(Path(tmp) / "floor.py")
                    times.floor_s = [_render(browser, url, "", FALLBACK_MAIN) for _ in range(runs)]
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return times


# -- the report -----------------------------------------------------------------------------------
def _spread(xs: list[float]) -> str:
    return f"{median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"


def _table(r: PageTimes) -> str:
    rows = [
        [n, _spread(xs), _spread(r.switch_s[n]), "yes" if median(xs) <= RENDER_GOAL_S else "**no**"]
        for n, xs in r.render_s.items()
    ]
    late = f"not drawn within {PAGE_LIMIT_MS / 1000:.0f} s"
    rows += [[n, late, "", "**no**"] for n in r.timed_out]
    rows.append(["(floor) a one-title Streamlit page", _spread(r.floor_s), "", ""])
    pages_table = table(["page", "first render, new session s", "from the sidebar s", "goal met"], rows)
    ok = "yes" if median(r.search_s) <= SEARCH_GOAL_S else "**no**"
    search_table = table(["action", "s", "goal met"], [["type a query, press Search", _spread(r.search_s), ok]])
    return pages_table + "\n\n" + search_table


def markdown(results: list[PageTimes], runs: int, info: dict | None = None) -> str:
    out = []
    if info:
        out += [
            f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {info['nproc']} cores, {info['cpu']}, "
            f"{info['ram_gib']} GiB RAM, no GPU; Python {info['python']}, Streamlit {info['streamlit']}, "
            f"Chromium {info['chromium']}.",
            "",
        ]
    out += [
        "`python -m bench.pages`: `kb app` on 127.0.0.1, Debian's headless Chromium through Playwright. "
        f"Goals: every page's first render <= {RENDER_GOAL_S:.0f} s, a search <= {SEARCH_GOAL_S:.0f} s "
        "(judged on the median).",
        "",
        "**New session**: a new browser context opens the page's URL (Streamlit's frontend loads, a session "
        "starts, the page script runs); timed until the page's main content is visible and the script run is "
        "over (`stApp` script state `notRunning`, no running indicator). **From the sidebar**: in a session "
        "already showing another page, click the page's link; same end. **Search**: on a rendered Search page, "
        "fill the box and press **Search**; timed until the first passage is visible and the run is over, a "
        "different query each run (SciFact: its claims). **Floor**: a page holding one title, served and timed "
        f"the same way: what Streamlit and the browser cost on this machine before any of our code. {runs} runs "
        "per figure, pages interleaved; median (min-max).",
        "",
        "SciFact + sample: SciFact's abstracts with the sample corpus ingested on top, so What works and the "
        "Evidence map have toolkit entries and tags to draw (SciFact passages themselves are untagged).",
    ]
    for r in results:
        out += [
            "",
            f"**{r.label}** ({r.documents:,} documents, {r.passages:,} passages; 1-minute load average "
            f"{min(r.load):.1f}-{max(r.load):.1f} on 2 cores shared with other work; the first page after the "
            f"server starts, which also opens the knowledge base and model, took {r.cold_s:.1f} s):",
            "",
            _table(r),
        ]
    return "\n".join(out)


def goal_rows(data: dict) -> list[list[str]]:
    """The Goals table's rows for this section: slowest page's median render and the median search, per KB."""
    rows = []
    for k in data["kbs"]:
        slow_name, slow = max(((n, median(xs)) for n, xs in k["render_s"].items()), key=lambda t: t[1])
        if k.get("timed_out"):  # a page that never rendered is the slowest
            slow_name, slow = k["timed_out"][0], PAGE_LIMIT_MS / 1000
        search = median(k["search_s"])
        rows.append(
            [
                f"every app page's first render <= {RENDER_GOAL_S:.0f} s, {k['label']}",
                f"slowest {slow_name} {slow:.2f} s",
                "yes" if slow <= RENDER_GOAL_S else "no",
            ]
        )
        rows.append(
            [
                f"app search <= {SEARCH_GOAL_S:.0f} s, {k['label']}",
                f"{search:.2f} s",
                "yes" if search <= SEARCH_GOAL_S else "no",
            ]
        )
    return rows


def machine() -> dict:
    import streamlit

    from bench.common import machine as facts

    version = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True).stdout.split()
    return facts() | {"streamlit": streamlit.__version__, "chromium": version[1] if len(version) > 1 else "?"}


def run(runs: int = 5, out: Path = OUT, scifact: bool = True) -> Section:
    out.mkdir(parents=True, exist_ok=True)
    sample = sample_kb(out)
    results = [measure(sample, "sample corpus", list(SAMPLE_QUERIES), runs)]
    if scifact:
        results.append(measure(scifact_kb(out, sample), "SciFact + sample", scifact_queries(runs), runs))
    info = machine()
    data = {"runs": runs, "kbs": [r.as_dict() for r in results], "machine": info}
    # Every sample kept, so the section can be re-rendered or re-read without measuring again.
    (out / "pages.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return Section("App pages in a browser", markdown(results, runs, info), data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--out", type=Path, default=OUT, help="where the knowledge bases are built and kept")
    p.add_argument("--no-scifact", action="store_true", help="the sample corpus only")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    s = run(args.runs, args.out, not args.no_scifact)
    print(json.dumps(s.data, indent=2) if args.json else s.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
