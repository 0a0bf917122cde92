"""Reader for 'what works' toolkit entries (`*.toolkit.yaml|yml|json`): validate, then one document."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from ingest.sources import ReadOptions, SourceError
from kb.ids import content_hash
from kb.models import Block, Document, Emmie, OtherOutcome, ParsedDocument, ReadResult, ToolkitEntry
from kb.taxonomy import Taxonomy, load_taxonomy

BANDS = ("HARMFUL", "INSUFFICIENT EVIDENCE", "LOW", "MODERATE", "HIGH")
# YEF's pages say "no clear evidence" for the same state; it must not become LOW or HARMFUL.
BAND_ALIASES = {"NO CLEAR EVIDENCE": "INSUFFICIENT EVIDENCE"}
PREVENTION_TYPES = ("Primary", "Secondary", "Tertiary")
CONFIDENCE_RANGE = (1, 5)  # YEF's evidence-quality padlocks
COST_RANGE = (1, 3)
EMMIE_FIELDS = ("effect", "mechanism", "moderators", "implementation", "economic_cost")
YEF_HOSTS = ("youthendowmentfund.org.uk",)
# Figures a source can publish that a copy may fail to capture (YEF's padlocks and cost are icons).
CAPTURABLE = (
    "impact_band",
    "impact_percent",
    "confidence_words",
    "confidence_rating",
    "cost_rating",
    "evidence_basis",
)
YEF = "Youth Endowment Fund"

FIELDS = (
    "approach",
    "slug",
    "impact_band",
    "impact_percent",
    "outcome_measured",
    "confidence_words",
    "confidence_rating",
    "cost_rating",
    "evidence_basis",
    "prevention_types",
    "settings",
    "themes",
    "other_outcomes",
    "emmie",
    "source_urls",
    "date_retrieved",
    "toolkit_version",
    "notes",
    "not_captured",
    "factors",
    "priorities",
    "who_levels",
    "sections",
)

_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_DATE_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")


class _Errors:
    """Collects every problem in one entry, so an analyst fixes the file in one pass, not one per run."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, field: str, message: str) -> None:
        self.items.append(f"field {field}: {message}")


def _is_number(value: Any) -> bool:
    # bool is an int in Python; `impact_percent: yes` must not pass as 1.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(data: dict, name: str, errors: _Errors, required: bool = False, prefix: str = "") -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            errors.add(prefix + name, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        errors.add(prefix + name, f"expected non-empty text, got {value!r}")
        return None
    return value.strip()


def _text_list(data: dict, name: str, errors: _Errors) -> list[str]:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(name, f"expected a list, got {type(value).__name__} {value!r}")
        return []
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            errors.add(f"{name}[{i}]", f"expected non-empty text, got {item!r}")
        else:
            out.append(item.strip())
    return out


def _band(value: Any, field: str, errors: _Errors) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        key = " ".join(value.split()).upper()
        key = BAND_ALIASES.get(key, key)
        if key in BANDS:
            return key
    errors.add(field, f"{value!r} is not one of {', '.join(BANDS)}")
    return None


def _rating(data: dict, name: str, bounds: tuple[int, int], errors: _Errors) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    lo, hi = bounds
    if not _is_int(value) or not lo <= value <= hi:
        errors.add(name, f"{value!r} is not a whole number from {lo} to {hi} (leave it out when not known)")
        return None
    return value


def _percent(data: dict, errors: _Errors) -> float | None:
    value = data.get("impact_percent")
    if value is None:
        return None
    if not _is_number(value):
        errors.add("impact_percent", f"expected a number such as 33 (not '33%'), got {value!r}")
        return None
    if not 0 <= value <= 100:
        errors.add("impact_percent", f"{value!r} is not a percentage from 0 to 100")
        return None
    return float(value)


def _choices(data: dict, name: str, allowed: tuple[str, ...], errors: _Errors) -> list[str]:
    by_key = {a.lower(): a for a in allowed}
    out = []
    for i, item in enumerate(_text_list(data, name, errors)):
        if item.lower() in by_key:
            out.append(by_key[item.lower()])
        else:
            errors.add(f"{name}[{i}]", f"{item!r} is not one of {', '.join(allowed)}")
    return out


def _factors(data: dict, errors: _Errors) -> list[str]:
    # Ids are checked against kb/taxonomy.toml by the tests, not here: a reader must not fail a
    # published entry because the taxonomy is being edited at the same time.
    out = []
    for i, item in enumerate(_text_list(data, "factors", errors)):
        if _SLUG_RE.match(item):
            out.append(item)
        else:
            errors.add(f"factors[{i}]", f"{item!r} is not a taxonomy id (lower-case words joined by '-')")
    return out


def _priorities(data: dict, known: list[int], errors: _Errors) -> list[int]:
    value = data.get("priorities")
    numbers = ", ".join(map(str, known))
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add("priorities", f"expected a list of the taxonomy's priority numbers ({numbers}), got {value!r}")
        return []
    out = []
    for i, item in enumerate(value):
        if _is_int(item) and item in known:
            out.append(item)
        else:
            errors.add(f"priorities[{i}]", f"{item!r} is not a priority of the taxonomy ({numbers})")
    return out


def _other_outcomes(data: dict, errors: _Errors) -> list[OtherOutcome]:
    value = data.get("other_outcomes")
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add("other_outcomes", f"expected a list of {{band, outcome}}, got {value!r}")
        return []
    out = []
    for i, item in enumerate(value):
        name = f"other_outcomes[{i}]"
        if not isinstance(item, dict):
            errors.add(name, f"expected a mapping with band and outcome, got {item!r}")
            continue
        for key in sorted(set(item) - {"band", "outcome"}):
            errors.add(f"{name}.{key}", "is not a known field (band, outcome)")
        outcome = _text(item, "outcome", errors, required=True, prefix=f"{name}.")
        if outcome is None:
            continue
        # No band is allowed: YEF sometimes gives only a percentage ("19% reduction in reoffending"),
        # which stays in the outcome text rather than being turned into a band.
        band = _band(item.get("band"), f"{name}.band", errors)
        out.append(OtherOutcome(band=band, outcome=outcome))  # type: ignore[arg-type]
    return out


def _emmie(data: dict, errors: _Errors) -> Emmie:
    value = data.get("emmie")
    if value is None:
        return Emmie()
    if not isinstance(value, dict):
        errors.add("emmie", f"expected a mapping of {', '.join(EMMIE_FIELDS)}, got {value!r}")
        return Emmie()
    for key in sorted(set(value) - set(EMMIE_FIELDS)):
        errors.add(f"emmie.{key}", f"is not one of {', '.join(EMMIE_FIELDS)}")
    found = {}
    for key in EMMIE_FIELDS:
        item = value.get(key)
        if item is None:
            continue
        if not isinstance(item, str) or not item.strip():
            errors.add(f"emmie.{key}", f"expected non-empty text, got {item!r}")
        else:
            found[key] = item.strip()
    return Emmie(**found)


def _urls(data: dict, errors: _Errors) -> list[str]:
    if data.get("source_urls") is None:
        errors.add("source_urls", "is required: every figure must be traceable to a source address")
        return []
    urls = _text_list(data, "source_urls", errors)
    if not urls and isinstance(data.get("source_urls"), list):
        errors.add("source_urls", "needs at least one address")
    for i, url in enumerate(urls):
        parts = urlparse(url)
        if parts.scheme not in ("http", "https") or "." not in parts.netloc or " " in url:
            errors.add(f"source_urls[{i}]", f"{url!r} is not an http(s) address")
    return urls


def _date(data: dict, errors: _Errors) -> str | None:
    value = data.get("date_retrieved")
    if value is None:
        errors.add("date_retrieved", "is required (YYYY-MM or YYYY-MM-DD)")
        return None
    # YAML turns an unquoted 2026-11-05 into a date; accept it as written.
    if isinstance(value, dt.date):
        return value.isoformat()[:10]
    if not isinstance(value, str) or not _DATE_RE.match(value.strip()):
        errors.add("date_retrieved", f"{value!r} is not a date written YYYY-MM or YYYY-MM-DD")
        return None
    return value.strip()


def _version(data: dict, errors: _Errors) -> str | None:
    value = data.get("toolkit_version")
    if value is None:
        return None
    if _is_number(value):
        return str(value)
    return _text(data, "toolkit_version", errors)


def _not_captured(data: dict, errors: _Errors) -> list[str]:
    """Fields the source publishes but the copy read did not capture: never 'not published', never guessed."""
    out = []
    for i, item in enumerate(_text_list(data, "not_captured", errors)):
        if item not in CAPTURABLE:
            errors.add(f"not_captured[{i}]", f"{item!r} is not one of {', '.join(CAPTURABLE)}")
        elif data.get(item) is not None:
            errors.add(f"not_captured[{i}]", f"{item} has a value, so it was captured: remove one of the two")
        else:
            out.append(item)
    return out


def _sections(data: dict, errors: _Errors) -> list[tuple[str, str]]:
    value = data.get("sections")
    if value is None:
        errors.add("sections", "is required: the prose that is searched and cited")
        return []
    if not isinstance(value, list) or not value:
        errors.add("sections", f"expected a non-empty list of {{heading, text}}, got {value!r}")
        return []
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        name = f"sections[{i}]"
        if not isinstance(item, dict):
            errors.add(name, f"expected a mapping with heading and text, got {item!r}")
            continue
        for key in sorted(set(item) - {"heading", "text"}):
            errors.add(f"{name}.{key}", "is not a known field (heading, text)")
        heading, text = item.get("heading"), item.get("text")
        if not isinstance(heading, str) or not heading.strip():
            errors.add(f"{name}.heading", f"expected non-empty text, got {heading!r}")
            continue
        if not isinstance(text, str) or not text.strip():
            errors.add(f"{name}.text", f"expected non-empty text, got {text!r}")
            continue
        # Headings become citation sections ("§ Is it effective?"), so they must be unambiguous.
        if heading.strip() in seen:
            errors.add(f"{name}.heading", f"{heading!r} is used twice")
            continue
        seen.add(heading.strip())
        out.append((heading.strip(), " ".join(text.split())))
    return out


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
    errors = _Errors()
    for key in sorted(set(data) - set(FIELDS), key=str):
        errors.add(str(key), "is not a known field (see docs/toolkit-format.md)")
    approach = _text(data, "approach", errors, required=True)
    slug = _text(data, "slug", errors, required=True)
    if slug is not None and not _SLUG_RE.match(slug):
        errors.add("slug", f"{slug!r} must be lower-case words joined by '-'")
    percent = _percent(data, errors)
    outcome = _text(data, "outcome_measured", errors)
    if data.get("impact_percent") is not None and data.get("outcome_measured") is None:
        errors.add("outcome_measured", "is required when impact_percent is given: a percentage of what?")
    entry = ToolkitEntry(
        slug=slug or "",
        approach=approach or "",
        impact_band=_band(data.get("impact_band"), "impact_band", errors),
        impact_percent=percent,
        outcome_measured=outcome,
        confidence_words=_text(data, "confidence_words", errors),
        confidence_rating=_rating(data, "confidence_rating", CONFIDENCE_RANGE, errors),
        cost_rating=_rating(data, "cost_rating", COST_RANGE, errors),
        evidence_basis=_text(data, "evidence_basis", errors),
        prevention_types=_choices(data, "prevention_types", PREVENTION_TYPES, errors),
        settings=_text_list(data, "settings", errors),
        themes=_text_list(data, "themes", errors),
        other_outcomes=_other_outcomes(data, errors),
        emmie=_emmie(data, errors),
        source_urls=_urls(data, errors),
        date_retrieved=_date(data, errors),
        toolkit_version=_version(data, errors),
        notes=_text(data, "notes", errors),
        not_captured=_not_captured(data, errors),
        factors=_factors(data, errors),
        priorities=_priorities(data, sorted(tax.priorities), errors),
        who_levels=_choices(data, "who_levels", tuple(tax.who_levels), errors),
        sections=_sections(data, errors),
    )
    if errors.items:
        raise SourceError(path, "; ".join(errors.items))
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
