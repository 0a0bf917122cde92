"""Sources of one work -> one document: when two sources are the same work, and the deterministic merge."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from rapidfuzz import fuzz

from kb.models import Chunk, Document, Edit, SourceRecord, ToolkitEntry, chunk_id_for, strictest

SAME_DOI = "same DOI"
SAME_CONTENT = "same content"
SAME_TITLE = "same title, year and first author"
FULL_TEXT = "attached full text"
SAME_ENTRY = "same toolkit entry"

# Below this a title says nothing about which work it is ("Abstract", "Report").
_MIN_TITLE_CHARS = 20
_NON_TITLES = {"abstract", "untitled", "contents", "introduction", "report", "research", "article", "document"}
# token_set_ratio under which two titles that share a DOI are different works (they stay apart).
_TITLES_DIFFER = 60
# A reference's title against another title, or inside a full text's first page.
_SAME_TITLE = 92
_TITLE_IN_FRONT = 95
FRONT_CHARS = 1500
# Preprint servers' DOI prefixes (bioRxiv/medRxiv, arXiv, OSF, PsyArXiv, SSRN, Research Square, Preprints.org):
# a preprint and its published version have two DOIs and are still one work.
_PREPRINT_DOIS = ("10.1101/", "10.48550/", "10.31219/", "10.31234/", "10.2139/", "10.21203/", "10.20944/")
# A notice about a work is not the work, however alike the titles.
_NOTICES = ("correction", "erratum", "corrigendum", "retraction", "expression of concern", "comment on", "reply to")
_DEGREES = re.compile(r"\b(phd|msc|md|mph|bsc|ba|ma|dr|prof|professor|frcp|mrcp)\b\.?", re.I)

# Fields a document takes from its sources; the first source in precedence order that has a value gives it.
MERGED_FIELDS = ("title", "authors", "year", "publisher", "journal", "doi", "url", "abstract", "keywords")
_DESIGN_FIELDS = ("study_design", "study_design_evidence", "country")


def normalise_title(text: str | None) -> str:
    """Lower case, accents and punctuation gone, one space between words: what a title match compares."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def surname(author: str) -> str:
    """'Okely, Anthony D.' and 'Anthony D. Okely PhD' -> 'okely'."""
    name = _DEGREES.sub(" ", author)
    name = name.split(",")[0] if "," in name else (name.split() or [""])[-1]
    return normalise_title(name).replace(" ", "")


def first_surname(doc: Document) -> str:
    return surname(doc.authors[0]) if doc.authors else ""


def is_preprint(doi: str | None) -> bool:
    return bool(doi) and doi.startswith(_PREPRINT_DOIS)


def informative(title: str) -> bool:
    norm = normalise_title(title)
    return len(norm) >= _MIN_TITLE_CHARS and norm not in _NON_TITLES


def front_text(texts: list[str]) -> str:
    """The start of a source's text, normalised: where a paper prints its title, authors and year."""
    out = normalise_title(" ".join(texts[:8]))
    return out[:FRONT_CHARS]


def titles_differ(a: SourceRecord, b: SourceRecord) -> bool:
    """True only when two sources clearly name different works (they may share a cited DOI): both titles
    say something, they are far apart, and neither is printed at the start of the other's text."""
    ta, tb = a.document.title, b.document.title
    if not (informative(ta) and informative(tb)):
        return False
    if fuzz.token_set_ratio(normalise_title(ta), normalise_title(tb)) >= _TITLES_DIFFER:
        return False
    # A full text's own title may be misread; its first page still prints the real one.
    for x, y in ((a, b), (b, a)):
        if x.front and fuzz.partial_ratio(normalise_title(y.document.title), x.front) >= _TITLE_IN_FRONT:
            return False
    return True


def _reference_matches(ref: SourceRecord, other: SourceRecord) -> bool:
    """A reference entry's title, year and first author against another source's metadata or first page."""
    rd, od = ref.document, other.document
    title = normalise_title(rd.title)
    if not informative(rd.title) or title.startswith(_NOTICES) != normalise_title(od.title).startswith(_NOTICES):
        return False
    by_title = informative(od.title) and fuzz.token_sort_ratio(title, normalise_title(od.title)) >= _SAME_TITLE
    if not by_title and not (other.front and fuzz.partial_ratio(title, other.front) >= _TITLE_IN_FRONT):
        return False
    if rd.year and od.year and abs(rd.year - od.year) > 1:
        # A full text's year from its file's metadata or date is often when the file was made, not the work:
        # only a year printed on it (or a reference's) contradicts the entry's; its first page may settle it.
        trusted = other.kind == "reference" or od.field_sources.get("year") not in (None, "metadata", "file date")
        if trusted and str(rd.year) not in other.front.split():
            return False
    who = first_surname(rd)
    if who and who != first_surname(od) and who not in other.front.split():
        return False
    return True


def same_work(a: SourceRecord, b: SourceRecord) -> str | None:
    """Why two sources are one work (SAME_DOI, SAME_CONTENT, SAME_TITLE), or None."""
    if a.alone or b.alone:
        return None
    da, db = a.document, b.document
    if "toolkit" in (a.kind, b.kind):
        return SAME_ENTRY if a.kind == b.kind and da.doc_id == db.doc_id else None
    if da.content_hash and da.content_hash == db.content_hash and a.kind == b.kind:
        return SAME_CONTENT
    if da.doi and da.doi == db.doi:
        return None if titles_differ(a, b) else SAME_DOI
    if "reference" in (a.kind, b.kind) and not (da.doi and db.doi and not (is_preprint(da.doi) or is_preprint(db.doi))):
        # Two different DOIs are two works (unless one is a preprint's); otherwise title, year and first author decide.
        if (a.kind == "reference" and _reference_matches(a, b)) or (b.kind == "reference" and _reference_matches(b, a)):
            return SAME_TITLE
    return None


def doi_conflict(a: SourceRecord, b: SourceRecord) -> bool:
    """Two sources that give the same DOI but clearly are different works."""
    return bool(a.document.doi and a.document.doi == b.document.doi and titles_differ(a, b))


def fallback_id(doc: Document) -> str:
    """The id a document has when its DOI cannot be trusted to be its own: its content hash."""
    return f"sha256:{doc.content_hash[:32]}" if doc.content_hash else doc.doc_id


def _precedence(sources: list[SourceRecord], field: str) -> list[tuple[SourceRecord, str]]:
    """Sources in the order they give a field, with the provenance each would record.

    Reference entries first (they are written by people), then what a full text's metadata or layout
    says, then a file date.
    """
    out = []
    for s in sources:
        if s.kind == "reference":
            out.append((0, s, "reference"))
        else:
            how = s.document.field_sources.get(field, "metadata")
            out.append((2 if how == "file date" else 1, s, how))
    # A published version's DOI names the work before its preprint's.
    out.sort(key=lambda t: (field == "doi" and is_preprint(t[1].document.doi), t[0], t[1].source_key))
    return [(s, how) for _, s, how in out]


def anchor_id(sources: list[SourceRecord]) -> str:
    """The merged document's id, whatever order its sources came in: a reference's DOI, a full text's
    DOI, a full text's content id, then a reference's content id."""
    own = sorted(sources, key=lambda s: s.source_key)
    for kinds in ({"reference"}, {"fulltext", "feed", "toolkit"}):
        ids = sorted(
            (is_preprint(s.document.doc_id[4:]), s.document.doc_id)
            for s in own
            if s.kind in kinds and s.document.doc_id.startswith("doi:")
        )
        if ids:
            return ids[0][1]
    texts = sorted(s.document.doc_id for s in own if s.kind != "reference")
    return texts[0] if texts else sorted(s.document.doc_id for s in own)[0]


def latest_edits(edits: list[Edit]) -> dict[str, Edit]:
    """One value per field: the latest edit (ties broken by value, so the result never depends on order)."""
    out: dict[str, Edit] = {}
    for e in sorted(edits, key=lambda e: (e.edited_at, repr(e.value))):
        out[e.field] = e
    return out


def passage_sources(sources: list[SourceRecord]) -> list[SourceRecord]:
    """Whose passages the document shows: every full text once (copies of one file count once); a
    reference's abstract only while no full text gives passages."""
    texts = [s for s in sources if s.kind != "reference" and s.chunks]
    if texts:
        seen: set[str] = set()
        out = []
        for s in sorted(texts, key=lambda s: (s.document.content_hash, s.source_key)):
            if s.document.content_hash not in seen:
                seen.add(s.document.content_hash)
                out.append(s)
        return out
    refs = sorted(
        (s for s in sources if s.kind == "reference" and s.chunks),
        key=lambda s: (not s.document.abstract, s.source_key),
    )
    return refs[:1]


def derive(sources: list[SourceRecord], edits: list[Edit]) -> tuple[Document, list[Chunk], ToolkitEntry | None]:
    """The document, its passages and toolkit entry that its sources and analyst edits give.

    A pure function of its inputs: the same sources and edits give the same document in any order.
    """
    if not sources:
        raise ValueError("a document needs at least one source")
    everything = ordered = sorted(sources, key=lambda s: s.source_key)
    toolkits = [s for s in ordered if s.kind == "toolkit"]
    if toolkits:
        # A toolkit entry is published facts keyed by its slug: the newest version of it replaces the older.
        ordered = [max(toolkits, key=lambda s: (s.added_at, s.source_key))]
    texts = [s for s in ordered if s.kind != "reference"]
    givers = passage_sources(ordered)
    base = (givers or texts or ordered)[0].document
    doc = replace(base, field_sources={}, keywords=list(base.keywords), districts=[], authors=list(base.authors))
    doc.doc_id = anchor_id(ordered)
    for name in MERGED_FIELDS:
        for s, how in _precedence(ordered, name):
            value = getattr(s.document, name)
            if value:
                setattr(doc, name, list(value) if isinstance(value, list) else value)
                doc.field_sources[name] = how
                break
        else:
            setattr(doc, name, [] if name in ("authors", "keywords") else None)
    for name in _DESIGN_FIELDS:
        value = next((getattr(s.document, name) for s in [*texts, *ordered] if getattr(s.document, name)), None)
        setattr(doc, name, value)
    if doc.study_design:
        doc.field_sources["study_design"] = "layout"
    doc.doc_type = (texts or ordered)[0].document.doc_type
    doc.source = (texts or ordered)[0].document.source
    doc.districts = list(dict.fromkeys(d for s in ordered for d in s.document.districts))
    doc.ingested_at = max(s.document.ingested_at for s in ordered)

    chunks = [
        Chunk(
            chunk_id=chunk_id_for(doc.doc_id, i),
            doc_id=doc.doc_id,
            index=i,
            text=c.text,
            section=list(c.section),
            page_start=c.page_start,
            page_end=c.page_end,
            page_index=c.page_index,
            n_tokens=c.n_tokens,
            tags=c.tags,
        )
        for i, c in enumerate(c for s in givers for c in s.chunks)
    ]
    if chunks:
        # Passages read by OCR stay marked as such: a citation says "OCR text" so a reader checks the scan.
        doc.status = "ocr" if any(s.document.status == "ocr" for s in givers) else "ok"
    elif texts:
        doc.status = texts[0].document.status

    chosen = latest_edits(edits)
    sens = chosen.get("sensitivity")
    if sens is not None:
        # An analyst may lower a document's sensitivity explicitly; a source that arrives (or changes)
        # after that edit with a stricter marking tightens it again.
        doc.sensitivity = strictest(
            str(sens.value), *(s.document.sensitivity for s in everything if s.added_at > sens.edited_at)
        )
    else:
        # Every source counts here, even one whose content another replaced: fail closed.
        doc.sensitivity = strictest(*(s.document.sensitivity for s in everything))
    for name, e in chosen.items():
        if name != "sensitivity":
            setattr(doc, name, list(e.value) if isinstance(e.value, list) else e.value)
        doc.field_sources[name] = "analyst"
    toolkit = next((s.toolkit for s in ordered if s.toolkit is not None), None)
    if toolkit is not None:
        toolkit.doc_id = doc.doc_id
    return doc, chunks, toolkit


class Resolver:
    """Which document an incoming source joins: the recorded sources of other files, and those placed
    before it from the same file, are the candidates."""

    def __init__(self, catalogue, path: str):
        self.catalogue = catalogue
        self.pool: list[SourceRecord] = catalogue.sources("path != ? AND alone = 0", (path,), passages=False)
        self.path = path

    def place(self, s: SourceRecord) -> list[str]:
        """Set s.doc_id (an existing document, or a new group "new:<source key>") and s.match; returns notes
        for the report (a DOI shared with a different work)."""
        notes: list[str] = []
        best: tuple[int, str, SourceRecord, str] | None = None
        rank = {SAME_CONTENT: 0, SAME_DOI: 1, SAME_TITLE: 2}
        for c in self.pool:
            if s.alone:
                break
            reason = same_work(s, c)
            if reason:
                key = (rank.get(reason, 3), c.doc_id, c, reason)
                if best is None or key[:2] < best[:2]:
                    best = key
            elif doi_conflict(s, c):
                notes.append(
                    f"kept apart from “{c.document.title}”: both give DOI {s.document.doi} but the titles differ"
                )
        if best is not None:
            s.doc_id, s.match = best[1], best[3]
        else:
            s.doc_id, s.match = f"new:{s.source_key}", None
            if notes or self._taken(s.document.doc_id):
                # Its DOI is another work's id, so it keeps the id of its own content.
                s.document.doc_id = fallback_id(s.document)
        self.pool.append(s)
        return notes

    def _taken(self, doc_id: str) -> bool:
        if self.catalogue.get_document(doc_id) is None:
            return False
        rows = self.catalogue.query(
            "SELECT 1 FROM document_sources WHERE doc_id = ? AND path != ? LIMIT 1", (doc_id, self.path)
        )
        mine = self.catalogue.query("SELECT 1 FROM document_sources WHERE doc_id = ? LIMIT 1", (doc_id,))
        # A document with sources of other files would have matched; one with none was written directly.
        return bool(rows) or not mine
