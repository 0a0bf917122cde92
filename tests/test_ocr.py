"""OCR of scans: a PDF of page images is searchable, cited at its page, marked OCR, read once per file."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from kbfixtures import run_kb
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from bench.ocr import PHRASES
from ingest.sources import ReadOptions, read_file
from ingest.sources import ocr as ocr_module
from kb.export import to_csv
from kb.models import Document
from kb.results import Hit, cite

pytestmark = pytest.mark.skipif(ocr_module.unavailable() is not None, reason="Tesseract is not installed")

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
SCAN_PAGES = [
    ["Youth Outreach Evaluation", "The evaluation ran in three districts over two years."],
    [
        "Findings",
        "Detached youth workers met young people in parks at night.",
        "Referrals to the boxing club rose after the summer programme.",
    ],
]


def make_image_pdf(path: Path, pages: list[list[str]], blur: float = 0) -> Path:
    """An image-only PDF like a scanner makes: each page is a 300 dpi picture of its lines, no text layer."""
    font = ImageFont.truetype(FONT, 42)
    images = []
    for lines in pages:
        img = Image.new("L", (2480, 3508), 255)  # A4 at 300 dpi
        draw = ImageDraw.Draw(img)
        for n, line in enumerate(lines):
            draw.text((200, 250 + n * 90), line, font=font, fill=0)
        images.append(img.filter(ImageFilter.GaussianBlur(blur)) if blur else img)
    images[0].save(path, "PDF", resolution=300, save_all=True, append_images=images[1:])
    return path


def _norm(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", text).strip().lower()


def test_scan_is_found_by_search_cited_at_its_page_and_marked_ocr(tmp_path):
    pdf = make_image_pdf(tmp_path / "outreach-scan.pdf", SCAN_PAGES)
    assert read_file(pdf, ReadOptions()).documents  # sanity: the file is a real PDF
    data = tmp_path / "kb"
    ingest = json.loads(run_kb(data, "ingest", str(pdf), "--json", check=True).stdout)
    [f] = ingest["files"]
    assert f["status"] == "ok" and f["passages"] > 0, f
    assert any("OCR text" in p and "confidence" in p for p in f["problems"]), f["problems"]

    out = json.loads(run_kb(data, "search", "boxing club referrals", "-k", "3", "--json", check=True).stdout)
    best = out["results"][0]["passages"][0]
    assert "referrals to the boxing club rose" in _norm(best["text"])
    assert best["page_start"] == "2" and best["page_index"] == 2
    assert best["status"] == "ocr"
    assert "p. 2" in best["citation"] and "OCR text" in best["citation"]

    # OCR ran once: its result is cached by the file's hash in the data directory.
    [cached] = (data / "ocr-cache").glob("*.json")
    assert json.loads(cached.read_text())["pages"]["1"]["confidence"] > 80


def test_ocr_runs_once_per_file_and_reports_progress_per_page(tmp_path):
    pdf = make_image_pdf(tmp_path / "scan.pdf", SCAN_PAGES)
    seen: list[str] = []
    first = read_file(pdf, ReadOptions(cache_dir=tmp_path / "cache", progress=seen.append))
    assert seen == ["OCR page 1 (1 of 2)", "OCR page 2 (2 of 2)"]
    seen.clear()
    again = read_file(pdf, ReadOptions(cache_dir=tmp_path / "cache", progress=seen.append))
    assert seen == []  # a re-read (e.g. after a settings change) does no OCR
    assert [b.text for b in again.documents[0].blocks] == [b.text for b in first.documents[0].blocks]


def test_page_too_blurred_to_trust_is_reported_and_not_kept(tmp_path):
    good = make_image_pdf(tmp_path / "good.pdf", SCAN_PAGES[1:])
    blurred = make_image_pdf(tmp_path / "blurred.pdf", SCAN_PAGES[1:], blur=6)
    merged = tmp_path / "mixed.pdf"
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.append(str(good))
    writer.append(str(blurred))
    writer.write(merged)
    result = read_file(merged, ReadOptions())
    [parsed] = result.documents
    assert parsed.document.status == "ocr"
    assert {b.page_label for b in parsed.blocks} == {"1"}
    assert any(p.startswith("page 2: OCR text not kept, mean word confidence") for p in result.problems), (
        result.problems
    )


def test_without_tesseract_a_scan_stays_no_text_and_names_the_remedy(tmp_path):
    pdf = make_image_pdf(tmp_path / "scan.pdf", SCAN_PAGES[:1])
    no_tesseract = str(Path(sys.executable).parent)  # the venv's bin: python and kb, no tesseract
    proc = run_kb(tmp_path / "kb", "ingest", str(pdf), "--json", PATH=no_tesseract)
    assert proc.returncode == 0, proc.stderr
    [f] = json.loads(proc.stdout)["files"]
    assert f["status"] == "no_text"
    assert "install tesseract-ocr to read scans" in f["reason"]


@pytest.mark.shared_data
def test_shared_book_page_scan_gives_its_known_phrases(shared_data):
    result = read_file(shared_data / "scans" / "c02-22.pdf", ReadOptions())
    [parsed] = result.documents
    assert parsed.document.status == "ocr"
    text = _norm(" ".join(b.text for b in parsed.blocks))
    # PROVENANCE.md's phrases, as the OCR benchmark checks them (without the drop capital Tesseract does not read).
    for phrase in PHRASES["c02-22.pdf"]:
        assert _norm(phrase) in text, phrase
    assert {b.page_label for b in parsed.blocks} == {"1"}


def test_the_ingest_run_passes_ocr_progress_per_page_to_its_caller(tmp_path):
    """`kb ingest` shows "OCR page N (N of M)" in its progress bar: the pipeline hands the reader its callback."""
    from kbfixtures import open_kb

    from ingest.pipeline import Ingestor

    pdf = make_image_pdf(tmp_path / "scan.pdf", SCAN_PAGES)
    kb = open_kb(tmp_path / "kb")
    try:
        steps: list[str] = []
        report = Ingestor(kb).run([pdf], on_step=steps.append)
    finally:
        kb.close()
    assert [f.status for f in report.files] == ["ok"]
    assert steps == ["OCR page 1 (1 of 2)", "OCR page 2 (2 of 2)"]


# A born-digital page of a real article (its printed page 2) and a scanned book page (Huckleberry Finn, p. 22).
STOPADVISOR = Path(__file__).parent / "data" / "real-pdfs" / "lancetrespmed2014_brown_stopadvisor_smoking_low_ses.pdf"


@pytest.fixture(scope="module")
def mixed_kb(tmp_path_factory) -> tuple[Path, Path]:
    """(data directory, PDF) of a report with a scanned page, ingested once; the pages keep their printed numbers."""
    from conftest import SHARED_DATA
    from pypdf import PdfWriter

    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    root = tmp_path_factory.mktemp("mixed")
    writer = PdfWriter()
    writer.append(str(STOPADVISOR), pages=[1])
    writer.append(str(SHARED_DATA / "scans" / "c02-22.pdf"))
    writer.set_page_label(0, 0, style="/D", start=2)
    writer.set_page_label(1, 1, style="/D", start=22)
    writer.write(root / "report-with-scan.pdf")
    run_kb(root / "kb", "ingest", str(root / "report-with-scan.pdf"), "--json", check=True)
    return root / "kb", root / "report-with-scan.pdf"


def _all_passages(data: Path) -> list[dict]:
    out = json.loads(
        run_kb(data, "search", "tip-toeing along a path amongst the trees", "-k", "60", "--json", check=True).stdout
    )
    [doc] = out["results"]
    return doc["passages"]


@pytest.mark.shared_data
def test_a_mixed_pdf_cites_ocr_text_only_for_passages_of_its_scanned_page(mixed_kb):
    passages = _all_passages(mixed_kb[0])
    scan = [p for p in passages if "22" in (p["page_start"], p["page_end"])]
    text = [p for p in passages if p not in scan]
    assert scan and text, [(p["page_start"], p["page_end"]) for p in passages]
    assert "widow's garden" in _norm(" ".join(p["text"] for p in scan))
    for p in scan:  # a passage that runs from the text page onto the scan has OCR text in it too
        assert p["ocr"] is True and "OCR text" in p["citation"], p
        assert "p. 22" in p["citation"] or "pp. 2-22" in p["citation"], p["citation"]
    for p in text:
        assert p["ocr"] is False and "OCR text" not in p["citation"], p
        assert p["citation"].count("p. 2") == 1 and p["page_index"] == 1, p["citation"]
    assert any("socioeconomic" in p["text"] for p in text)


@pytest.mark.shared_data
def test_kb_docs_names_the_ocr_page_and_its_confidence(mixed_kb):
    data = mixed_kb[0]
    listed = run_kb(data, "docs", check=True).stdout
    assert "Read by OCR from a scan: p. 22 (mean word confidence" in " ".join(listed.split()), listed
    [record] = json.loads(run_kb(data, "docs", "--json", check=True).stdout)["documents"]
    assert record["status"] == "ocr"
    [page] = record["ocr_pages"]
    assert (page["label"], page["index"]) == ("22", 2) and page["confidence"] >= ocr_module.MIN_PAGE_CONFIDENCE


@pytest.mark.shared_data
def test_the_app_document_page_shows_the_same_citations_and_the_ocr_page(mixed_kb, monkeypatch):
    from kbfixtures import kb_env
    from streamlit.testing.v1 import AppTest

    data = mixed_kb[0]
    cited = {p["chunk_id"]: p["citation"] for p in _all_passages(data)}
    for k, v in kb_env(data).items():
        monkeypatch.setenv(k, v)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app" / "Home.py"), default_timeout=180)
    at.query_params["doc"] = json.loads(run_kb(data, "docs", "--json", check=True).stdout)["documents"][0]["doc_id"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [html.unescape(c) for m in at.markdown for c in re.findall(r'kb-citation">(.*?)</div>', m.value)]
    assert sorted(shown) == sorted(cited.values())
    captions = [html.unescape(re.sub(r"\\(.)", r"\1", c.value)) for c in at.caption]  # md()'s escapes undone
    assert any("Read by OCR from a scan: p. 22 (mean word confidence" in c for c in captions), captions


@pytest.mark.shared_data
def test_an_ocr_file_read_again_is_not_embedded_again(mixed_kb, tmp_path):
    """Schema 4 has each old OCR'd file read again by the next ingest (kb/catalogue/schema.py): no embedding."""
    data = tmp_path / "kb"
    shutil.copytree(mixed_kb[0], data)
    con = sqlite3.connect(data / "catalogue.sqlite3")
    with con:
        con.execute("UPDATE files SET settings_key = ''")
    con.close()
    [again] = json.loads(run_kb(data, "ingest", str(mixed_kb[1]), "--json", check=True).stdout)["files"]
    assert (again["status"], again["embedded"]) == ("ok", 0), again
    assert again["passages"] == len(_all_passages(data))


@pytest.fixture(scope="module")
def chunker(tmp_path_factory):
    from ingest.chunk import Chunker
    from kb.config import load_settings
    from kb.embed import Embedder

    # Only the model's tokenizer is loaded: passages are sized in its word pieces.
    e = Embedder(load_settings(tmp_path_factory.mktemp("kb"), env={"HF_HUB_OFFLINE": "1"}))
    return Chunker(e.count_tokens, e.token_offsets, target=200, overlap=32, hard_max=e.max_content_tokens)


def test_a_sentence_that_runs_onto_a_scanned_page_flags_its_passage(chunker):
    from kb.models import Block

    blocks = [
        Block("Detached youth workers met young people in parks at night.", ["Findings"], "4", 4),
        Block("Referrals to the boxing club rose after the", ["Findings"], "4", 4),
        Block("summer programme ended in the district.", ["Findings"], "5", 5, ocr=True),
        Block("Annex", ["Annex"], "6", 6),
        Block("The second survey was typed, not scanned.", ["Annex"], "6", 6),
    ]
    first, annex = chunker.chunk("d", blocks)
    assert (first.page_start, first.page_end, first.ocr) == ("4", "5", True)
    assert annex.ocr is False
    doc = Document(doc_id="d", title="Outreach", doc_type="evaluation", source="x.pdf", status="ocr")
    assert cite(doc, first).endswith("OCR text") and "OCR text" not in cite(doc, annex)
    rows = list(csv.DictReader(io.StringIO(to_csv([Hit(first, doc, 0.9, 1), Hit(annex, doc, 0.5, 2)]))))
    assert [(r["ocr"], r["citation"]) for r in rows] == [("yes", cite(doc, first)), ("no", cite(doc, annex))]
