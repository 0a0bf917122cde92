"""Ingestion speed: passages/s, total time over embedding-alone time, and re-ingesting an unchanged corpus."""

from __future__ import annotations

import functools
import itertools
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.common import SCIFACT, SHARED_DATA, Section, du, mib, table
from kb.evaluate import _jsonl

N_ABSTRACTS = 400  # as Markdown files, one document each
N_PDFS = 3  # long PDFs made from further abstracts
PDF_ABSTRACTS = 60  # abstracts per PDF: ~25-30 pages each


def _latin1(text: str) -> str:
    """The PDF core fonts are Latin-1; other characters become '?', which the reader extracts as such."""
    return text.encode("latin-1", "replace").decode("latin-1")


def make_corpus(out: Path) -> dict:
    """SciFact abstracts as Markdown files, long PDFs typeset from more abstracts, and the shared sample PDFs."""
    from fpdf import FPDF

    recs = list(itertools.islice(_jsonl(SCIFACT / "corpus.jsonl.gz"), N_ABSTRACTS + N_PDFS * PDF_ABSTRACTS))
    md = out / "abstracts"
    md.mkdir(parents=True)
    for rec in recs[:N_ABSTRACTS]:
        (md / f"{rec['_id']}.md").write_text(f"# {rec['title']}\n\n{rec['text']}\n", encoding="utf-8")
    pdfs = out / "pdfs"
    pdfs.mkdir()
    pages = 0
    for i in range(N_PDFS):
        pdf = FPDF()
        pdf.set_font("Helvetica", size=11)
        part = recs[N_ABSTRACTS + i * PDF_ABSTRACTS : N_ABSTRACTS + (i + 1) * PDF_ABSTRACTS]
        for rec in part:
            if pdf.page_no() == 0 or pdf.get_y() > 200:
                pdf.add_page()
            pdf.set_font("Helvetica", "B", 12)
            pdf.multi_cell(0, 6, _latin1(rec["title"]), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", size=11)
            pdf.multi_cell(0, 5, _latin1(rec["text"]), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
        pages += pdf.page_no()
        pdf.output(str(pdfs / f"scifact-long-{i + 1}.pdf"))
    for name in ("multicolumn.pdf", "minimal-document.pdf"):
        (pdfs / name).write_bytes((SHARED_DATA / "pdfs" / name).read_bytes())
    return {"markdown_files": N_ABSTRACTS, "long_pdfs": N_PDFS, "long_pdf_pages": pages, "sample_pdfs": 2}


class StageTimer:
    """Wraps the pipeline's stages to say where ingest time goes (a profile, not a guess)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, obj, name: str, label: str) -> None:
        fn = getattr(obj, name)

        @functools.wraps(fn)
        def timed(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.seconds[label] += time.perf_counter() - t

        setattr(obj, name, timed)


def run() -> Section:
    import ingest.pipeline as pipeline
    from kb.config import load_settings
    from kb.store import KnowledgeBase

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = make_corpus(tmp / "corpus")
        kb = KnowledgeBase(load_settings(tmp / "kb", env={"HF_HUB_OFFLINE": "1"}))
        t = time.perf_counter()
        kb.embedder.encode(["warm up"])  # model load is a once-per-process cost, reported apart
        load_s = time.perf_counter() - t
        ing = pipeline.Ingestor(kb)
        _ = ing.tagger, ing.chunker, kb.vectors  # spaCy and Chroma start-up, also once per process
        embedded_texts: list[str] = []
        model_encode = kb.embedder.encode

        def recording(texts: list[str]):
            embedded_texts.extend(texts)
            return model_encode(texts)

        kb.embedder.encode = recording
        timer = StageTimer()
        timer.wrap(pipeline, "read_file", "read (parse)")
        timer.wrap(ing.chunker, "chunk", "chunk")
        timer.wrap(ing.tagger, "tag_many", "tag")
        timer.wrap(kb.embedder, "encode", "embed")
        timer.wrap(kb.vectors, "upsert", "store: Chroma")
        timer.wrap(kb.catalogue, "write_document", "store: catalogue")
        t = time.perf_counter()
        report = ing.run([tmp / "corpus"])
        first = time.perf_counter() - t
        assert not report.failed, [(f.path, f.reason) for f in report.failed]
        passages = sum(f.passages for f in report.files)
        embed_in_run = timer.seconds["embed"]

        # The same passages through the model alone, outside the pipeline: the floor.
        t = time.perf_counter()
        model_encode(embedded_texts)
        embed_alone = time.perf_counter() - t

        t = time.perf_counter()
        again = ing.run([tmp / "corpus"])
        second = time.perf_counter() - t
        unchanged = sum(1 for f in again.files if f.status == "unchanged")
        size = du(tmp / "kb")
        kb.close()

    stages = sorted(timer.seconds.items(), key=lambda kv: -kv[1])
    other = first - sum(timer.seconds.values())
    md = [
        f"{corpus['markdown_files']} SciFact abstracts as Markdown files, {corpus['long_pdfs']} long PDFs typeset "
        f"from further abstracts ({corpus['long_pdf_pages']} pages in all) and 2 sample PDFs from ../shared/data: "
        f"{len(report.files)} files, {passages} passages, fresh data dir (nothing cached). Model load "
        f"({load_s:.1f} s) is excluded from both sides.",
        "",
        table(
            ["measure", "value", "goal"],
            [
                ["passages/s, whole ingest", f"{passages / first:.1f}", ""],
                ["passages/s, embedding alone", f"{passages / embed_alone:.1f}", ""],
                ["total ingest time / embedding-alone time", f"{first / embed_alone:.2f}", "<= 1.3"],
                ["total ingest time / time inside the model during ingest", f"{first / embed_in_run:.2f}", ""],
                [
                    "re-ingest unchanged corpus, % of first run",
                    f"{100 * second / first:.1f}% ({second:.2f} s / {first:.1f} s; {unchanged} files unchanged)",
                    "<= 5%",
                ],
                ["data dir size", mib(size), ""],
            ],
        ),
        "",
        "Where the first run's time went:",
        "",
        table(
            ["stage", "seconds", "share"],
            [[k, f"{v:.1f}", f"{100 * v / first:.0f}%"] for k, v in stages]
            + [["other (manifest, hashing, transactions)", f"{other:.1f}", f"{100 * other / first:.0f}%"]],
        ),
    ]
    data = {
        "corpus": corpus,
        "files": len(report.files),
        "passages": passages,
        "first_s": first,
        "embed_alone_s": embed_alone,
        "embed_in_run_s": embed_in_run,
        "ratio": first / embed_alone,
        "reingest_s": second,
        "reingest_pct": 100 * second / first,
        "stages": dict(timer.seconds),
        "model_load_s": load_s,
        "data_dir_bytes": size,
    }
    return Section("Ingestion speed", "\n".join(md), data)
