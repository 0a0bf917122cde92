"""OCR of PDF pages without a text layer: pdfium renders the page, Tesseract (pytesseract) reads it.

Chosen over ocrmypdf (docs/benchmarks.md, "OCR"): it gives each word's confidence, reads only the pages
that need it, and does not rewrite the PDF. Results are cached by the file's hash, so OCR runs once per file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from kb.models import OcrPage

log = logging.getLogger(__name__)

MISSING = "install tesseract-ocr to read scans (Debian: apt-get install tesseract-ocr tesseract-ocr-eng)"
LANGUAGE = "eng"
# Below this mean word confidence (0-100) a page's text is mostly misreadings: reported, not indexed.
MIN_PAGE_CONFIDENCE = 60.0
# A line below this mean word confidence is an illustration or a drop capital read as letters: on the book page
# c02-22 such lines scored 30-41 ("Wy", "‘ Sl Fat 4", "Achapter"), its text lines 89-96. Dropped, not indexed.
MIN_LINE_CONFIDENCE = 50.0
PAGE_TIMEOUT_S = 180
# Tesseract reads best at about 300 dpi; a 150 dpi scan rendered at 300 lost a line of c02-22 less.
DPI = 300
_CACHE_VERSION = 2  # 2: lines below MIN_LINE_CONFIDENCE dropped


class OcrError(Exception):
    """OCR could not run on a page; the message says why and what to do."""


@lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why OCR cannot run here (the remedy), or None when Tesseract and its English data are installed."""
    if shutil.which("tesseract") is None:
        return MISSING
    import pytesseract

    try:
        languages = pytesseract.get_languages(config="")
    except (pytesseract.TesseractError, OSError):
        return MISSING
    if LANGUAGE not in languages:
        return "install tesseract-ocr-eng to read scans (Tesseract has no English data)"
    return None


@lru_cache(maxsize=1)
def engine_id() -> str:
    """Tesseract version and language: a cache entry made by another engine is not reused."""
    import pytesseract

    return f"tesseract {pytesseract.get_tesseract_version()} {LANGUAGE}"


def ocr_pages(
    data: bytes,
    fhash: str,
    indices: list[int],
    cache_dir: Path | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> dict[int, OcrPage]:
    """OCR the given 0-based pages of a PDF; pages cached for this file hash are not read again.

    `progress(done, total, page_index)` is called after each page, so a long scan shows it is moving.
    Raises OcrError when the PDF cannot be rendered at all.
    """
    cache = _load_cache(cache_dir, fhash)
    todo = [i for i in indices if str(i) not in cache]
    if todo:
        import pypdfium2 as pdfium

        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise OcrError(f"the page images could not be rendered ({exc})") from exc
        try:
            for done, i in enumerate(todo, 1):
                try:
                    cache[str(i)] = _read_page(pdf[i])
                except pdfium.PdfiumError as exc:
                    raise OcrError(f"page {i + 1} could not be rendered ({exc})") from exc
                log.info("OCR page %d (%d of %d)", i + 1, done, len(todo))
                if progress:
                    progress(done, len(todo), i)
        finally:
            pdf.close()
        _save_cache(cache_dir, fhash, cache)
    return {i: OcrPage(**cache[str(i)]) for i in indices}


def has_images(data: bytes, indices: list[int]) -> list[int]:
    """The pages among `indices` that carry an image: a blank page has nothing to read."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise OcrError(f"the page images could not be rendered ({exc})") from exc
    try:
        return [i for i in indices if next(pdf[i].get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]), None)]
    except pdfium.PdfiumError as exc:  # a damaged page tree pypdf could still walk
        raise OcrError(f"the page images could not be rendered ({exc})") from exc
    finally:
        pdf.close()


def _read_page(page) -> dict:
    import pytesseract

    image = page.render(scale=DPI / 72).to_pil()
    try:
        d = pytesseract.image_to_data(
            image,
            lang=LANGUAGE,
            config=f"--dpi {DPI}",
            timeout=PAGE_TIMEOUT_S,
            output_type=pytesseract.Output.DICT,
        )
    except RuntimeError as exc:  # pytesseract's timeout
        raise OcrError(f"OCR took over {PAGE_TIMEOUT_S} s on one page ({exc})") from exc
    except pytesseract.TesseractError as exc:
        raise OcrError(f"Tesseract failed: {exc}") from exc
    paragraphs: dict[tuple[int, int], dict[int, list[tuple[str, float]]]] = {}
    confidences = []
    for k, word in enumerate(d["text"]):
        conf = float(d["conf"][k])
        if not word.strip() or conf < 0:
            continue
        confidences.append(conf)
        para = paragraphs.setdefault((d["block_num"][k], d["par_num"][k]), {})
        para.setdefault(d["line_num"][k], []).append((word, conf))
    lines = []
    for para in paragraphs.values():
        kept = [words for words in para.values() if sum(c for _, c in words) / len(words) >= MIN_LINE_CONFIDENCE]
        if kept:
            lines += [" ".join(w for w, _ in words) for words in kept]
            lines.append("")  # Tesseract's paragraph ends are real ones: keep them for the block splitter
    mean = sum(confidences) / len(confidences) if confidences else 0.0
    return {"lines": lines, "confidence": round(mean, 1), "words": len(confidences), "dpi": DPI}


def _cache_path(cache_dir: Path, fhash: str) -> Path:
    return cache_dir / f"{fhash}.json"


def _load_cache(cache_dir: Path | None, fhash: str) -> dict:
    if cache_dir is None:
        return {}
    try:
        saved = json.loads(_cache_path(cache_dir, fhash).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if saved.get("version") != _CACHE_VERSION or saved.get("engine") != engine_id():
        return {}
    return saved.get("pages", {})


def _save_cache(cache_dir: Path | None, fhash: str, pages: dict) -> None:
    if cache_dir is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = _cache_path(cache_dir, fhash)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    payload = {"version": _CACHE_VERSION, "engine": engine_id(), "pages": pages}
    tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    tmp.replace(target)  # atomic: a killed run leaves the old cache or the new one, never half of one
