"""Long reports: researcher questions over ../shared/data/real-pdfs, answered in the top 3 with the right page cited."""

from __future__ import annotations

import json
import re
import sys
import time
import unicodedata
from pathlib import Path

from bench.common import ROOT, SHARED_DATA, Section, table

QUESTIONS = ROOT / "bench" / "data" / "realpdf_questions.jsonl"
PDFS = SHARED_DATA / "real-pdfs"
TOP = 3
GOAL = 0.9


def norm(text: str) -> str:
    """Letters and digits only, so line breaks, hyphenation, ligatures and quote styles do not matter."""
    return re.sub(r"[^0-9a-z]", "", unicodedata.normalize("NFKC", text).lower())


def load_questions(path: Path = QUESTIONS) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def answered(q: dict, hits) -> int | None:
    """Rank (1-based) of the first hit from the question's PDF that holds the answer phrase and cites one of
    its pages; None when no hit in `hits` does."""
    pages = {q["page"], *q.get("also", [])}
    want = norm(q["answer"])
    for i, h in enumerate(hits, start=1):
        if Path(h.document.source).name != q["file"] and h.document.source != q["file"]:
            continue
        cited = {h.chunk.page_start, h.chunk.page_end} - {None}
        if _page_range(h.chunk.page_start, h.chunk.page_end) & pages or cited & pages:
            if want in norm(h.chunk.text):
                return i
    return None


def _page_range(start: str | None, end: str | None) -> set[str]:
    if start and end and start.isdigit() and end.isdigit():
        return {str(p) for p in range(int(start), int(end) + 1)}
    return {p for p in (start, end) if p}


def build(data_dir: Path) -> dict:
    """Ingest the real PDFs through the real pipeline (reusing a finished data dir of the same files)."""
    from ingest.pipeline import Ingestor
    from kb.config import load_settings
    from kb.store import KnowledgeBase

    kb = KnowledgeBase(load_settings(data_dir, env={"HF_HUB_OFFLINE": "1"}))
    try:
        t = time.perf_counter()
        report = Ingestor(kb).run(sorted(PDFS.glob("*.pdf")))  # the PDFs, not their PROVENANCE.md
        n = kb.catalogue.query("SELECT COUNT(*) FROM chunks")[0][0]
        return {"seconds": time.perf_counter() - t, "passages": n, "failed": [str(f.path) for f in report.failed]}
    finally:
        kb.close()


def evaluate(data_dir: Path, questions: list[dict]) -> dict:
    from kb.config import load_settings
    from kb.search import Searcher
    from kb.store import KnowledgeBase

    kb = KnowledgeBase(load_settings(data_dir, env={"HF_HUB_OFFLINE": "1"}))
    try:
        s = Searcher(kb)
        rows = []
        for q in questions:
            hits = s.search(q["question"], k=10).hits
            rows.append({**q, "rank": answered(q, hits[:10]), "top": [h.citation for h in hits[:TOP]]})
        return {"rows": rows, "share": sum(1 for r in rows if r["rank"] and r["rank"] <= TOP) / len(rows)}
    finally:
        kb.close()


def data_dir_default() -> Path:
    """Kept between runs, like kb eval's SciFact knowledge base: ingest is idempotent, so a rerun embeds nothing
    unless the PDFs or the pipeline's settings changed."""
    from kb.commands.evaluate import default_cache_root

    return default_cache_root() / "realpdf"


def run(data_dir: Path | None = None) -> Section:
    questions = load_questions()
    data_dir = data_dir or data_dir_default()
    built = build(data_dir)
    res = evaluate(data_dir, questions)
    share = res["share"]
    misses = [r for r in res["rows"] if not (r["rank"] and r["rank"] <= TOP)]
    n, top10 = len(questions), sum(1 for r in res["rows"] if r["rank"]) / len(questions)
    md = [
        f"{len(questions)} questions a researcher might ask of the {len({q['file'] for q in questions})} PDFs in "
        f"../shared/data/real-pdfs (bench/data/realpdf_questions.jsonl: paraphrased, each with the answer phrase "
        f"and its printed page). The PDFs go through the real ingest pipeline ({built['passages']} passages); "
        f"a question counts as answered when one of the top {TOP} hybrid hits is from its PDF, holds the answer "
        f"phrase (letters and digits compared) and cites its page. Goal: >= {GOAL:.0%}.",
        "",
        table(
            ["measure", "value"],
            [
                [f"answered in the top {TOP}, right page", f"{share:.0%} ({n - len(misses)}/{n})"],
                ["answered in the top 10, right page", f"{top10:.0%}"],
                ["passages", built["passages"]],
            ],
        ),
    ]
    if misses:
        md += [
            "",
            "Not answered in the top 3:",
            "",
            table(
                ["question", "page", "rank", "top hit"],
                [[r["question"], r["page"], r["rank"] or "-", r["top"][0] if r["top"] else "-"] for r in misses],
            ),
        ]
    return Section("Long reports: questions over real PDFs", "\n".join(md), {"built": built, **res})


if __name__ == "__main__":
    print(run(Path(sys.argv[1]) if len(sys.argv) > 1 else None).markdown)
