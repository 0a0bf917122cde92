"""The taxonomy: factors, priorities, WHO levels, crime types, cohorts and places, loaded from TOML."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kb.models import POLARITIES, STUDY_DESIGNS

DEFAULT_PATH = Path(__file__).with_name("taxonomy.toml")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class TaxonomyError(ValueError):
    """The taxonomy file is wrong; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class WhoLevel:
    id: str
    label: str
    description: str


@dataclass(frozen=True)
class Priority:
    number: int
    name: str
    description: str
    who_level: str | None = None


@dataclass(frozen=True)
class Factor:
    id: str
    label: str
    polarity: str  # default polarity: risk | protective
    priorities: tuple[int, ...]
    who_level: str
    description: str
    synonyms: tuple[str, ...]
    exact: tuple[str, ...] = ()
    cased: tuple[str, ...] = ()  # matched in exactly this case: "SEND" the acronym, never "send" the verb


@dataclass(frozen=True)
class Term:
    """A crime type, cohort or place: something to find in text, without polarity."""

    id: str
    label: str
    synonyms: tuple[str, ...]
    exact: tuple[str, ...] = ()
    kind: str | None = None  # places only: district | county
    cased: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolarityCues:
    protective: tuple[str, ...]
    risk: tuple[str, ...]
    negators: tuple[str, ...]
    ignore: tuple[str, ...]


@dataclass(frozen=True)
class DesignVocab:
    """The phrases that say a document has one study design (ingest/design.py)."""

    id: str
    label: str
    phrases: tuple[str, ...]
    weak: tuple[str, ...] = ()


@dataclass(frozen=True)
class DesignCues:
    self_: tuple[str, ...] = ()
    background: tuple[str, ...] = ()
    neutral: tuple[str, ...] = ()


@dataclass
class Taxonomy:
    path: Path
    factors: dict[str, Factor]
    priorities: dict[int, Priority]
    who_levels: dict[str, WhoLevel]
    crime_types: dict[str, Term]
    cohorts: dict[str, Term]
    places: dict[str, Term]
    cues: PolarityCues
    designs: dict[str, DesignVocab] = field(default_factory=dict)
    design_cues: DesignCues = field(default_factory=DesignCues)
    countries: dict[str, tuple[str, ...]] = field(default_factory=dict)  # canonical name -> names as written
    _names: dict[str, str] = field(default_factory=dict, repr=False)

    def factor(self, factor_id: str) -> Factor:
        try:
            return self.factors[factor_id]
        except KeyError:
            raise KeyError(f"unknown factor {factor_id!r}; known: {', '.join(sorted(self.factors))}") from None

    def resolve_factor(self, name: str) -> str | None:
        """The factor id for an id, label or synonym typed by a person (case-insensitive), else None."""
        if not self._names:
            for f in self.factors.values():
                for n in (*f.synonyms, *f.exact, *f.cased, f.label, f.id):
                    self._names.setdefault(n.lower(), f.id)
        return self._names.get(name.strip().lower())

    def districts(self) -> list[Term]:
        return [p for p in self.places.values() if p.kind == "district"]

    def factors_for_priority(self, number: int) -> list[Factor]:
        return [f for f in self.factors.values() if number in f.priorities]


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read and validate a taxonomy file (the packaged `kb/taxonomy.toml` by default)."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaxonomyError(f"{path}: taxonomy file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise TaxonomyError(f"{path}: not valid TOML ({e}); fix the syntax and reload") from None
    return _Validator(path).build(raw)


class _Validator:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, entry: str, fld: str, problem: str) -> TaxonomyError:
        return TaxonomyError(f"{self.path}: [{entry}] field '{fld}': {problem}")

    def text(self, d: dict, entry: str, fld: str, required: bool = True) -> str | None:
        v = d.get(fld)
        if v is None and not required:
            return None
        if not isinstance(v, str) or not v.strip():
            raise self.fail(entry, fld, "missing or empty; a non-empty string is required")
        return v.strip()

    def strings(self, d: dict, entry: str, fld: str, required: bool) -> tuple[str, ...]:
        v = d.get(fld, [])
        if not isinstance(v, list) or not all(isinstance(s, str) and s.strip() for s in v):
            raise self.fail(entry, fld, "must be a list of non-empty strings")
        if required and not v:
            raise self.fail(entry, fld, "must list at least one term to match")
        return tuple(s.strip() for s in v)

    def table(self, raw: dict, name: str) -> dict:
        v = raw.get(name, {})
        if not isinstance(v, dict):
            raise self.fail(name, name, "must be a table of entries keyed by id")
        for key in v:
            if not _SLUG.match(key):
                raise self.fail(f"{name}.{key}", "id", "ids are lowercase slugs like 'substance-misuse'")
        return v

    def build(self, raw: dict) -> Taxonomy:
        who_levels: dict[str, WhoLevel] = {}
        for i, w in enumerate(raw.get("who_levels", [])):
            entry = f"who_levels #{i + 1}"
            wid = self.text(w, entry, "id")
            who_levels[wid] = WhoLevel(wid, self.text(w, entry, "label"), self.text(w, entry, "description"))
        if not who_levels:
            raise self.fail("who_levels", "who_levels", "no WHO levels defined")

        priorities: dict[int, Priority] = {}
        for i, p in enumerate(raw.get("priorities", [])):
            entry = f"priorities #{i + 1}"
            number = p.get("number")
            if not isinstance(number, int) or number in priorities:
                raise self.fail(entry, "number", f"must be a unique integer, got {number!r}")
            level = self.text(p, entry, "who_level", required=False)
            if level is not None and level not in who_levels:
                raise self.fail(entry, "who_level", f"{level!r} is not one of {sorted(who_levels)}")
            priorities[number] = Priority(
                number, self.text(p, entry, "name"), self.text(p, entry, "description"), level
            )
        if not priorities:
            raise self.fail("priorities", "priorities", "no priorities defined")

        factors: dict[str, Factor] = {}
        for fid, f in self.table(raw, "factors").items():
            entry = f"factors.{fid}"
            polarity = self.text(f, entry, "polarity")
            if polarity not in POLARITIES:
                raise self.fail(entry, "polarity", f"{polarity!r} is not one of {list(POLARITIES)}")
            prios = f.get("priorities")
            if not isinstance(prios, list) or not prios or any(p not in priorities for p in prios):
                raise self.fail(entry, "priorities", f"{prios!r}: list priority numbers from {sorted(priorities)}")
            level = self.text(f, entry, "who_level")
            if level not in who_levels:
                raise self.fail(entry, "who_level", f"{level!r} is not one of {sorted(who_levels)}")
            factors[fid] = Factor(
                id=fid,
                label=self.text(f, entry, "label"),
                polarity=polarity,
                priorities=tuple(sorted(prios)),
                who_level=level,
                description=self.text(f, entry, "description"),
                synonyms=self.strings(f, entry, "synonyms", required=True),
                exact=self.strings(f, entry, "exact", required=False),
                cased=self.strings(f, entry, "cased", required=False),
            )
        if not factors:
            raise self.fail("factors", "factors", "no factors defined")

        cues_raw = raw.get("polarity_cues", {})
        cues = PolarityCues(
            protective=self.strings(cues_raw, "polarity_cues", "protective", required=True),
            risk=self.strings(cues_raw, "polarity_cues", "risk", required=True),
            negators=self.strings(cues_raw, "polarity_cues", "negators", required=False),
            ignore=self.strings(cues_raw, "polarity_cues", "ignore", required=False),
        )
        return Taxonomy(
            path=self.path,
            factors=factors,
            priorities=priorities,
            who_levels=who_levels,
            crime_types=self.terms(raw, "crime_types"),
            cohorts=self.terms(raw, "cohorts"),
            places=self.terms(raw, "places"),
            cues=cues,
            designs=self.designs(raw),
            design_cues=DesignCues(
                self_=self.strings(raw.get("design_cues", {}), "design_cues", "self", required=False),
                background=self.strings(raw.get("design_cues", {}), "design_cues", "background", required=False),
                neutral=self.strings(raw.get("design_cues", {}), "design_cues", "neutral", required=False),
            ),
            countries={
                name: self.strings(raw.get("countries", {}), "countries", name, required=True)
                for name in raw.get("countries", {})
            },
        )

    def designs(self, raw: dict) -> dict[str, DesignVocab]:
        """`[designs.<label>]`: labels are the fixed study designs (kb.models.STUDY_DESIGNS), not free slugs."""
        table = raw.get("designs", {})
        if not isinstance(table, dict):
            raise self.fail("designs", "designs", "must be a table of designs keyed by label")
        out = {}
        for did, d in table.items():
            entry = f"designs.{did}"
            if did not in STUDY_DESIGNS:
                raise self.fail(entry, "id", f"{did!r} is not a study design; use one of {list(STUDY_DESIGNS)}")
            out[did] = DesignVocab(
                id=did,
                label=self.text(d, entry, "label"),
                phrases=self.strings(d, entry, "phrases", required=True),
                weak=self.strings(d, entry, "weak", required=False),
            )
        return out

    def terms(self, raw: dict, name: str) -> dict[str, Term]:
        out = {}
        for tid, t in self.table(raw, name).items():
            entry = f"{name}.{tid}"
            kind = self.text(t, entry, "kind", required=name == "places")
            if kind is not None and kind not in ("district", "county"):
                raise self.fail(entry, "kind", f"{kind!r} is not 'district' or 'county'")
            out[tid] = Term(
                id=tid,
                label=self.text(t, entry, "label"),
                synonyms=self.strings(t, entry, "synonyms", required=True),
                exact=self.strings(t, entry, "exact", required=False),
                kind=kind,
                cased=self.strings(t, entry, "cased", required=False),
            )
        return out


def taxonomy_markdown(tax: Taxonomy) -> str:
    """The analysts' reference page (docs/taxonomy.md), generated so it never drifts from the file."""
    lines = [
        "# Taxonomy",
        "",
        "Generated from `kb/taxonomy.toml` by `python -m kb.taxonomy > docs/taxonomy.md`; a test fails when it",
        "is out of date. Edit the TOML (its header explains how), then regenerate this page.",
        "",
        "## Priorities (West Yorkshire Response Strategy 2023)",
        "",
        "| # | priority | WHO level | factors filed under it |",
        "|---|---|---|---|",
    ]
    for n, p in sorted(tax.priorities.items()):
        names = ", ".join(f"`{f.id}`" for f in tax.factors_for_priority(n)) or "—"
        lines.append(f"| {n} | {p.name} | {p.who_level or '—'} | {names} |")
    lines += ["", "## Factors", "", "| id | label | default polarity | priorities | WHO level | synonyms |"]
    lines.append("|---|---|---|---|---|---|")
    for f in tax.factors.values():
        syn = "; ".join([*f.synonyms, *f.exact, *f.cased])
        pri = ", ".join(str(p) for p in f.priorities) or "—"
        lines.append(f"| `{f.id}` | {f.label} | {f.polarity} | {pri} | {f.who_level} | {syn} |")
    for title, table in (("Crime types", tax.crime_types), ("Cohorts", tax.cohorts), ("Places", tax.places)):
        lines += ["", f"## {title}", "", "| id | label | matched by |", "|---|---|---|"]
        for t in table.values():
            lines.append(f"| `{t.id}` | {t.label} | {'; '.join([*t.synonyms, *t.exact, *t.cased])} |")
    if tax.designs:
        lines += ["", "## Study designs", "", "| design | label | phrases (weak ones in italics) |", "|---|---|---|"]
        for d in tax.designs.values():
            words = "; ".join([*d.phrases, *(f"*{w}*" for w in d.weak)])
            lines.append(f"| `{d.id}` | {d.label} | {words} |")
        c = tax.design_cues
        lines += ["", f"Neutral (sampling, not assignment): {'; '.join(c.neutral)}."]
    if tax.countries:
        lines += ["", "## Countries", "", "| country | matched by |", "|---|---|"]
        for name, aliases in tax.countries.items():
            lines.append(f"| {name} | {'; '.join(aliases)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(taxonomy_markdown(load_taxonomy()), end="")
