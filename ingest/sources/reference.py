"""A bibliographic record (BibTeX, RIS) as one reference document, whose passage is its title and abstract."""

from __future__ import annotations

from ingest.sources import ReadOptions
from kb.ids import content_hash, doc_id_for
from kb.models import Block, Document, ParsedDocument


def reference(
    *,
    title: str,
    authors: list[str],
    year: int | None,
    doi: str | None,
    url: str | None,
    abstract: str | None,
    source: str,
    entry: str,
    options: ReadOptions,
    publisher: str | None = None,
    journal: str | None = None,
    keywords: list[str] | None = None,
) -> ParsedDocument:
    """The record's document, identified by its DOI or else by title, year and authors."""
    basis = f"{title} {year or ''} {'; '.join(authors)}"
    document = Document(
        doc_id=doc_id_for(doi, basis),
        title=title,
        doc_type=options.doc_type or "reference",
        source=source,
        authors=authors,
        year=year,
        publisher=publisher,
        journal=journal,
        doi=doi,
        url=url,
        abstract=abstract,
        keywords=keywords or [],
        sensitivity=options.sensitivity,
        content_hash=content_hash(f"{basis} {abstract or ''}"),
    )
    if abstract:
        joiner = " " if title[-1] in ".?!" else ". "
        block = Block(text=f"{title}{joiner}{abstract}", section=["Abstract"])
    else:
        block = Block(text=title)
    return ParsedDocument(document=document, blocks=[block], kind="reference", entry=entry)
