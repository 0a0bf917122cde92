"""OCR engines on the shared scans: pytesseract (the reader's way) against ocrmypdf, time and known phrases.

`python -m bench.ocr` prints the table; `python -m bench` puts it in docs/benchmarks.md under "OCR".
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, Section, table

SCANS = ROOT.parent / "shared" / "data" / "scans"
# The phrases PROVENANCE.md gives for each scan (c02-22 without its drop capital "W").
PHRASES = {
    "c02-22.pdf": [
        "went tip-toeing along a path amongst the trees back towards the end of the widow's garden",
        "When we was passing by the kitchen I fell over a root and made a noise. We scrouched down and laid still.",
        "we could see him pretty clear, because there was a light behind him",
        "Who dah?",
        "He listened some more; then he come tip-toeing down",
        "Seemed like I'd die if I couldn't scratch. Well, I've noticed that thing plenty of times since.",
        "THEY TIP-TOED ALONG",
    ],
    "linn.pdf": [
        "The LinnSequencer",
        "32 Track MIDI Sequence Recorder",
        "Recording a Sequence",
        "Composition Without Compromise",
        "Linn Electronics, Inc.",
        "18720 Oxnard Street, Tarzana, CA 91356",
    ],
}
RUNS = 3  # best of three: the machine is shared, and the least disturbed run is the fairest


def _norm(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", re.sub(r"-\s+", "-", text)).strip().lower()


def _hits(name: str, text: str) -> int:
    norm = _norm(text)
    return sum(_norm(p) in norm for p in PHRASES[name])


def _pytesseract(pdf: Path) -> tuple[str, float]:
    from ingest.sources import ocr

    pages = ocr.ocr_pages(pdf.read_bytes(), "bench", [0])
    return "\n".join(pages[0].lines), pages[0].confidence


def _ocrmypdf(pdf: Path) -> tuple[str, float | None]:
    import ocrmypdf

    with tempfile.TemporaryDirectory() as tmp:
        sidecar = Path(tmp) / "text.txt"
        ocrmypdf.ocr(pdf, Path(tmp) / "out.pdf", sidecar=sidecar, progress_bar=False, output_type="pdf")
        return sidecar.read_text(encoding="utf-8"), None  # ocrmypdf reports no word confidences


def run() -> Section:
    rows, data = [], {"load_average_at_start": os.getloadavg()}
    for name in PHRASES:
        pdf = SCANS / name
        if not pdf.exists():
            return Section("OCR", f"skipped: {SCANS} not found", {})
        for engine, fn in (("pytesseract (chosen)", _pytesseract), ("ocrmypdf", _ocrmypdf)):
            times = []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                text, conf = fn(pdf)
                times.append(time.perf_counter() - t0)
            hits = _hits(name, text)
            data[f"{name}/{engine}"] = {"seconds": min(times), "hits": hits, "confidence": conf}
            rows.append(
                [
                    name,
                    engine,
                    f"{min(times):.1f} s",
                    f"{hits} / {len(PHRASES[name])}",
                    f"{conf:.1f}" if conf is not None else "not given",
                ]
            )
    data["load_average_at_end"] = os.getloadavg()
    ends = ("load_average_at_start", "load_average_at_end")
    loads = " to ".join(", ".join(f"{x:.1f}" for x in data[k]) for k in ends)
    md = "\n".join(
        [
            "`python -m bench.ocr`: each engine on the one-page scans of `../shared/data/scans/` (best of "
            f"{RUNS} runs, Tesseract 5, English; load average {loads} on 2 cores, so times are slow and "
            "noisy: compare engines within a row pair, not with other sections). Phrases: the known text in "
            "their PROVENANCE.md, whitespace and quote style ignored.",
            "",
            table(["scan", "engine", "time / page", "known phrases found", "mean word confidence"], rows),
            "",
            "The reader uses pytesseract: it gives each word's confidence (so a page too poor to trust is "
            "reported, not indexed), OCRs only the pages with no text layer, and leaves the PDF as it is; "
            "ocrmypdf writes a new PDF and gives text only. Pages are rendered at 300 dpi with pdfium. "
            "A re-ingest reads the OCR text from the cache (`<data dir>/ocr-cache/<file sha256>.json`): no OCR.",
        ]
    )
    return Section("OCR", md, data)


if __name__ == "__main__":
    section = run()
    print(json.dumps(section.data, indent=2) if "--json" in sys.argv else section.markdown)
