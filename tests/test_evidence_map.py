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
from ingest.tag import Tagger
from kb.evidence_map import (
    CSV_HEADER,
    EVIDENCE_DOC_TYPES,
    ID_CAP,
    MapError,
    build_approach_map,
    build_map,
    cell_studies,
)
from kb.ids import content_hash
from kb.models import Chunk, Document, chunk_id_for
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
    """(factor, column) -> (chunk ids, doc ids) of evidence documents, straight from the catalogue's tag rows."""
    con = sqlite3.connect(f"file:{data_dir / 'catalogue.sqlite3'}?mode=ro", uri=True)
    out: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
    marks = ",".join("?" * len(EVIDENCE_DOC_TYPES))
    for factor, col, chunk_id, doc_id in con.execute(
        f"""SELECT f.value, k.value, c.chunk_id, c.doc_id FROM chunk_tags f JOIN chunk_tags k
           ON k.chunk_rowid = f.chunk_rowid JOIN chunks c ON c.rowid = f.chunk_rowid
           JOIN documents d ON d.doc_id = c.doc_id
           WHERE f.kind = 'factor' AND k.kind = ? AND d.doc_type IN ({marks})""",
        (kind, *EVIDENCE_DOC_TYPES),
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
    with_strategy = [*EVIDENCE_DOC_TYPES, "strategy"]
    try:
        everything = build_map(kb, doc_types=with_strategy)
        public = build_map(kb, sensitivities=["official"], doc_types=with_strategy)
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


# -- the map counts studies, not passages ---------------------------------------------------------

KNIFE = "Young people who carry a knife are more likely to be victims of serious violence."
CELL = ("weapon-carrying", "3")
# One long document and five one-passage studies, each with its design; the design column is what the
# design classifier fills in (None: not recorded).
STUDIES = [
    ("long-report", "Knife carrying in West Yorkshire: a long report", "research", "observational", 50),
    ("study-sr", "Weapon carrying: a systematic review", "research", "systematic_review", 1),
    ("study-rct", "A randomised trial of a knife crime programme", "evaluation", "rct", 1),
    ("study-qe", "Knife carrying before and after a policy change", "research", "quasi_experimental", 1),
    ("study-qual", "Young people's accounts of carrying knives", "research", "qualitative", 1),
    ("study-none", "A local needs assessment", "needs_assessment", None, 1),
]


def _write_documents(kb, docs, sentence: str = KNIFE) -> None:
    """Write documents with real tagger tags into the catalogue (the map reads nothing else)."""
    tagger = Tagger()
    cat = kb.catalogue
    for doc_id, title, doc_type, design, n in docs:
        doc = Document(doc_id=doc_id, title=title, doc_type=doc_type, source=f"{doc_id}.pdf", year=2024)
        doc.content_hash = content_hash(doc_id)
        texts = [f"{sentence} Finding {i + 1} of {title}." for i in range(n)]
        chunks = [
            Chunk(chunk_id_for(doc_id, i), doc_id, i, t, ["Findings"], str(i + 1), str(i + 1), i + 1, 20, tags)
            for i, (t, tags) in enumerate(zip(texts, tagger.tag_many(texts), strict=True))
        ]
        with cat.transaction() as c:
            cat.write_document(c, doc, chunks, [content_hash(t) for t in texts])
            c.execute(
                "UPDATE documents SET study_design = ?, study_design_evidence = ? WHERE doc_id = ?",
                (design, f"the {design} phrase" if design else None, doc_id),
            )


@pytest.fixture(scope="module")
def studies_dir(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("studies-kb")
    kb = open_kb(data)
    try:
        _write_documents(kb, [*STUDIES, ("the-strategy", "A strategy for change", "strategy", None, 3)])
    finally:
        kb.close()
    return data


def test_a_cell_counts_six_studies_not_fifty_five_passages_and_not_the_strategy(studies_dir) -> None:
    emap = _map(studies_dir)
    assert emap["unit"] == "documents" and "strategy" not in emap["doc_types"]
    cell = next(r for r in emap["rows"] if r["factor"] == CELL[0])["cells"][CELL[1]]
    assert (cell["documents"], cell["passages"]) == (6, 55)
    assert cell["designs"] == {
        "systematic_review": 1,
        "rct": 1,
        "quasi_experimental": 1,
        "observational": 1,
        "qualitative": 1,
        "not_recorded": 1,
    }
    assert list(cell["designs"]) == [*emap["design_order"][:4], "qualitative", "not_recorded"]
    assert cell["strongest_design"] == "systematic_review"
    # Strongest design first, not the document with the most passages.
    assert cell["doc_ids"] == ["study-sr", "study-rct", "study-qe", "long-report", "study-qual", "study-none"]
    assert "the-strategy" not in cell["doc_ids"] and "strategy" not in cell["documents_by_type"]


def test_the_strategy_counts_only_when_asked_for(studies_dir) -> None:
    emap = _map(studies_dir, "--include", "strategy")
    cell = next(r for r in emap["rows"] if r["factor"] == CELL[0])["cells"][CELL[1]]
    assert (cell["documents"], cell["passages"]) == (7, 58)
    assert cell["documents_by_type"]["strategy"] == 1 and cell["designs"]["not_recorded"] == 2


def test_csv_and_grid_count_documents_by_default_passages_as_an_option(studies_dir) -> None:
    rows = list(csv.DictReader(io.StringIO(run_kb(studies_dir, "map", "--csv", check=True).stdout)))
    row = next(r for r in rows if (r["factor"], r["column"]) == CELL)
    assert (row["documents"], row["passages"], row["design_rct"], row["strongest_design"]) == (
        "6",
        "55",
        "1",
        "systematic_review",
    )
    grid = run_kb(studies_dir, "map", check=True, COLUMNS="200").stdout
    line = next(x for x in grid.splitlines() if "weapon-carrying" in x)
    assert "6 SR" in line and "55" not in line
    grid = run_kb(studies_dir, "map", "--unit", "passages", check=True, COLUMNS="200").stdout
    assert "55 SR" in next(x for x in grid.splitlines() if "weapon-carrying" in x)


def test_drill_down_lists_the_studies_with_design_and_best_passage(studies_dir) -> None:
    kb = open_kb(studies_dir)
    try:
        studies = cell_studies(kb, *CELL)
    finally:
        kb.close()
    assert [s.design for s in studies] == [
        "systematic_review",
        "rct",
        "quasi_experimental",
        "observational",
        "qualitative",
        "not_recorded",
    ]
    long = next(s for s in studies if s.document.doc_id == "long-report")
    assert long.passages == 50 and long.design_evidence == "the observational phrase"
    for s in studies:
        d = s.to_dict()
        assert "weapon-carrying" in {f.factor for f in s.best.tags.factors}
        assert ", p. " in d["citation"] and d["best_chunk_id"].startswith(s.document.doc_id)


def test_kb_map_cell_drills_down_to_the_studies(studies_dir) -> None:
    got = json.loads(run_kb(studies_dir, "map", "--cell", "weapon-carrying:3", "--json", check=True).stdout)
    assert [s["doc_id"] for s in got["studies"]][:3] == ["study-sr", "study-rct", "study-qe"]
    assert all(", p. " in s["citation"] for s in got["studies"])
    proc = run_kb(studies_dir, "map", "--cell", "weapon-carrying")
    assert proc.returncode == 2 and "FACTOR:COLUMN" in proc.stderr


def test_priority_6_column_says_why_it_is_empty(by_priority) -> None:
    six = next(c for c in by_priority["columns"] if c["id"] == "6")
    assert not TAXONOMY.factors_for_priority(6)
    assert "no risk or protective factor under Priority 6" in six["empty_reason"]
    assert all(c["empty_reason"] is None for c in by_priority["columns"] if c["id"] != "6")


def test_approach_view_crosses_every_factor_with_every_approach(corpus_data_dir) -> None:
    got = json.loads(run_kb(corpus_data_dir, "map", "--columns", "approach", "--json", check=True).stdout)
    assert {a["slug"] for a in got["approaches"]} == {e.slug for e in ENTRIES}
    assert [r["factor"] for r in got["rows"]] == list(TAXONOMY.factors)
    by_slug = {e.slug: e for e in ENTRIES}
    for row in got["rows"]:
        for slug, cell in row["cells"].items():
            assert cell["linked"] == (row["factor"] in by_slug[slug].factors)
    assert "toolkit" not in got["doc_types"]


def test_approach_view_counts_local_studies_that_name_the_approach(tmp_path) -> None:
    kb = open_kb(tmp_path)
    try:
        mentoring = next(e for e in ENTRIES if e.slug == "mentoring")
        toolkit_doc = Document(doc_id="toolkit:mentoring", title="Mentoring", doc_type="toolkit", source="m.yaml")
        with kb.catalogue.transaction() as c:
            kb.catalogue.write_document(c, toolkit_doc, [], [], toolkit=mentoring)
        mentored = "Mentoring by a trusted adult reduced knife carrying among the boys."
        docs = [("eval", "An evaluation", "evaluation", "rct", 2), ("plan", "A plan", "strategy", None, 1)]
        _write_documents(kb, docs, mentored)
        amap = build_approach_map(kb)
        with_plan = build_approach_map(kb, doc_types=[*EVIDENCE_DOC_TYPES, "strategy"])
    finally:
        kb.close()
    cells = {f: c for f, _, c in amap.rows}
    assert cells["trusted-adult"]["mentoring"].to_dict() == {
        "linked": True,
        "documents": 1,
        "passages": 2,
        "designs": {"rct": 1},
        "strongest_design": "rct",
        "doc_ids": ["eval"],
    }
    assert cells["weapon-carrying"]["mentoring"].linked is False
    assert cells["weapon-carrying"]["mentoring"].documents == 1
    assert {f: c for f, _, c in with_plan.rows}["trusted-adult"]["mentoring"].documents == 2
