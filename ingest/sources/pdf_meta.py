"""What a PDF says about itself (own DOI, title, authors, year), from its metadata and its first and last pages."""

from __future__ import annotations

from pathlib import Path

from ingest.sources.pdf_authors import choose_authors
from ingest.sources.pdf_layout import FIRST_PAGES, PageLayout
from ingest.sources.pdf_printed import layout_doi, printed_year
from ingest.sources.pdf_title import is_cover_sheet, layout_title, plausible_title, title_candidates
from ingest.sources.pdf_xmp import creation_year, metadata_doi, metadata_titles, metadata_year
from kb.models import Document


def describe(document: Document, info: dict[str, str | None], xmp: str, layouts: list[PageLayout], path: Path) -> str:
    """Fill the document's own DOI, title, authors and year, recording each field's source.

    `layouts` are the pages of `pages_to_read` in order (first pages, then the last). Returns the first
    line that could serve as a title when neither metadata nor layout gives one ('' when none).
    """
    sources = document.field_sources
    first = next((i for i, lay in enumerate(layouts[:FIRST_PAGES]) if not is_cover_sheet(lay)), 0)

    if doi := metadata_doi(info, xmp):
        document.doi, sources["doi"] = doi, "metadata"
    elif doi := layout_doi(layouts, first):
        document.doi, sources["doi"] = doi, "layout"

    found = layout_title(layouts)
    printed = "\n".join(lay.text for lay in layouts)
    meta_title = next((t for v in metadata_titles(info, xmp) if (t := plausible_title(v, path, printed))), None)
    if meta_title:
        document.title, sources["title"] = meta_title, "metadata"
    elif found:
        document.title, sources["title"] = found[0], "layout"

    choose_authors(document, info, xmp, layouts, found)

    if (year := printed_year(layouts, first)) is not None:
        document.year, sources["year"] = year, "layout"
    elif (year := metadata_year(info, xmp)) is not None:
        document.year, sources["year"] = year, "metadata"
    elif (year := creation_year(info)) is not None:
        document.year, sources["year"] = year, "file date"

    keep = title_candidates(layouts, first) if first < len(layouts) else []
    if not keep:
        return ""
    lines = layouts[first].lines
    line, after = lines[keep[0]].text, lines[keep[0] + 1].text if keep[0] + 1 < len(lines) else ""
    # A line that the next one carries on (minimal-document.pdf: "Lorem ipsum ... sed diam nonumy eirmod" /
    # "tempor invidunt ...") is the first line of a paragraph, not a title: the file name is more honest.
    return "" if after[:1].islower() or line.rstrip().endswith((",", "-")) else line
