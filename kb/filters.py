"""Search filters: what a researcher narrows a search to, and the same rows as one SQL WHERE clause."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import ClassVar

# Document-level filters: Filters field -> documents column; the passages of a document whose column holds
# one of the listed values pass. One line here adds such a filter to both the SQL clause and the bitmaps.
DOC_FIELDS = {"doc_types": "doc_type", "study_designs": "study_design", "sensitivities": "sensitivity"}


@dataclass
class Filters:
    factors: list[str] = field(default_factory=list)
    polarity: str | None = None
    priorities: list[int] = field(default_factory=list)
    who_levels: list[str] = field(default_factory=list)
    doc_types: list[str] = field(default_factory=list)
    year_from: int | None = None
    year_to: int | None = None
    districts: list[str] = field(default_factory=list)
    study_designs: list[str] = field(default_factory=list)
    # None = every sensitivity; the app narrows this for viewers who are not signed in as internal.
    sensitivities: list[str] | None = None

    # Fields where an empty list allows nothing (rather than meaning "no filter"): fail closed.
    EMPTY_MEANS_NONE: ClassVar[frozenset[str]] = frozenset({"sensitivities"})

    def is_empty(self) -> bool:
        return not any(
            v is not None if f.name in self.EMPTY_MEANS_NONE else bool(v)
            for f in fields(self)
            for v in [getattr(self, f.name)]
        )

    def district_slugs(self) -> list[str]:
        """Passage place tags are taxonomy slugs ("leeds"); document districts are labels ("Leeds")."""
        return [re.sub(r"\s+", "-", d.strip().lower()) for d in self.districts]

    def sql(self) -> tuple[str, list]:
        """A WHERE clause over `chunks c JOIN documents d` (kb.filterindex resolves the same rows from bitmaps)."""
        where: list[str] = []
        params: list = []

        def tag_exists(kind: str, values: list[str], polarity: str | None = None) -> None:
            cond = "t.chunk_rowid = c.rowid AND t.kind = ?"
            p: list = [kind]
            if values:
                cond += f" AND t.value IN ({','.join('?' * len(values))})"
                p += values
            if polarity:
                cond += " AND t.polarity = ?"
                p.append(polarity)
            where.append(f"EXISTS (SELECT 1 FROM chunk_tags t WHERE {cond})")
            params.extend(p)

        if self.factors or self.polarity:
            tag_exists("factor", self.factors, self.polarity)
        if self.priorities:
            tag_exists("priority", [str(p) for p in self.priorities])
        if self.who_levels:
            tag_exists("who_level", self.who_levels)
        for name, column in DOC_FIELDS.items():
            values = getattr(self, name)
            if values is not None and (values or name in self.EMPTY_MEANS_NONE):
                where.append(f"d.{column} IN ({','.join('?' * len(values)) or 'NULL'})")
                params += values
        if self.year_from:
            where.append("d.year >= ?")
            params.append(self.year_from)
        if self.year_to:
            where.append("d.year <= ?")
            params.append(self.year_to)
        if self.districts:
            slugs = self.district_slugs()
            marks = ",".join("?" * len(slugs))
            where.append(
                f"""(EXISTS (SELECT 1 FROM chunk_tags t WHERE t.chunk_rowid = c.rowid AND t.kind = 'place'
                    AND t.value IN ({marks}))
                    OR EXISTS (SELECT 1 FROM json_each(d.districts) j
                               WHERE replace(lower(j.value), ' ', '-') IN ({marks})))"""
            )
            params += slugs + slugs
        return (" AND ".join(where) or "1"), params
