"""Dense search behind one interface: the factory's choices, and each implementation on a real knowledge base."""

from __future__ import annotations

import numpy as np
import pytest
from kbfixtures import open_kb
from pyroaring import BitMap, FrozenBitMap

import kb.dense as kd
from kb.catalogue import Catalogue
from kb.config import load_settings
from kb.dense import ChromaDense, ExactDense, SplitDense, create_dense, dense_kind
from kb.models import Chunk, Document
from kb.search import Filters, Searcher
from kb.vectors import VectorStore

QUERY = "alcohol and weapon carrying among young people"


def _catalogue_with(tmp_path, vectors: dict[str, list[float]]) -> Catalogue:
    cat = Catalogue(tmp_path / "catalogue.sqlite3")
    with cat.transaction() as c:
        for doc_id in vectors:
            doc = Document(doc_id, doc_id, "research", "test", content_hash=doc_id)
            cat.write_document(c, doc, [Chunk(f"{doc_id}:00000", doc_id, 0, f"text of {doc_id}")], [f"h-{doc_id}"])
    cat.cache_vectors("m", [(f"h-{d}", np.asarray(v, dtype=np.float32)) for d, v in vectors.items()])
    return cat


def test_exact_ranks_by_cosine_and_honours_allowed_rows(tmp_path):
    cat = _catalogue_with(tmp_path, {"a": [1, 0], "b": [0.6, 0.8], "c": [0, 1]})
    idx = ExactDense(cat, "m")
    idx.refresh()
    assert len(idx) == 3
    rid = cat.rowids_for_chunk_ids(["a:00000", "b:00000", "c:00000"])
    got = idx.search(np.array([1, 0], dtype=np.float32), 2)
    assert [r for r, _ in got] == [rid["a:00000"], rid["b:00000"]]
    assert got[1][1] == pytest.approx(0.6)
    for allowed in (BitMap([rid["c:00000"]]), FrozenBitMap([rid["c:00000"]]), [rid["c:00000"]]):
        assert [r for r, _ in idx.search(np.array([1, 0], dtype=np.float32), 5, allowed)] == [rid["c:00000"]]
    assert idx.search(np.array([1, 0], dtype=np.float32), 5, BitMap()) == []


def test_exact_reloads_after_another_process_changes_the_catalogue(tmp_path):
    cat = _catalogue_with(tmp_path, {"a": [1, 0], "b": [0, 1]})
    idx = ExactDense(cat, "m")
    idx.refresh()
    other = Catalogue(tmp_path / "catalogue.sqlite3")  # as `kb remove` in another process would
    with other.transaction() as c:
        other.delete_document(c, "a")
    other.close()
    idx.refresh()
    assert len(idx) == 1
    assert [r for r, _ in idx.search(np.array([1, 0], dtype=np.float32), 5)] == list(
        cat.rowids_for_chunk_ids(["b:00000"]).values()
    )


def test_factory_picks_by_mode_and_size(tmp_path):
    embedded = load_settings(tmp_path, env={})
    server = load_settings(tmp_path, env={"KB_CHROMA_URL": "http://127.0.0.1:9"})
    assert dense_kind(embedded, kd.UNFILTERED_EXACT_LIMIT) == "exact"
    assert dense_kind(embedded, kd.UNFILTERED_EXACT_LIMIT + 1) == "hnsw+exact"
    assert dense_kind(embedded, kd.EXACT_INDEX_LIMIT + 1) == "hnsw"
    assert dense_kind(server, 10) == "hnsw"
    cat = Catalogue(tmp_path / "catalogue.sqlite3")

    def never():  # creating an index must not open Chroma (a new process would import it for nothing)
        raise AssertionError("the vector store was opened")

    make = lambda s, n: create_dense(s, cat, n, model_id="m", store=never)  # noqa: E731
    assert type(make(embedded, 10)) is ExactDense
    split = make(embedded, kd.UNFILTERED_EXACT_LIMIT + 1)
    assert isinstance(split, SplitDense) and type(split.filtered) is ExactDense
    assert type(split.unfiltered) is ChromaDense
    assert type(make(embedded, kd.EXACT_INDEX_LIMIT + 1)) is ChromaDense
    assert type(make(server, 10)) is ChromaDense


@pytest.fixture(scope="module")
def kb(corpus_data_dir):
    kb = open_kb(corpus_data_dir)
    yield kb
    kb.close()


def _allowed(kb) -> BitMap:
    doc_type = kb.catalogue.query("SELECT doc_type FROM documents GROUP BY doc_type ORDER BY COUNT(*) DESC")[0][0]
    allowed = Searcher(kb).allowed(Filters(doc_types=[doc_type]))
    assert 0 < len(allowed) < kb.catalogue.query("SELECT COUNT(*) FROM chunks")[0][0]
    return allowed


def _agree(index, exact: ExactDense, vector, allowed: BitMap) -> None:
    """Same passages as exact search unfiltered (HNSW is exact on a collection this small) and filtered."""
    want = exact.search(vector, 10)
    got = index.search(vector, 10)
    assert [r for r, _ in got] == [r for r, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-4)
    want_f = exact.search(vector, 10, allowed)
    got_f = index.search(vector, 10, allowed)
    assert want_f and set(r for r, _ in want_f) <= set(allowed)
    assert [r for r, _ in got_f] == [r for r, _ in want_f]


def test_chroma_embedded_agrees_with_exact(kb):
    exact = ExactDense(kb.catalogue, kb.embedder.model_id)
    exact.refresh()
    vector = kb.embedder.encode_query(QUERY)
    chroma = ChromaDense(lambda: kb.vectors, kb.catalogue, kb.embedder.model_id)
    _agree(chroma, exact, vector, _allowed(kb))
    _agree(SplitDense(chroma, exact), exact, vector, _allowed(kb))


def test_chroma_server_agrees_with_exact(kb, chroma_server):
    settings = load_settings(kb.settings.data_dir, env={"KB_CHROMA_URL": chroma_server})
    store = VectorStore(settings, kb.embedder.model_id, kb.embedder.dim)
    rows = kb.catalogue.query("SELECT chunk_id, doc_id, text_hash FROM chunks ORDER BY rowid")
    cached = kb.catalogue.cached_vectors(kb.embedder.model_id, [r[2] for r in rows])
    store.upsert([r[0] for r in rows], np.vstack([cached[r[2]] for r in rows]), [r[1] for r in rows])
    exact = ExactDense(kb.catalogue, kb.embedder.model_id)
    exact.refresh()
    server = create_dense(settings, kb.catalogue, len(rows), model_id=kb.embedder.model_id, store=lambda: store)
    assert type(server) is ChromaDense
    _agree(server, exact, kb.embedder.encode_query(QUERY), _allowed(kb))


def test_searcher_switches_index_when_the_collection_outgrows_exact(corpus_kb_copy, monkeypatch):
    kb = open_kb(corpus_kb_copy)
    try:
        s = Searcher(kb)
        f = Filters(doc_types=["strategy"])
        before = s.search(QUERY, k=10, filters=f)
        assert type(s._dense_index()) is ExactDense
        monkeypatch.setattr(kd, "UNFILTERED_EXACT_LIMIT", 1)
        with kb.catalogue.transaction() as c:  # any change makes the searcher look at the size again
            c.execute("UPDATE documents SET year = year")
        assert isinstance(s._dense_index(), SplitDense)
        after = s.search(QUERY, k=10, filters=f)
        assert [h.chunk.chunk_id for h in after.hits] == [h.chunk.chunk_id for h in before.hits]
    finally:
        kb.close()


def test_hnsw_filtered_search_oversamples_by_the_filters_share(kb, monkeypatch):
    """Past EXACT_FILTER_LIMIT the filter is applied to HNSW neighbours: it asks first for OVERSAMPLE x n / share
    of them, four times as many while too few are allowed, and on a collection this small, where HNSW is exact,
    finds what exact search finds."""
    monkeypatch.setattr(kd, "EXACT_FILTER_LIMIT", 0)
    asked = []

    class Recording:
        def query(self, vector, k):
            asked.append(k)
            return kb.vectors.query(vector, k)

        def count(self):
            return kb.vectors.count()

    exact = ExactDense(kb.catalogue, kb.embedder.model_id)
    exact.refresh()
    allowed = _allowed(kb)
    vector = kb.embedder.encode_query(QUERY)
    chroma = ChromaDense(lambda: Recording(), kb.catalogue, kb.embedder.model_id)
    got = chroma.search(vector, 5, allowed)
    first = max(5, int(kd.OVERSAMPLE * 5 * kb.vectors.count() / len(allowed)))
    assert asked[0] == first
    assert all(later == min(earlier * 4, kd.HNSW_FILTER_MAX) for earlier, later in zip(asked, asked[1:], strict=False))
    assert [r for r, _ in got] == [r for r, _ in exact.search(vector, 5, allowed)]
