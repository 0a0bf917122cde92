"""Exports of a search result: passages as CSV, documents as BibTeX (bibtexparser 2, pylatexenc) and RIS (rispy)."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from functools import lru_cache

import bibtexparser
import rispy
from bibtexparser.model import Entry, Field
from pylatexenc.latexencode import UnicodeToLatexEncoder

from kb.models import Document
from kb.search import Hit

CSV_COLUMNS = (
    "rank",
    "citation",
    "title",
    "year",
    "doc_type",
    "page_start",
    "page_end",
    "section",
    "ocr",
    "factors",
    "priorities",
    "doi",
    "url",
    "doc_id",
    "chunk_id",
    "text",
)

# Our document types in each format's vocabulary; reference entries keep their journal as an article.
_BIBTEX_TYPES = {
    "research": "techreport",
    "needs_assessment": "techreport",
    "strategy": "techreport",
    "evaluation": "techreport",
    "toolkit": "misc",
    "news": "misc",
}
_RIS_TYPES = {
    "research": "RPRT",
    "needs_assessment": "RPRT",
    "strategy": "GOVDOC",
    "evaluation": "RPRT",
    "toolkit": "ELEC",
    "news": "NEWS",
}


def documents_of(hits: list[Hit]) -> list[Document]:
    """The distinct documents of a result, in the order they first rank."""
    seen: dict[str, Document] = {}
    for h in hits:
        seen.setdefault(h.document.doc_id, h.document)
    return list(seen.values())


def _only(items: list, sensitivities: list[str] | None, doc=lambda x: x) -> list:
    # A second check at the door: whatever reached an export, only what the viewer may see leaves it.
    return items if sensitivities is None else [i for i in items if doc(i).sensitivity in sensitivities]


def to_csv(hits: list[Hit], sensitivities: list[str] | None = None) -> str:
    """One row per passage, with its citation and tags, for a spreadsheet; `sensitivities` (kb.visibility) limits it."""
    hits = _only(hits, sensitivities, lambda h: h.document)
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for h in hits:
        d, c = h.document, h.chunk
        w.writerow(
            {
                "rank": h.rank,
                "citation": h.citation,
                "title": d.title,
                "year": d.year or "",
                "doc_type": d.doc_type,
                "page_start": c.page_start or "",
                "page_end": c.page_end or "",
                "section": " > ".join(c.section),
                "ocr": "yes" if c.ocr else "no",  # read from a scan: check the words against the page
                "factors": "; ".join(f"{f.factor} ({f.polarity})" for f in c.tags.factors),
                "priorities": "; ".join(str(p) for p in c.tags.priorities),
                "doi": d.doi or "",
                "url": d.url or "",
                "doc_id": d.doc_id,
                "chunk_id": c.chunk_id,
                "text": c.text,
            }
        )
    return out.getvalue()


def _key_part(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_text.lower())


def citation_key(doc: Document, taken: set[str]) -> str:
    """authorYEARword, unique within one export (a, b, ... appended on a clash)."""
    first = doc.authors[0] if doc.authors else ""
    # "Family, Given" keeps a many-word family name whole; "Given Family" has it last.
    author = (first.split(",")[0] if "," in first else first.split()[-1]) if first.strip() else doc.publisher or "anon"
    words = [w for w in re.findall(r"[A-Za-z]+", doc.title) if len(w) > 3]
    base = _key_part(author)[:20] + str(doc.year or "nd") + (_key_part(words[0]) if words else "")
    key, n = base or "ref", 0
    while key in taken:
        n += 1
        key = f"{base}{chr(ord('a') + n - 1)}" if n <= 26 else f"{base}{n}"
    taken.add(key)
    return key


@lru_cache(maxsize=1)
def _latex() -> UnicodeToLatexEncoder:
    # LaTeX specials and accents become macros (\&, \'e) that print on any engine; a character with no macro
    # stays as it is, for biber and a UTF-8 LaTeX, rather than turning into a "?".
    return UnicodeToLatexEncoder(unknown_char_policy="keep")


def _bibtex_escape(value: str) -> str:
    # BibTeX counts every brace, escaped or not, so a stray one would end the field: braces go before encoding.
    return _latex().unicode_to_latex(value.replace("{", "").replace("}", ""))


def to_bibtex(documents: list[Document], sensitivities: list[str] | None = None) -> str:
    documents = _only(documents, sensitivities)
    lib = bibtexparser.Library()
    taken: set[str] = set()
    for d in documents:
        entry_type = "article" if d.journal else _BIBTEX_TYPES.get(d.doc_type, "misc")
        fields = [("title", d.title)]
        if d.authors:
            fields.append(("author", " and ".join(d.authors)))
        for name, value in (
            ("year", str(d.year) if d.year else None),
            ("journal", d.journal),
            ("publisher" if entry_type != "techreport" else "institution", d.publisher),
            ("doi", d.doi),
            ("url", d.url),
            ("abstract", d.abstract),
            ("keywords", ", ".join(d.keywords) if d.keywords else None),
        ):
            if value:
                fields.append((name, value))
        lib.add(
            Entry(
                entry_type,
                citation_key(d, taken),
                [Field(k, _bibtex_escape(v) if k not in ("doi", "url") else v) for k, v in fields],
            )
        )
    return bibtexparser.write_string(lib)


def to_ris(documents: list[Document], sensitivities: list[str] | None = None) -> str:
    documents = _only(documents, sensitivities)
    entries = []
    for d in documents:
        e: dict = {
            "type_of_reference": "JOUR" if d.journal else _RIS_TYPES.get(d.doc_type, "GEN"),
            "title": d.title,
        }
        if d.authors:
            e["authors"] = list(d.authors)
        if d.year:
            e["year"] = str(d.year)
        for key, value in (
            ("journal_name", d.journal),
            ("publisher", d.publisher),
            ("doi", d.doi),
            ("abstract", d.abstract),
        ):
            if value:
                e[key] = value
        if d.url:
            e["urls"] = [d.url]
        if d.keywords:
            e["keywords"] = list(d.keywords)
        entries.append(e)
    return rispy.dumps(entries)
