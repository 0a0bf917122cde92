"""Search filters resolved to passage rowid sets: one bitmap per tag value and per document-level value, in memory."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from typing import TYPE_CHECKING

from pyroaring import BitMap, FrozenBitMap

from kb.rank import SECTION_WEIGHTS, section_kind

if TYPE_CHECKING:
    from kb.filters import Filters

# Filters fields matched against a passage tag (chunk_tags.kind); `factors` (with polarity) and
# `districts` (passage place tags or document districts) are resolved apart.
TAG_FIELDS = {"priorities": "priority", "who_levels": "who_level"}
# How many resolved filters are kept; researchers flip between a handful while reading results.
RESOLVED_CACHE = 64
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def district_slug(label: str) -> str:
    """A document district label as Filters.sql() compares it: SQLite's lower() (ASCII only), spaces to '-'."""
    return str(label).translate(_ASCII_LOWER).replace(" ", "-")


class FilterIndex:
    """Bitmaps of chunk rowids per (tag kind, value[, polarity]), per document-level column value and per
    year, read from the catalogue once and re-read after it changes.

    resolve() answers with the rowids a Filters allows, exactly the rows Filters.sql() selects,
    without a query per search.
    """

    def __init__(self, catalogue, doc_fields: dict[str, str]):
        self.cat = catalogue
        self.doc_fields = doc_fields  # Filters field -> documents column, e.g. doc_types -> doc_type
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._data: _Bitmaps | None = None
        self._resolved: dict[str, BitMap] = {}

    def _current(self) -> _Bitmaps:
        with self._lock:
            sig = self.cat.changes()
            if sig != self._seen or self._data is None:
                self._data = _Bitmaps.load(self.cat, list(self.doc_fields.values()))
                self._resolved = {}
                self._seen = sig
            return self._data

    def sections(self) -> dict[str, BitMap]:
        """Passages under a heading of each weighed kind (kb.rank.SECTION_WEIGHTS: references, summary)."""
        return self._current().sections

    def resolve(self, filters: Filters) -> BitMap:
        """The rowids of the passages the filters allow (frozen: cached and shared between searches)."""
        data = self._current()
        key = json.dumps(filters.__dict__, sort_keys=True, default=str)
        got = self._resolved.get(key)
        if got is None:
            got = FrozenBitMap(data.allowed(filters, self.doc_fields))
            if len(self._resolved) >= RESOLVED_CACHE:
                self._resolved.pop(next(iter(self._resolved)))
            self._resolved[key] = got
        return got


class _Bitmaps:
    """One snapshot of the catalogue's filterable values."""

    def __init__(self):
        self.all = BitMap()
        self.tags: dict[tuple, BitMap] = {}  # (kind, value) and (kind, value, polarity) and (kind, None, polarity)
        self.docs: dict[tuple[str, object], BitMap] = {}  # (column, value)
        self.years: dict[int, BitMap] = {}
        self.districts: dict[str, BitMap] = {}  # slug -> passages of documents naming that district
        self.sections: dict[str, BitMap] = {}

    @classmethod
    def load(cls, cat, columns: list[str]) -> _Bitmaps:
        b = cls()
        by_doc: dict[str, list[int]] = defaultdict(list)
        kinds: dict[str, list[int]] = {k: [] for k in SECTION_WEIGHTS}
        for rowid, doc_id, section in cat.query("SELECT rowid, doc_id, section FROM chunks"):
            by_doc[doc_id].append(rowid)
            if kind := section_kind(section):
                kinds[kind].append(rowid)
        b.sections = {k: BitMap(v) for k, v in kinds.items()}
        rows_of = {d: BitMap(r) for d, r in by_doc.items()}
        b.all = BitMap.union(*rows_of.values()) if rows_of else BitMap()
        cols = ", ".join(["doc_id", "year", "districts", *columns])
        docs: dict[tuple, list[BitMap]] = defaultdict(list)
        years: dict[int, list[BitMap]] = defaultdict(list)
        dists: dict[str, list[BitMap]] = defaultdict(list)
        for doc_id, year, districts, *values in cat.query(f"SELECT {cols} FROM documents"):
            rows = rows_of.get(doc_id)
            if rows is None:
                continue
            if year is not None:
                years[year].append(rows)
            for col, v in zip(columns, values, strict=True):
                if v is not None:
                    docs[(col, v)].append(rows)
            for d in json.loads(districts or "[]"):
                dists[district_slug(d)].append(rows)
        b.docs = {k: BitMap.union(*v) for k, v in docs.items()}
        b.years = {k: BitMap.union(*v) for k, v in years.items()}
        b.districts = {k: BitMap.union(*v) for k, v in dists.items()}
        tags: dict[tuple, list[int]] = defaultdict(list)
        for kind, value, polarity, rowid in cat.query("SELECT kind, value, polarity, chunk_rowid FROM chunk_tags"):
            tags[(kind, value)].append(rowid)
            if polarity is not None:
                tags[(kind, value, polarity)].append(rowid)
                tags[(kind, None, polarity)].append(rowid)
        b.tags = {k: BitMap(v) for k, v in tags.items()}
        return b

    def _tag(self, kind: str, values: list[str], polarity: str | None = None) -> BitMap:
        if not values:
            return self.tags.get((kind, None, polarity), BitMap())
        keys = [(kind, v, polarity) if polarity else (kind, v) for v in values]
        return BitMap.union(BitMap(), *(self.tags[k] for k in keys if k in self.tags))

    def allowed(self, f: Filters, doc_fields: dict[str, str]) -> BitMap:
        """The same rows as `chunks c JOIN documents d WHERE <Filters.sql()>`, as set algebra."""
        parts: list[BitMap] = []
        if f.factors or f.polarity:
            parts.append(self._tag("factor", f.factors, f.polarity))
        for name, kind in TAG_FIELDS.items():
            values = getattr(f, name)
            if values:
                parts.append(self._tag(kind, [str(v) for v in values]))
        for name, column in doc_fields.items():
            values = getattr(f, name)
            if values is not None and (values or name in f.EMPTY_MEANS_NONE):
                parts.append(BitMap.union(BitMap(), *(self.docs.get((column, v), BitMap()) for v in values)))
        if f.year_from or f.year_to:
            lo, hi = f.year_from or -(10**9), f.year_to or 10**9
            parts.append(BitMap.union(BitMap(), *(b for y, b in self.years.items() if lo <= y <= hi)))
        if f.districts:
            slugs = f.district_slugs()
            place = self._tag("place", slugs)
            parts.append(place | BitMap.union(BitMap(), *(self.districts.get(s, BitMap()) for s in slugs)))
        out = self.all
        for p in sorted(parts, key=len):  # smallest first: every intersection after it is cheap
            out = out & p
            if not out:
                break
        return out
