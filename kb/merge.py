"""Sources of one work -> one document: the deterministic merge of what each gives (kb.same_work says which)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from kb.models import Chunk, Document, Edit, SourceRecord, ToolkitEntry, chunk_id_for, strictest
from kb.same_work import (
    SAME_CONTENT,
    SAME_DOI,
    SAME_TITLE,
    doi_conflict,
    is_preprint,
    same_work,
)

# Fields a document takes from its sources; the first source in precedence order that has a value gives it.
MERGED_FIELDS = ("title", "authors", "year", "publisher", "journal", "doi", "url", "abstract", "keywords")
_DESIGN_FIELDS = ("study_design", "study_design_evidence", "country")


def fallback_id(doc: Document) -> str:
    """The id a document has when its DOI cannot be trusted to be its own: its content hash."""
    return f"sha256:{doc.content_hash[:32]}" if doc.content_hash else doc.doc_id


def _precedence(sources: list[SourceRecord], field: str) -> list[tuple[SourceRecord, str]]:
    """Sources in the order they give a field, with the provenance each would record.

    Reference entries first (they are written by people), then what a full text's metadata or layout
    says, then a file's name or date.
    """
    out = []
    for s in sources:
        if s.kind == "reference":
            out.append((0, s, "reference"))
        else:
            how = _provenance(s, field)
            out.append((2 if how in ("file date", "file name") else 1, s, how))
    # A published version's DOI names the work before its preprint's.
    out.sort(key=lambda t: (field == "doi" and is_preprint(t[1].document.doi), t[0], t[1].source_key))
    return [(s, how) for _, s, how in out]


def _provenance(s: SourceRecord, field: str) -> str:
    """Where a source's value of a field came from, as its reader recorded it."""
    if how := s.document.field_sources.get(field):
        return how
    # A reader that finds no title names the document after its file and claims no source for it: say so,
    # rather than "metadata", and let any title a document states win over it.
    if field == "title" and s.path and s.document.title == Path(s.path).stem:
        return "file name"
    return "metadata"


def own_id(s: SourceRecord, contested: frozenset[str] = frozenset()) -> str:
    """The id a source would give its document: its DOI id, unless other works claim that DOI too."""
    doc_id = s.document.doc_id
    return fallback_id(s.document) if doc_id.startswith("doi:") and doc_id[4:] in contested else doc_id


def anchor_id(sources: list[SourceRecord], contested: frozenset[str] = frozenset()) -> str:
    """The merged document's id, whatever order its sources came in: a reference's DOI, a full text's
    DOI, a full text's content id, then a reference's content id.

    A DOI in `contested` is claimed by sources of more than one document: none of them is `doi:X`
    (which of them came first must not decide which work a link to `doi:X` names), so each falls back
    to the id of its own content.
    """
    own = [(s, own_id(s, contested)) for s in sorted(sources, key=lambda s: s.source_key)]
    for kinds in ({"reference"}, {"fulltext", "feed", "toolkit"}):
        ids = sorted((is_preprint(i[4:]), i) for s, i in own if s.kind in kinds and i.startswith("doi:"))
        if ids:
            return ids[0][1]
    texts = sorted(i for s, i in own if s.kind != "reference")
    return texts[0] if texts else sorted(i for _, i in own)[0]


def claimed_dois(claims: list[tuple[str, str]]) -> frozenset[str]:
    """The DOIs that sources of more than one document claim, from (doi, document or group) pairs."""
    holders: dict[str, set[str]] = {}
    for doi, group in claims:
        holders.setdefault(doi, set()).add(group)
    return frozenset(d for d, groups in holders.items() if len(groups) > 1)


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


def derive(
    sources: list[SourceRecord], edits: list[Edit], contested: frozenset[str] = frozenset()
) -> tuple[Document, list[Chunk], ToolkitEntry | None]:
    """The document, its passages and toolkit entry that its sources and analyst edits give.

    A pure function of its inputs: the same sources and edits give the same document in any order.
    `contested`: DOIs other documents' sources claim too (see anchor_id).
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
    doc.doc_id = anchor_id(ordered, contested)
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
            ocr=c.ocr,
        )
        for i, c in enumerate(c for s in givers for c in s.chunks)
    ]
    # The pages OCR read are those of the sources whose passages the document shows.
    doc.ocr_pages = [p for s in givers for p in s.document.ocr_pages] if chunks else []
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


def missing_id(catalogue, doc_id: str, otherwise: str | None = None) -> str:
    """The error for an id that names no document: for a DOI that several works claim, which ones do;
    else `otherwise` (or a pointer to `kb docs`)."""
    claimants = catalogue.documents("doi = ?", (doc_id[4:],)) if doc_id.startswith("doi:") else []
    if len(claimants) > 1:
        named = "; ".join(f"{d.doc_id} ({d.title[:60]})" for d in sorted(claimants, key=lambda d: d.doc_id))
        return (
            f"no document {doc_id!r}: that DOI is claimed by {len(claimants)} different works, each filed under "
            f"the id of its own content: {named}; use one of those ids"
        )
    return otherwise or f"no document {doc_id!r}; `kb docs` lists the ids"


def settle_dois(catalogue, drop: set[str], add: list[SourceRecord], docs: set[str]) -> tuple[set[str], frozenset[str]]:
    """What a change of sources does to DOIs that several documents claim: the documents outside `docs` whose
    id it moves (a second work now claims their DOI, or the last other claimant went), and the DOIs contested
    after it. `add`'s sources have .doc_id set to the document or new group they join."""
    replaced = drop | {s.source_key for s in add}
    moved = {s.document.doi for s in add if s.document.doi and not s.alone} | catalogue.dois_of("source_key", drop)
    dois = moved | catalogue.dois_of("doc_id", docs)
    claims = [(doi, doc_id) for key, doi, doc_id in catalogue.doi_claims(dois) if key not in replaced]
    claims += [(s.document.doi, s.doc_id) for s in add if s.document.doi in dois and not s.alone]
    contested = claimed_dois(claims)
    extra: set[str] = set()
    for doi, doc_id in sorted(set(claims)):
        if doi in moved and doc_id not in docs | extra and not doc_id.startswith("new:"):
            if anchor_id(catalogue.sources_of(doc_id, passages=False), contested) != doc_id:
                extra.add(doc_id)
    return extra, contested


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
                    f"kept apart from “{c.document.title}”: both give DOI {s.document.doi} but the titles differ; "
                    f"neither is filed as doi:{s.document.doi} (each under the id of its own content)"
                )
        if best is not None:
            s.doc_id, s.match = best[1], best[3]
        else:
            s.doc_id, s.match = f"new:{s.source_key}", None
            # A DOI two works claim is settled when the documents are derived (contested DOIs); a document
            # written without recorded sources (one from before they existed) still holds its id.
            if not notes and self._taken(s.document.doc_id):
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
