"""The data model: plain dataclasses that every step of the pipeline passes along."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

DOC_TYPES = (
    "research",
    "needs_assessment",
    "strategy",
    "evaluation",
    "toolkit",
    "reference",
    "news",
)
SENSITIVITIES = ("official", "official-sensitive")
STUDY_DESIGNS = ("systematic_review", "rct", "quasi_experimental", "observational", "qualitative", "other")
POLARITIES = ("risk", "protective")
# Document statuses whose passages are read: "ocr" is a document some of whose pages were read from page images.
READABLE = ("ok", "ocr")
NOT_PUBLISHED = "not published"
# A figure the source publishes that the copy we read did not capture: distinct from NOT_PUBLISHED.
NOT_CAPTURED = "not recorded here — see source"


@dataclass
class Document:
    """One source document (a PDF, a text file, one BibTeX entry, one toolkit entry)."""

    doc_id: str
    title: str
    doc_type: str
    source: str
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    publisher: str | None = None
    journal: str | None = None
    doi: str | None = None
    url: str | None = None
    abstract: str | None = None
    keywords: list[str] = field(default_factory=list)
    districts: list[str] = field(default_factory=list)
    sensitivity: str = "official"
    content_hash: str = ""
    ingested_at: str = ""
    status: str = "ok"  # one of READABLE, or no_text
    n_chunks: int = 0
    # field -> reference | metadata | layout | analyst | file date | file name
    field_sources: dict[str, str] = field(default_factory=dict)
    # systematic_review | rct | quasi_experimental | observational | qualitative | other
    study_design: str | None = None
    study_design_evidence: str | None = None  # the phrase that decided the design
    country: str | None = None
    # The pages whose text OCR read from a page image (status "ocr" says some were), with its confidence.
    ocr_pages: list[ScannedPage] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ScannedPage:
    """A page of a document whose text was read by OCR: its printed label, its physical page, how sure OCR was."""

    label: str
    index: int  # 1-based physical page
    confidence: float  # mean word confidence, 0-100, as Tesseract gave it


SOURCE_KINDS = ("fulltext", "reference", "toolkit", "feed")
# What `kb edit` may set; the analyst's value wins over every source's.
EDITABLE_FIELDS = ("title", "authors", "year", "doc_type", "sensitivity", "study_design")


def strictest(*sensitivities: str | None) -> str:
    """The most restrictive of the given sensitivities (official when none is given)."""
    ranks = [SENSITIVITIES.index(s) for s in sensitivities if s in SENSITIVITIES]
    return SENSITIVITIES[max(ranks)] if ranks else SENSITIVITIES[0]


@dataclass
class Block:
    """A run of text from a reader, before chunking: one paragraph or a page's worth under one heading.

    `page_label` is the number printed on the page (what a reader cites); `page_index` is the
    1-based physical page to open the file at. Both are None for sources without pages.
    """

    text: str
    section: list[str] = field(default_factory=list)
    page_label: str | None = None
    page_index: int | None = None
    ocr: bool = False  # read by OCR from a page image, not from a text layer


@dataclass
class ParsedDocument:
    """What a reader returns for one document: its metadata and its text blocks."""

    document: Document
    blocks: list[Block] = field(default_factory=list)
    toolkit: ToolkitEntry | None = None
    kind: str | None = None  # fulltext | reference | toolkit | feed; None: the pipeline decides
    entry: str = ""  # which part of the file it is (a BibTeX key, an attachment), "" for the whole file
    full_text_of: str | None = None  # entry of the same file this is the full text of (a Zotero attachment)


@dataclass
class ReadResult:
    """Everything one file gave: its documents, and problems that did not stop the rest of it."""

    path: str
    documents: list[ParsedDocument] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class OcrPage:
    """What OCR read on one PDF page: text lines (blank line = paragraph end) and its mean word confidence."""

    lines: list[str]
    confidence: float  # mean of Tesseract's word confidences, 0-100
    words: int
    dpi: int


@dataclass
class WebPage:
    """The main text of an HTML page (navigation, footer and banners left out) and its metadata."""

    text: str  # paragraphs separated by blank lines; Markdown headings and lists when asked for
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    date: str | None = None  # ISO date, as the page's metadata gives it
    site: str | None = None
    url: str | None = None


@dataclass
class FactorTag:
    factor: str
    polarity: str  # risk | protective
    matched: list[str] = field(default_factory=list)  # the words of the text that triggered the tag
    cue: str | None = None  # the cue phrase that set the polarity ("more likely", "protective factor"), else None


@dataclass
class Tags:
    factors: list[FactorTag] = field(default_factory=list)
    priorities: list[int] = field(default_factory=list)
    who_levels: list[str] = field(default_factory=list)
    crime_types: list[str] = field(default_factory=list)
    cohorts: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Tags:
        return cls(
            factors=[FactorTag(**f) for f in d.get("factors", [])],
            priorities=list(d.get("priorities", [])),
            who_levels=list(d.get("who_levels", [])),
            crime_types=list(d.get("crime_types", [])),
            cohorts=list(d.get("cohorts", [])),
            places=list(d.get("places", [])),
        )


@dataclass
class Chunk:
    """A passage: the unit that is embedded, indexed, tagged, searched and cited."""

    chunk_id: str
    doc_id: str
    index: int
    text: str
    section: list[str] = field(default_factory=list)
    page_start: str | None = None
    page_end: str | None = None
    page_index: int | None = None
    n_tokens: int = 0
    tags: Tags = field(default_factory=Tags)
    # Some of its text was read by OCR (a passage across a scanned and a text page is one): cited as "OCR text".
    # Not part of the text the model embeds, so it does not change kb.embed.PASSAGE_FORMAT.
    ocr: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SourceRecord:
    """One source's contribution to a document: a file (or one entry of it) as its reader gave it.

    A document's row and passages are derived from all its sources plus analyst edits (kb/merge.py), so
    removing or changing one source keeps what the others gave.
    """

    source_key: str  # path, or path#entry
    path: str
    entry: str
    kind: str  # one of SOURCE_KINDS
    document: Document  # metadata as this source gave it; document.doc_id is the id it would have alone
    chunks: list[Chunk] = field(default_factory=list)  # its passages (ids are given when the document is written)
    toolkit: ToolkitEntry | None = None
    front: str = ""  # the start of its text, normalised, to match a reference's title against
    added_at: str = ""  # when this content (and sensitivity) arrived; kept across unchanged re-ingests
    doc_id: str = ""  # the document it belongs to
    match: str | None = None  # why it joined that document: "same DOI", "same title, year and first author"
    alone: bool = False  # split off by an analyst: never merged automatically


@dataclass
class Edit:
    """An analyst's value for one field, anchored to the sources of the document it was made on."""

    field: str
    value: object
    edited_at: str


def chunk_id_for(doc_id: str, index: int) -> str:
    return f"{doc_id}:{index:05d}"


@dataclass
class OtherOutcome:
    band: str | None  # None where the source gives a figure but no band
    outcome: str


@dataclass
class Emmie:
    """College of Policing EMMIE coverage; None means not known, never a guess."""

    effect: str | None = None
    mechanism: str | None = None
    moderators: str | None = None
    implementation: str | None = None
    economic_cost: str | None = None


@dataclass
class ToolkitEntry:
    """A 'what works' approach as published (Youth Endowment Fund style).

    Missing figures are None and display as NOT_PUBLISHED, or NOT_CAPTURED when listed in `not_captured`
    (the source publishes it, our copy did not capture it); nothing here is ever computed.
    """

    slug: str
    approach: str
    impact_band: str | None  # HARMFUL | INSUFFICIENT EVIDENCE | LOW | MODERATE | HIGH
    impact_percent: float | None
    outcome_measured: str | None
    confidence_words: str | None = None
    confidence_rating: int | None = None
    cost_rating: int | None = None
    evidence_basis: str | None = None
    prevention_types: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    other_outcomes: list[OtherOutcome] = field(default_factory=list)
    emmie: Emmie = field(default_factory=Emmie)
    source_urls: list[str] = field(default_factory=list)
    date_retrieved: str | None = None
    toolkit_version: str | None = None
    notes: str | None = None
    not_captured: list[str] = field(default_factory=list)  # published by the source, not captured in our copy
    factors: list[str] = field(default_factory=list)
    priorities: list[int] = field(default_factory=list)
    who_levels: list[str] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)
    doc_id: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FileReport:
    """What ingesting one file did; `kb ingest --json` prints these."""

    path: str
    status: str  # ok | no_text | unchanged | failed
    reason: str | None = None
    documents: int = 0
    passages: int = 0
    embedded: int = 0
    doc_ids: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)  # "merged with: <title> (same DOI)", one per duplicate


@dataclass
class IngestReport:
    """What one ingestion run did, file by file."""

    files: list[FileReport] = field(default_factory=list)
    # Files of an ingested folder that are no longer in it, taken out (status "removed", reason why).
    removed: list[FileReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # about the run as a whole: a folder not pruned, and why

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def embedded(self) -> int:
        return sum(f.embedded for f in self.files)

    @property
    def duplicates_merged(self) -> int:
        return sum(len(f.merged) for f in self.files)

    def to_dict(self) -> dict:
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f.status] = counts.get(f.status, 0) + 1
        return {
            "files": [f.__dict__ for f in self.files],
            "removed": [f.__dict__ for f in self.removed],
            "notes": list(self.notes),
            "summary": {
                "files": len(self.files),
                "by_status": counts,
                "passages": sum(f.passages for f in self.files),
                "embedded": self.embedded,
                "duplicates_merged": self.duplicates_merged,
                "removed": len(self.removed),
            },
        }
