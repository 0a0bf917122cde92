"""What a PDF's Info dictionary and XMP packet say about it: DOI, titles, year."""

from __future__ import annotations

import html
import re

from ingest.sources.pdf_cues import YEAR
from kb.ids import find_dois


def xmp_text(reader: object) -> str:
    """The raw XMP packet as text ('' when there is none or it cannot be read)."""
    try:
        stream = reader.root_object.get("/Metadata")
        data = stream.get_object().get_data() if stream is not None else b""
    except Exception:  # noqa: BLE001 - a broken XMP stream only costs the XMP fields
        return ""
    return data[:500_000].decode("utf-8", "replace")


def xmp_items(xmp: str, tag: str) -> list[str]:
    m = re.search(rf"<{tag}\b[^>]*>(.*?)</{tag}>", xmp, re.S)
    if m:
        items = re.findall(r"<rdf:li\b[^>]*>(.*?)</rdf:li>", m.group(1), re.S) or [m.group(1)]
    else:
        items = re.findall(rf'\b{tag}="([^"]*)"', xmp)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", i)).split()) for i in items if i.strip()]


def metadata_doi(info: dict[str, str | None], xmp: str) -> str | None:
    """A DOI the file's metadata gives as its own: /doi, 'doi:' in /Subject or /Keywords, XMP prism:doi."""
    for value in (info.get("/doi"), info.get("/DOI"), *xmp_items(xmp, "prism:doi")):
        if value and (found := find_dois(value)):
            return found[0].doi
    for value in (info.get("/Subject"), info.get("/Keywords"), *xmp_items(xmp, "dc:identifier")):
        if value and re.search(r"\bdoi\b|10\.\d{4,9}/", value, re.I) and (found := find_dois(value)):
            if len({f.doi for f in found}) == 1:  # several DOIs in one field: a list of citations
                return found[0].doi
    return None


def metadata_titles(info: dict[str, str | None], xmp: str) -> list[str]:
    return [t for t in (info.get("/Title"), *xmp_items(xmp, "dc:title")[:1]) if t]


def metadata_year(info: dict[str, str | None], xmp: str) -> int | None:
    for tag in ("prism:coverDate", "prism:publicationDate", "prism:coverDisplayDate"):
        for value in xmp_items(xmp, tag):
            if m := re.search(rf"\b{YEAR}\b", value):
                return int(m.group(1))
    subject = info.get("/Subject") or ""
    if re.search(r"\bdoi\b", subject, re.I) and (m := re.search(rf"\(?\b{YEAR}\b\)?", subject)):
        return int(m.group(1))
    return None


def creation_year(info: dict[str, str | None]) -> int | None:
    match = re.match(r"(?:D:)?((?:19|20)\d{2})", info.get("/CreationDate") or "")
    return int(match.group(1)) if match else None
