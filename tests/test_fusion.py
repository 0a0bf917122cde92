"""Hybrid fusion without a model: hand-made scores (the exact dense index is tested in test_dense.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kb.catalogue import Catalogue
from kb.models import Chunk, Document
from kb.rank import SECTION_WEIGHTS
from kb.search import DENSE_WEIGHT, Searcher


def searcher(tmp_path) -> Searcher:
    return Searcher(SimpleNamespace(catalogue=Catalogue(tmp_path / "catalogue.sqlite3")))


def test_fuse_is_a_weighted_sum_of_max_normalised_scores(tmp_path):
    fused = searcher(tmp_path).fuse([(1, 10.0), (2, 5.0)], [(2, 0.8), (3, 0.4)])
    w = DENSE_WEIGHT
    assert fused[1] == pytest.approx((1 - w) * 1.0 + w * 0.4 / 0.8)  # not in dense: that run's lowest score
    assert fused[2] == pytest.approx((1 - w) * 0.5 + w * 1.0)
    assert fused[3] == pytest.approx(w * 0.5)  # not in BM25: no term evidence
    assert searcher(tmp_path).rank([(1, 10.0), (2, 5.0)], [(2, 0.8), (3, 0.4)])[0][0] == 2


def test_fuse_with_one_run_keeps_that_runs_order(tmp_path):
    s = searcher(tmp_path)
    assert [r for r, _ in s.rank([], [(5, 0.3), (4, 0.2)])] == [5, 4]
    assert [r for r, _ in s.rank([(7, 2.0), (8, 1.0)], [])] == [7, 8]
    # All-negative similarities must not flip when divided by their (negative) best.
    assert [r for r, _ in s.rank([], [(1, -0.1), (2, -0.3)])] == [1, 2]


def test_a_reference_list_passage_scores_half_of_its_fused_score(tmp_path):
    cat = Catalogue(tmp_path / "catalogue.sqlite3")
    with cat.transaction() as c:
        doc = Document("d", "Paper", "research", "test", content_hash="d")
        chunks = [
            Chunk("d:00000", "d", 0, "findings", section=["Paper", "Results"]),
            Chunk("d:00001", "d", 1, "cited titles", section=["Paper", "References"]),
        ]
        cat.write_document(c, doc, chunks, ["h0", "h1"])
    ids = cat.rowids_for_chunk_ids(["d:00000", "d:00001"])
    s = Searcher(SimpleNamespace(catalogue=cat))
    bm = [(ids["d:00001"], 10.0), (ids["d:00000"], 8.0)]
    fused = s.fuse(bm, [])
    ranked = dict(s.rank(bm, []))
    assert ranked[ids["d:00001"]] == pytest.approx(fused[ids["d:00001"]] * SECTION_WEIGHTS["references"])
    assert ranked[ids["d:00000"]] == pytest.approx(fused[ids["d:00000"]])
    assert next(iter(ranked)) == ids["d:00000"]
