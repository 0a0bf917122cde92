"""Reader for 'what works' toolkit entries (`*.toolkit.yaml|yml|json`): validate, then one document."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import yaml
from pydantic import ValidationError

from ingest.sources import ReadOptions, SourceError
from ingest.sources.toolkit_model import BANDS, FIELDS, EntryModel, cross_field, problems
from kb.ids import content_hash
from kb.models import Block, Document, Emmie, OtherOutcome, ParsedDocument, ReadResult, ToolkitEntry
from kb.taxonomy import Taxonomy, load_taxonomy

__all__ = ["BANDS", "FIELDS", "canonical_text", "load_entry", "read"]

YEF_HOSTS = ("youthendowmentfund.org.uk",)
YEF = "Youth Endowment Fund"


def _load_data(path: Path) -> dict:
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(path, f"not a text file (not UTF-8: {exc.reason}); expected YAML or JSON") from exc
    except OSError as exc:
        raise SourceError(path, f"cannot be opened: {exc.strerror}") from exc
    if path.name.lower().endswith(".json"):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SourceError(path, f"not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    else:
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            at = f" at line {where.line + 1}" if where is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise SourceError(path, f"not valid YAML: {problem}{at}") from exc
    if not isinstance(data, dict):
        raise SourceError(path, f"expected a mapping of fields (approach: ..., slug: ...), got {type(data).__name__}")
    return data


def load_entry(path: str | Path, taxonomy: Taxonomy | None = None) -> ToolkitEntry:
    """Load and validate one entry; SourceError names the file and every field that is wrong.

    Priorities and WHO levels are the taxonomy's (the knowledge base's; read alone, the packaged one)."""
    path = Path(path)
    tax = taxonomy or load_taxonomy()
    data = _load_data(path)
    found = cross_field(data)
    context = {"priorities": sorted(tax.priorities), "who_levels": tuple(tax.who_levels)}
    try:
        model = EntryModel.model_validate(data, context=context)
    except ValidationError as exc:
        found = problems(exc) + found
    if found:
        raise SourceError(path, "; ".join(found))
    fields = model.model_dump(exclude={"other_outcomes", "emmie", "sections"})
    entry = ToolkitEntry(
        **fields,
        other_outcomes=[OtherOutcome(band=o.band, outcome=o.outcome) for o in model.other_outcomes],
        emmie=Emmie(**model.emmie.model_dump()),
        sections=[(s.heading, s.text) for s in model.sections],
    )
    # The slug, not a content hash: correcting a figure or a sentence must update the same
    # document (its chunks replaced) rather than add a second copy of the approach.
    entry.doc_id = f"toolkit:{entry.slug}"
    return entry


def _publisher(url: str) -> str | None:
    host = urlparse(url).netloc.lower()
    if any(host == h or host.endswith("." + h) for h in YEF_HOSTS):
        return YEF
    return None


def canonical_text(entry: ToolkitEntry) -> str:
    """Every field in a fixed order, so any change to the entry changes its content hash."""
    data = entry.to_dict()
    data.pop("doc_id")
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def read(path: Path, options: ReadOptions) -> ReadResult:
    """Read one toolkit entry as one document whose blocks are its prose sections."""
    entry = load_entry(path, options.taxonomy)
    url = entry.source_urls[0]
    document = Document(
        doc_id=entry.doc_id,
        title=entry.approach,
        doc_type=options.doc_type or "toolkit",
        source=str(path),
        # The year the page was read is not the year it was published, which the toolkit does not give.
        year=None,
        publisher=_publisher(url),
        url=url,
        keywords=list(entry.themes),
        sensitivity=options.sensitivity,
        content_hash=content_hash(canonical_text(entry)),
    )
    blocks = [Block(text=text, section=[entry.approach, heading]) for heading, text in entry.sections]
    parsed = ParsedDocument(document=document, blocks=blocks, toolkit=entry)
    return ReadResult(path=str(path), documents=[parsed])
