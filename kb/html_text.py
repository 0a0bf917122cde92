"""Main text of an HTML page by trafilatura: the article, without navigation, footer or cookie banner."""

from __future__ import annotations

import re

from kb.models import WebPage


def main_text(html: str | bytes, url: str | None = None, markdown: bool = False) -> WebPage:
    """The page's main text and metadata; empty text when the page has no article-like content.

    `markdown=True` keeps headings (`#`) and list items (`- `), so a reader can turn them into sections.
    """
    import trafilatura

    text = trafilatura.extract(
        html,
        url=url,
        output_format="markdown" if markdown else "txt",
        include_tables=True,
        include_comments=False,
        favor_precision=True,  # leaving out a link list costs less than indexing a site's menus
        fast=True,  # no fallback extractors: on a page with no article they return its menus
    )
    if text and not markdown:
        text = "\n\n".join(line.strip() for line in text.split("\n") if line.strip())
    meta = trafilatura.extract_metadata(html, default_url=url)
    authors = [a for a in re.split(r"\s*;\s*", meta.author or "") if a] if meta else []
    return WebPage(
        text=(text or "").strip(),
        title=(meta.title or None) if meta else None,
        authors=authors,
        date=(meta.date or None) if meta else None,
        site=(meta.sitename or None) if meta else None,
        url=(meta.url or None) if meta else url,
    )
