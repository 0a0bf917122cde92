"""Filters from in-memory bitmaps select exactly the rows of Filters.sql(), and rank exactly as the SQL path did."""

from __future__ import annotations

import numpy as np
import pytest
from kbfixtures import open_kb

import kb.search as ks
from kb.filterindex import FilterIndex, district_slug
from kb.search import DOC_FIELDS, Filters, Searcher

QUERIES = [
    "alcohol and weapon carrying among young people",
    "what works to reduce violence",
    "school exclusion and county lines exploitation",
    "mentoring programmes for children in care",
    "domestic abuse and mental health",
]


def filter_cases(cat) -> list[Filters]:
    """One filter of every kind, with values that occur in the knowledge base, and combinations of two."""

    def top(kind: str) -> str:
        return cat.query(
            "SELECT value FROM chunk_tags WHERE kind = ? GROUP BY value ORDER BY COUNT(*) DESC LIMIT 1", [kind]
        )[0][0]

    years = [r[0] for r in cat.query("SELECT DISTINCT year FROM documents WHERE year IS NOT NULL ORDER BY year")]
    types = [r[0] for r in cat.query("SELECT DISTINCT doc_type FROM documents ORDER BY doc_type")]
    factor, place = top("factor"), top("place")
    one = [
        Filters(factors=[factor]),
        Filters(factors=[factor], polarity="risk"),
        Filters(polarity="protective"),
        Filters(priorities=[int(top("priority"))]),
        Filters(who_levels=[top("who_level")]),
        Filters(doc_types=[types[0]]),
        Filters(doc_types=types[:2]),
        Filters(year_from=years[len(years) // 2]),
        Filters(year_to=years[len(years) // 2]),
        Filters(year_from=years[0], year_to=years[-1]),
        Filters(districts=[place.title()]),
        Filters(districts=["Sheffield"]),  # in no document
        Filters(sensitivities=["official"]),
        Filters(sensitivities=[]),  # fails closed: nothing
        Filters(factors=["no-such-factor"]),
    ]
    two = [
        Filters(factors=[factor], doc_types=[types[0]]),
        Filters(year_from=years[len(years) // 2], districts=[place]),
        Filters(priorities=[int(top("priority"))], sensitivities=["official"]),
    ]
    return one + two


@pytest.fixture(scope="module")
def searcher(corpus_data_dir):
    kb = open_kb(corpus_data_dir)
    yield Searcher(kb)
    kb.close()


def sql_rows(cat, f: Filters) -> set[int]:
    where, params = f.sql()
    return {
        r[0]
        for r in cat.query(
            f"SELECT c.rowid FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE {where}", params
        )
    }


def test_bitmaps_select_exactly_the_rows_of_the_sql_clause(searcher):
    cat = searcher.cat
    cases = filter_cases(cat)
    index = FilterIndex(cat, DOC_FIELDS)
    nonempty = 0
    for f in cases:
        want = sql_rows(cat, f)
        assert set(index.resolve(f)) == want, f
        nonempty += bool(want)
    assert nonempty >= len(cases) - 4, "most cases must select something, or the comparison proves little"


def old_search(s: Searcher, query: str, f: Filters, k: int = 10) -> list[tuple[int, float]]:
    """The filtered hybrid search as it was before the bitmaps: EXISTS clauses joined per matching row, and the
    exact index cut down by np.isin over every allowed rowid read from SQL (no filter bitmap, no blob)."""
    where, params = f.sql()
    w_text, w_heading = ks.BM25_COLUMN_WEIGHTS
    q = ks.fts_query(s.bm25_terms(query))
    rows = s.cat.query(
        f"""SELECT c.rowid, bm25(chunks_fts, {w_text}, {w_heading}) AS s FROM chunks_fts
            JOIN chunks c ON c.rowid = chunks_fts.rowid JOIN documents d ON d.doc_id = c.doc_id
            WHERE chunks_fts MATCH ? AND {where} ORDER BY s LIMIT ?""",
        [q, *params, ks.FUSION_DEPTH],
    )
    bm = [(r[0], -float(r[1])) for r in rows]
    allowed = sorted(sql_rows(s.cat, f))
    rowids, matrix = s._dense_index()._data  # the sample corpus is small: exact in memory
    keep = np.isin(rowids, np.asarray(allowed, dtype=np.int64))
    rowids, matrix = rowids[keep], matrix[keep]
    de = []
    if len(rowids):
        scores = matrix @ s.kb.embedder.encode_query(query)
        n = min(ks.FUSION_DEPTH, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        de = [(int(rowids[i]), float(scores[i])) for i in top]
    return s.rank(bm, de)[:k]


def test_filtered_hybrid_ranking_is_identical_to_the_sql_path(searcher):
    compared = 0
    for f in filter_cases(searcher.cat):
        for q in QUERIES:
            hits = searcher.search(q, k=10, filters=f).hits
            old = old_search(searcher, q, f)
            ids = searcher.cat.get_chunks([r for r, _ in old])
            # Same passages in the same order; scores equal up to float32 summation order (a whole-matrix
            # product and a gathered one may differ in the last bit).
            assert [h.chunk.chunk_id for h in hits] == [ids[r].chunk_id for r, _ in old], (q, f)
            assert [h.score for h in hits] == pytest.approx([s for _, s in old], abs=1e-5)
            compared += bool(hits)
    assert compared >= 40


@pytest.mark.parametrize("mode", ["bm25", "dense"])
def test_each_run_alone_honours_the_filter(searcher, mode):
    f = filter_cases(searcher.cat)[0]
    res = searcher.search(QUERIES[0], k=20, mode=mode, filters=f)
    assert res.hits
    allowed = sql_rows(searcher.cat, f)
    assert {searcher.cat.rowids_for_chunk_ids([h.chunk.chunk_id])[h.chunk.chunk_id] for h in res.hits} <= allowed


def test_filters_follow_a_catalogue_change(corpus_kb_copy):
    kb = open_kb(corpus_kb_copy)
    try:
        s = Searcher(kb)
        doc_type = kb.catalogue.query("SELECT doc_type FROM documents LIMIT 1")[0][0]
        f = Filters(doc_types=["renamed-type"])
        assert s.search("violence", k=5, filters=f).hits == []
        with kb.catalogue.transaction() as c:
            c.execute("UPDATE documents SET doc_type = 'renamed-type' WHERE doc_type = ?", [doc_type])
        hits = s.search("violence", k=5, filters=f).hits
        assert hits and all(h.document.doc_type == "renamed-type" for h in hits)
    finally:
        kb.close()


def test_a_document_level_field_is_one_line_of_doc_fields(searcher, monkeypatch):
    """A new document-level filter (a Filters field + its column in DOC_FIELDS) works in SQL and bitmaps alike."""
    monkeypatch.setitem(DOC_FIELDS, "publishers", "publisher")
    monkeypatch.setattr(Filters, "publishers", [], raising=False)
    publisher = searcher.cat.query("SELECT publisher FROM documents WHERE publisher IS NOT NULL LIMIT 1")
    if not publisher:
        pytest.skip("the sample corpus names no publisher")
    f = Filters()
    f.publishers = [publisher[0][0]]
    want = sql_rows(searcher.cat, f)
    assert want and set(FilterIndex(searcher.cat, DOC_FIELDS).resolve(f)) == want


def test_district_slug_lowercases_like_sqlite():
    assert district_slug("West Yorkshire") == "west-yorkshire"
    assert district_slug("Ÿork") == "Ÿork"  # SQLite's lower() leaves non-ASCII letters alone


def test_membership_blob_marks_exactly_the_allowed_rowids(searcher):
    from pyroaring import BitMap

    from kb.terms import membership_blob

    assert membership_blob(BitMap([0, 3])) == b"\x01\x00\x00\x01"
    assert membership_blob(BitMap()) == b""
    allowed = searcher.allowed(filter_cases(searcher.cat)[0])
    blob = membership_blob(allowed)
    # SQLite reads the blob as the BM25 run does: a row past its end is not allowed.
    got = searcher.cat.query("SELECT rowid FROM chunks WHERE substr(?, rowid + 1, 1) = x'01'", [blob])
    assert {r[0] for r in got} == set(allowed)
