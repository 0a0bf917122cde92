"""What a search returns: passages with their documents and ranks, grouped by document, and their citations."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb.models import Chunk, Document

# A body, not a person: "HM Government", "Mayor of West Yorkshire", "Youth Endowment Fund".
_BODY = re.compile(
    r"^(?:HM|UK|NHS|WHO|UN|EU|ONS|NSPCC|YEF|VRU|CPS|NCA|PHE|UKHSA)\b|\b(?:of|and|for|the|&)\b|\b(?:Office|Department|Government|Parliament|Council|Agency|Services?"
    r"|Trust|Foundation|University|Ministry|Police|Commission|Board|Authority|Unit|Customs|Partnership|Institute"
    r"|Cent(?:re|er)|Organi[sz]ation|Association|Society|Network|Fund|Inspectorate|Committee|College|Alliance"
    r"|Collaboration|Project)\b"
)
_DEGREE = re.compile(r"\s+(?:PhD|MSc|MD|MPH|BSc|MA|BA|FRCP|MRCP)\.?$")
_PARTICLES = {"van", "von", "de", "der", "den", "du", "da", "di", "la", "le", "del", "ter"}
_INITIALS = re.compile(r"^(?:[A-Z]\.?){1,3}$")  # "DJ", "J.", "J.D."


@dataclass
class Hit:
    chunk: Chunk
    document: Document
    score: float
    rank: int
    bm25_rank: int | None = None
    dense_rank: int | None = None
    dense_score: float | None = None

    @property
    def citation(self) -> str:
        return cite(self.document, self.chunk)

    def to_dict(self) -> dict:
        return {
            "chunk_id": self.chunk.chunk_id,
            "doc_id": self.document.doc_id,
            "rank": self.rank,
            "score": round(self.score, 6),
            "bm25_rank": self.bm25_rank,
            "dense_rank": self.dense_rank,
            "citation": self.citation,
            "title": self.document.title,
            "year": self.document.year,
            "doc_type": self.document.doc_type,
            "status": self.document.status,
            "ocr": self.chunk.ocr,
            "page_start": self.chunk.page_start,
            "page_end": self.chunk.page_end,
            "page_index": self.chunk.page_index,
            "section": self.chunk.section,
            "text": self.chunk.text,
            "tags": self.chunk.tags.to_dict(),
        }


@dataclass
class Group:
    document: Document
    hits: list[Hit]

    @property
    def score(self) -> float:
        return self.hits[0].score


@dataclass
class SearchResult:
    query: str
    mode: str
    hits: list[Hit]

    @property
    def groups(self) -> list[Group]:
        order: dict[str, Group] = {}
        for h in self.hits:
            g = order.get(h.document.doc_id)
            if g is None:
                order[h.document.doc_id] = Group(h.document, [h])
            else:
                g.hits.append(h)
        return list(order.values())

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "mode": self.mode,
            "count": len(self.hits),
            "results": [
                {
                    "doc_id": g.document.doc_id,
                    "title": g.document.title,
                    "authors": list(g.document.authors),
                    "year": g.document.year,
                    "doc_type": g.document.doc_type,
                    "study_design": g.document.study_design,
                    "url": g.document.url,
                    "source": g.document.source,
                    "score": round(g.score, 6),
                    "passages": [h.to_dict() for h in g.hits],
                }
                for g in self.groups
            ],
        }


def _surname(author: str) -> str:
    """'Okely, Anthony D.' -> 'Okely'; 'Esther M F van Sluijs' -> 'van Sluijs'; a body keeps its whole name."""
    name = _DEGREE.sub("", author.strip())
    if "," in name:
        return name.split(",")[0].strip()
    if _BODY.search(name):
        return name
    words = name.split()
    if len(words) > 1 and _INITIALS.match(words[-1]) and not _INITIALS.match(words[0]):
        return " ".join(words[:-1])  # Vancouver style, "Smith DJ"
    start = len(words) - 1
    while start > 0 and words[start - 1].lower() in _PARTICLES:
        start -= 1
    return " ".join(words[start:])


def authors_short(doc: Document) -> str | None:
    """The authors as a reference cites them in the text: 'Peach and Martin', 'Brown et al.'; None if unrecorded."""
    names = [n for n in (_surname(a) for a in doc.authors) if n]
    if not names:
        return None
    if len(names) == 1:
        return names[0]
    return f"{names[0]} and {names[1]}" if len(names) == 2 else f"{names[0]} et al."


def cite(doc: Document, chunk: Chunk) -> str:
    """'Title (Year), p. N, § Section' — the page printed on the page, the innermost headings."""
    parts = [f"{doc.title} ({doc.year})" if doc.year else doc.title]
    if chunk.page_start:
        if chunk.page_end and chunk.page_end != chunk.page_start:
            parts.append(f"pp. {chunk.page_start}-{chunk.page_end}")
        else:
            parts.append(f"p. {chunk.page_start}")
    section = [s for s in chunk.section if s and s != doc.title]
    if section:
        parts.append("§ " + " › ".join(section[-2:]))
    if chunk.ocr:
        parts.append("OCR text")  # read from a scan: words may be misread, check the page
    return ", ".join(parts)


def ocr_note(doc: Document) -> str | None:
    """Which pages of a document OCR read and how sure it was ("p. 22 (mean word confidence 92)"), else None."""
    if doc.ocr_pages:
        pages = ", ".join(f"p. {p.label} (mean word confidence {p.confidence:.0f})" for p in doc.ocr_pages)
        return f"Read by OCR from a scan: {pages}"
    if doc.status == "ocr":
        # Ingested before the pages were recorded (catalogue schema 4): not known, so not shown as if it were.
        return "Read by OCR from a scan: pages not recorded; ingest the file again to record them"
    return None
