"""HTML reader (saved reports, web pages): main text by trafilatura, title and date from its metadata."""

from __future__ import annotations

import re
from pathlib import Path

from ingest.sources import ReadOptions, SourceError, decode_text, markings
from ingest.sources.text import _parse
from kb.html_text import main_text
from kb.ids import content_hash, doc_id_for, normalise_doi
from kb.models import Document, ParsedDocument, ReadResult


def read(path: Path, options: ReadOptions) -> ReadResult:
    """Read a saved HTML page into one document; navigation, footer and banners are left out."""
    result = ReadResult(path=str(path))
    raw = path.read_bytes()
    page = main_text(raw, markdown=True)
    if not page.text:
        raise SourceError(path, "no main text found in the HTML page: save the report itself (or its PDF)")
    blocks, first_h1 = _parse(page.text.split("\n"), markdown=True)
    if not blocks:
        raise SourceError(path, "no main text found in the HTML page: save the report itself (or its PDF)")
    full_text = "\n\n".join(b.text for b in blocks)
    doi = normalise_doi(" ".join(b.text for b in blocks[:5]))
    year = re.match(r"((?:19|20)\d{2})", page.date or "")
    # A marking may sit in a banner the main-text extractor leaves out: look at the whole page.
    sensitivity = markings.tightened(options.sensitivity, [decode_text(raw, []), full_text])
    if sensitivity != options.sensitivity:
        result.problems.append("marked OFFICIAL-SENSITIVE: stored as official-sensitive")
    document = Document(
        doc_id=doc_id_for(doi, full_text),
        title=page.title or first_h1 or path.stem,
        doc_type=options.doc_type or "research",
        source=str(path),
        authors=page.authors,
        year=int(year.group(1)) if year else None,
        publisher=page.site,
        doi=doi,
        url=page.url,
        sensitivity=sensitivity,
        content_hash=content_hash(full_text),
    )
    result.documents.append(ParsedDocument(document=document, blocks=blocks))
    return result
