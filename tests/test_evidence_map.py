"""The evidence map: every factor a row, counts equal the catalogue's tags, bands equal the entries' links."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from kbfixtures import CORPUS, open_kb, run_kb

from ingest.sources.toolkit import load_entry
from kb.evidence_map import CSV_HEADER, ID_CAP, MapError, build_map
from kb.taxonomy import load_taxonomy

ENTRIES = [load_entry(p) for p in sorted((CORPUS / "toolkit").glob("*.toolkit.yaml"))]
TAXONOMY = load_taxonomy()
STRENGTH = ["HIGH", "MODERATE", "LOW", "INSUFFICIENT EVIDENCE", "HARMFUL"]


def _map(data_dir: Path, *args: str) -> dict:
    return json.loads(run_kb(data_dir, "map", *args, "--json", check=True).stdout)


@pytest.fixture(scope="module")
def by_priority(corpus_data_dir) -> dict:
    return _map(corpus_data_dir)


@pytest.fixture(scope="module")
def by_level(corpus_data_dir) -> dict:
    return _map(corpus_data_dir, "--columns", "who_level")


def _tagged(data_dir: Path, kind: str) -> dict[tuple[str, str], tuple[set[str], set[str]]]:
    """(factor, column) -> (chunk ids, doc ids), straight from the catalogue's tag rows."""
    con = sqlite3.connect(f"file:{data_dir / 'catalogue.sqlite3'}?mode=ro", uri=True)
    out: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
    for factor, col, chunk_id, doc_id in con.execute(
        """SELECT f.value, k.value, c.chunk_id, c.doc_id FROM chunk_tags f JOIN chunk_tags k
           ON k.chunk_rowid = f.chunk_rowid JOIN chunks c ON c.rowid = f.chunk_rowid
           WHERE f.kind = 'factor' AND k.kind = ?""",
        (kind,),
    ):
        chunks, docs = out.setdefault((factor, col), (set(), set()))
        chunks.add(chunk_id)
        docs.add(doc_id)
    con.close()
    return out


def _expected_cell(factor: str, kind: str, col: str) -> tuple[str | None, set[str]]:
    """The strongest band and the slugs of the entries that link both the factor and the column."""
    linked = [
        e
        for e in ENTRIES
        if factor in e.factors and (int(col) in e.priorities if kind == "priority" else col in e.who_levels)
    ]
    bands = [e.impact_band for e in linked if e.impact_band]
    return (min(bands, key=STRENGTH.index) if bands else None), {e.slug for e in linked}


def test_every_factor_is_a_row_and_every_priority_a_column(by_priority) -> None:
    assert [r["factor"] for r in by_priority["rows"]] == list(TAXONOMY.factors)
    assert [c["id"] for c in by_priority["columns"]] == [str(n) for n in sorted(TAXONOMY.priorities)]
    for row in by_priority["rows"]:
        assert list(row["cells"]) == [str(n) for n in sorted(TAXONOMY.priorities)]
        home = {str(p) for p in TAXONOMY.factors[row["factor"]].priorities}
        assert {col for col, cell in row["cells"].items() if cell["linked"]} == home
    # The gaps are kept: the sample corpus leaves many cells empty, and they are still there.
    assert any(cell["passages"] == 0 for row in by_priority["rows"] for cell in row["cells"].values())


def test_bands_agree_with_the_entries_links(by_priority, by_level) -> None:
    by_slug = {e.slug: e for e in ENTRIES}
    for emap in (by_priority, by_level):
        for row in emap["rows"]:
            for col, cell in row["cells"].items():
                band, slugs = _expected_cell(row["factor"], emap["columns_kind"], col)
                assert cell["band"] == band, (row["factor"], col)
                assert set(cell["approaches"]) == slugs, (row["factor"], col)
                if band:
                    best = by_slug[cell["best_approach"]]
                    assert best.impact_band == band and cell["confidence"] == best.confidence_words


def test_harmful_approaches_are_named_even_under_a_stronger_band(by_priority) -> None:
    cell = next(r for r in by_priority["rows"] if r["factor"] == "prior-offending")["cells"]["1"]
    assert "prison-awareness-programmes" in cell["harmful"] and cell["band"] != "HARMFUL"


@pytest.mark.parametrize("kind", ["priority", "who_level"])
def test_counts_and_ids_equal_the_catalogue(corpus_data_dir, by_priority, by_level, kind) -> None:
    emap = by_priority if kind == "priority" else by_level
    tagged = _tagged(corpus_data_dir, kind)
    assert any(chunks for chunks, _ in tagged.values()), "the sample corpus has tagged passages"
    for row in emap["rows"]:
        for col, cell in row["cells"].items():
            chunks, docs = tagged.get((row["factor"], col), (set(), set()))
            assert (cell["passages"], cell["documents"]) == (len(chunks), len(docs)), (row["factor"], col)
            assert set(cell["chunk_ids"]) <= chunks and len(cell["chunk_ids"]) == min(len(chunks), ID_CAP)
            assert set(cell["doc_ids"]) <= docs and len(cell["doc_ids"]) == min(len(docs), ID_CAP)
            assert cell["chunk_ids_truncated"] == (len(chunks) > ID_CAP)
            assert sum(cell["documents_by_type"].values()) == len(docs)


def test_csv_has_one_line_per_cell_matching_the_json(corpus_data_dir, by_priority) -> None:
    out = run_kb(corpus_data_dir, "map", "--csv", check=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == CSV_HEADER
    assert len(rows) == len(TAXONOMY.factors) * len(TAXONOMY.priorities)
    cells = {(r["factor"], c): cell for r in by_priority["rows"] for c, cell in r["cells"].items()}
    for r in rows:
        cell = cells[(r["factor"], r["column"])]
        assert int(r["passages"]) == cell["passages"] and int(r["documents"]) == cell["documents"]
        assert (r["band"] or None) == cell["band"]
        assert [x for x in r["doc_ids"].split("; ") if x] == cell["doc_ids"]


def test_human_grid_and_bad_options(corpus_data_dir) -> None:
    out = run_kb(corpus_data_dir, "map", check=True, COLUMNS="160").stdout
    assert "substance-misuse" in out and "HARMFUL" in out
    proc = run_kb(corpus_data_dir, "map", "--json", "--csv")
    assert proc.returncode == 2 and "one of --json and --csv" in proc.stderr


def test_sensitive_documents_can_be_left_out_of_the_counts(corpus_kb_copy) -> None:
    con = sqlite3.connect(corpus_kb_copy / "catalogue.sqlite3")
    con.execute("UPDATE documents SET sensitivity = 'official-sensitive' WHERE doc_type = 'strategy'")
    con.commit()
    con.close()
    kb = open_kb(corpus_kb_copy)
    try:
        everything = build_map(kb)
        public = build_map(kb, sensitivities=["official"])
        with pytest.raises(MapError, match="columns must be one of"):
            build_map(kb, columns="district")
    finally:
        kb.close()
    assert [r.factor for r in public.rows] == [r.factor for r in everything.rows]
    assert any(c.documents_by_type.get("strategy") for r in everything.rows for c in r.cells.values())
    total = sum(c.passages for r in everything.rows for c in r.cells.values())
    assert sum(c.passages for r in public.rows for c in r.cells.values()) < total
    for r in public.rows:
        for c in r.cells.values():
            assert c.documents_by_type.get("strategy") is None
