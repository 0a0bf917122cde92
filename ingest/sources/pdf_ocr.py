"""The pages of a PDF that carry an image and no text, read by OCR (ingest/sources/ocr.py) in place."""

from __future__ import annotations

from ingest.sources import ReadOptions, ocr
from ingest.sources.pdf_ligatures import normalise
from kb.ids import file_hash
from kb.models import ScannedPage


def ocr_empty_pages(
    data: bytes, pages: list[list[str]], labels: list[str], options: ReadOptions, problems: list[str]
) -> list[ScannedPage]:
    """OCR the pages that carry an image but no text, in place; the pages whose OCR text it kept.

    Empty when no page needed OCR or OCR is not installed (the caller names the remedy).
    """
    empty = [i for i, lines in enumerate(pages) if not "".join(lines).strip()]
    if not empty or ocr.unavailable():
        return []
    try:
        empty = ocr.has_images(data, empty)
        progress = options.progress
        read = ocr.ocr_pages(
            data,
            file_hash(data),
            empty,
            options.cache_dir,
            (lambda done, n, i: progress(f"OCR page {labels[i]} ({done} of {n})")) if progress else None,
        )
    except ocr.OcrError as exc:
        problems.append(f"OCR failed: {exc}")
        return []
    kept: list[ScannedPage] = []
    for i, page in read.items():
        if not page.words:
            problems.append(f"page {labels[i]}: no text layer and OCR found no words on its image")
            continue
        if page.confidence < ocr.MIN_PAGE_CONFIDENCE:
            problems.append(
                f"page {labels[i]}: OCR text not kept, mean word confidence {page.confidence:.0f} is below "
                f"{ocr.MIN_PAGE_CONFIDENCE:.0f}; a cleaner scan (300 dpi, straight) may read"
            )
            continue
        pages[i] = [normalise(line) for line in page.lines]
        kept.append(ScannedPage(labels[i], i + 1, page.confidence))
    if kept:
        scores = ", ".join(f"p. {p.label} {p.confidence:.0f}" for p in kept)
        problems.append(f"OCR text (a scan) on {len(kept)} page(s); mean word confidence {scores}")
    return kept
