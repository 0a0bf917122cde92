"""The toolkit entry file format as pydantic models: every field's type, range and vocabulary in one place."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

BANDS = ("HARMFUL", "INSUFFICIENT EVIDENCE", "LOW", "MODERATE", "HIGH")
# YEF's pages say "no clear evidence" for the same state; it must not become LOW or HARMFUL.
BAND_ALIASES = {"NO CLEAR EVIDENCE": "INSUFFICIENT EVIDENCE"}
PREVENTION_TYPES = ("Primary", "Secondary", "Tertiary")
CONFIDENCE_RANGE = (1, 5)  # YEF's evidence-quality padlocks
COST_RANGE = (1, 3)
EMMIE_FIELDS = ("effect", "mechanism", "moderators", "implementation", "economic_cost")
# Figures a source can publish that a copy may fail to capture (YEF's padlocks and cost are icons).
CAPTURABLE = (
    "impact_band",
    "impact_percent",
    "confidence_words",
    "confidence_rating",
    "cost_rating",
    "evidence_basis",
)
_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_DATE_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")
# What a required field is for, said when it is missing.
_WHY_REQUIRED = {
    "source_urls": ": every figure must be traceable to a source address",
    "date_retrieved": " (YYYY-MM or YYYY-MM-DD)",
    "sections": ": the prose that is searched and cited",
}


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected non-empty text, got {value!r}")
    return value.strip()


def _choice(allowed: tuple[str, ...]):
    by_key = {a.lower(): a for a in allowed}

    def check(value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in by_key:
            return by_key[value.strip().lower()]
        raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")

    return check


def _band(value: Any) -> str | None:
    if value is None:
        return None
    key = " ".join(value.split()).upper() if isinstance(value, str) else None
    key = BAND_ALIASES.get(key, key)
    if key not in BANDS:
        raise ValueError(f"{value!r} is not one of {', '.join(BANDS)}")
    return key


def _rating(lo: int, hi: int):
    def check(value: Any) -> Any:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi):
            raise ValueError(f"{value!r} is not a whole number from {lo} to {hi} (leave it out when not known)")
        return value

    return check


Text = Annotated[str, BeforeValidator(_text)]
Band = Annotated[str | None, BeforeValidator(_band)]


def _slug(value: Any) -> str:
    value = _text(value)
    if not _SLUG_RE.match(value):
        raise ValueError(f"{value!r} must be lower-case words joined by '-'")
    return value


def _factor(value: Any) -> str:
    # Ids are checked against the taxonomy by the tests, not here: a reader must not fail a
    # published entry because the taxonomy is being edited at the same time.
    value = _text(value)
    if not _SLUG_RE.match(value):
        raise ValueError(f"{value!r} is not a taxonomy id (lower-case words joined by '-')")
    return value


def _priority(value: Any, info: ValidationInfo) -> int:
    # The knowledge base's taxonomy says which priorities exist (validation context from load_entry).
    known = info.context["priorities"]
    if isinstance(value, bool) or value not in known:
        raise ValueError(f"{value!r} is not a priority of the taxonomy ({', '.join(map(str, known))})")
    return value


def _who_level(value: Any, info: ValidationInfo) -> str:
    return _choice(tuple(info.context["who_levels"]))(value)


def _url(value: Any) -> str:
    value = _text(value)
    parts = urlparse(value)
    if parts.scheme not in ("http", "https") or "." not in parts.netloc or " " in value:
        raise ValueError(f"{value!r} is not an http(s) address")
    return value


def _percent(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"expected a number such as 33 (not '33%'), got {value!r}")
    if not 0 <= value <= 100:
        raise ValueError(f"{value!r} is not a percentage from 0 to 100")
    return float(value)


def _date(value: Any) -> str:
    # YAML turns an unquoted 2026-11-05 into a date; accept it as written.
    if isinstance(value, dt.date):
        return value.isoformat()[:10]
    if not isinstance(value, str) or not _DATE_RE.match(value.strip()):
        raise ValueError(f"{value!r} is not a date written YYYY-MM or YYYY-MM-DD")
    return value.strip()


def _version(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else _text(value)


class _Strict(BaseModel):
    # An unknown key is a typo until proven otherwise (`impact_precent`), so it is an error, never ignored.
    model_config = ConfigDict(extra="forbid")


class OutcomeModel(_Strict):
    # No band is allowed: YEF sometimes gives only a percentage ("19% reduction in reoffending"),
    # which stays in the outcome text rather than being turned into a band.
    band: Band = None
    outcome: Text


class EmmieModel(_Strict):
    effect: Text | None = None
    mechanism: Text | None = None
    moderators: Text | None = None
    implementation: Text | None = None
    economic_cost: Text | None = None


class SectionModel(_Strict):
    heading: Text
    text: Annotated[str, BeforeValidator(lambda v: " ".join(_text(v).split()))]


class EntryModel(_Strict):
    approach: Text
    slug: Annotated[str, BeforeValidator(_slug)]
    impact_band: Band = None
    impact_percent: Annotated[float | None, BeforeValidator(_percent)] = None
    outcome_measured: Text | None = None
    confidence_words: Text | None = None
    confidence_rating: Annotated[int | None, BeforeValidator(_rating(*CONFIDENCE_RANGE))] = None
    cost_rating: Annotated[int | None, BeforeValidator(_rating(*COST_RANGE))] = None
    evidence_basis: Text | None = None
    prevention_types: list[Annotated[str, BeforeValidator(_choice(PREVENTION_TYPES))]] = []
    settings: list[Text] = []
    themes: list[Text] = []
    other_outcomes: list[OutcomeModel] = []
    emmie: EmmieModel = EmmieModel()
    source_urls: Annotated[list[Annotated[str, BeforeValidator(_url)]], Field(min_length=1)]
    date_retrieved: Annotated[str, BeforeValidator(_date)]
    toolkit_version: Annotated[str | None, BeforeValidator(_version)] = None
    notes: Text | None = None
    not_captured: list[Annotated[str, BeforeValidator(_choice(CAPTURABLE))]] = []
    factors: list[Annotated[str, BeforeValidator(_factor)]] = []
    priorities: list[Annotated[int, BeforeValidator(_priority)]] = []
    who_levels: list[Annotated[str, BeforeValidator(_who_level)]] = []
    sections: Annotated[list[SectionModel], Field(min_length=1)]

    @field_validator("sections")
    @classmethod
    def _headings_unique(cls, sections: list[SectionModel]) -> list[SectionModel]:
        # Headings become citation sections ("§ Is it effective?"), so they must be unambiguous.
        seen: set[str] = set()
        for s in sections:
            if s.heading in seen:
                raise ValueError(f"heading {s.heading!r} is used twice")
            seen.add(s.heading)
        return sections


FIELDS = tuple(EntryModel.model_fields)


def cross_field(data: dict) -> list[str]:
    """Problems between fields, checked on the raw mapping so they are reported with every other one at once."""
    out = []
    if data.get("impact_percent") is not None and data.get("outcome_measured") is None:
        out.append("field outcome_measured: is required when impact_percent is given: a percentage of what?")
    listed = data.get("not_captured")
    for i, name in enumerate(listed if isinstance(listed, list) else []):
        # Not captured means the source publishes it and our copy missed it: never both.
        if name in CAPTURABLE and data.get(name) is not None:
            out.append(f"field not_captured[{i}]: {name} has a value, so it was captured: remove one of the two")
    return out


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problems(exc: ValidationError) -> list[str]:
    """Each error as "field <where>: <what is wrong>", in words an analyst editing the file can act on."""
    out = []
    for err in exc.errors():
        where, kind = _where(err["loc"]), err["type"]
        if kind == "missing":
            message = "is required" + _WHY_REQUIRED.get(where, "")
        elif kind == "extra_forbidden":
            message = "is not a known field (see docs/toolkit-format.md)"
        elif kind == "too_short":
            message = f"needs at least one item, got {err['input']!r}"
        elif kind == "value_error":
            message = str(err["ctx"]["error"])
        elif kind == "list_type":
            message = f"expected a list, got {type(err['input']).__name__} {err['input']!r}"
        elif kind == "model_type":
            message = f"expected a mapping of fields, got {err['input']!r}"
        else:
            message = err["msg"]
        out.append(f"field {where}: {message}" if where else message)
    return out
