"""Search over the ingested sample corpus: modes, filters, grouping, citations, the CLI contract."""

from __future__ import annotations

import json

import pytest
from kbfixtures import open_kb, run_kb

import kb.search as ks
from kb.catalogue.schema import MIGRATIONS
from kb.search import (
    FTS_TOKENIZE,
    Filters,
    Searcher,
    SearchError,
    cite,
    fts_query,
    index_terms,
    prune_terms,
    query_terms,
)

QUERY = "alcohol and weapon carrying among young people"


@pytest.fixture(scope="module")
def searcher(corpus_data_dir):
    kb = open_kb(corpus_data_dir)
    yield Searcher(kb)
    kb.close()


def test_cli_search_returns_cited_strategy_passage_tagged_substance_misuse(corpus_data_dir):
    out = json.loads(run_kb(corpus_data_dir, "search", QUERY, "-k", "5", "--json", check=True).stdout)
    passages = [p for r in out["results"] for p in r["passages"]]
    assert passages, out
    strategy = [p for p in passages if p["doc_type"] == "strategy"]
    assert strategy, "the strategy's needs-assessment bullets should be found"
    tagged = [p for p in strategy if any(f["factor"] == "substance-misuse" for f in p["tags"]["factors"])]
    assert tagged
    best = tagged[0]
    assert "alcohol" in best["text"].lower()
    assert best["page_start"] and best["section"]
    assert f"p. {best['page_start']}" in best["citation"]


def test_cli_search_names_each_works_authors(corpus_data_dir):
    """A researcher reads 'Okely et al., 2017' in a result, as in a reference, not only the title."""
    q = ("school sport sessions for adolescent girls", "--type", "research", "-k", "3")
    shown = " ".join(run_kb(corpus_data_dir, "search", *q, check=True).stdout.split())
    assert "the Girls in Sport group randomized trial (Okely et al., 2017, research, rct)" in shown
    out = json.loads(run_kb(corpus_data_dir, "search", *q, "--json", check=True).stdout)
    assert out["results"][0]["authors"][0] in ("Okely, Anthony D.", "Anthony D. Okely")


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_every_mode_finds_the_alcohol_bullets(searcher, mode):
    res = searcher.search(QUERY, k=10, mode=mode)
    assert res.mode == mode
    assert any("weapon carrying" in h.chunk.text for h in res.hits)


def test_results_are_grouped_by_document_best_first(searcher):
    res = searcher.search("care leavers exploitation", k=15)
    groups = res.groups
    assert len({g.document.doc_id for g in groups}) == len(groups)
    assert [g.score for g in groups] == sorted((g.score for g in groups), reverse=True)
    for g in groups:
        assert [h.score for h in g.hits] == sorted((h.score for h in g.hits), reverse=True)


def test_factor_and_type_filters_hold_for_every_hit(searcher):
    res = searcher.search("violence", k=20, filters=Filters(factors=["mental-health"], doc_types=["strategy"]))
    assert res.hits
    for h in res.hits:
        assert h.document.doc_type == "strategy"
        assert "mental-health" in {f.factor for f in h.chunk.tags.factors}


def test_priority_filter_and_year_range(searcher):
    res = searcher.search("what works to reduce violence", k=10, filters=Filters(priorities=[2]))
    assert res.hits and all(2 in h.chunk.tags.priorities for h in res.hits)
    none = searcher.search("violence", k=10, filters=Filters(year_from=2090))
    assert none.hits == []


def test_toolkit_type_filter_finds_toolkit_entries(searcher):
    res = searcher.search("mentoring", k=5, filters=Filters(doc_types=["toolkit"]))
    assert res.hits and all(h.document.doc_type == "toolkit" for h in res.hits)
    assert any("mentoring" in h.document.title.lower() for h in res.hits)


def test_sensitivity_filter_can_hide_everything(searcher):
    res = searcher.search(QUERY, k=5, filters=Filters(sensitivities=["official-sensitive"]))
    assert res.hits == []


def test_more_like_this_excludes_the_passage_itself(searcher):
    first = searcher.search(QUERY, k=1).hits[0]
    like = searcher.similar(first.chunk.chunk_id, k=5)
    assert like.hits and first.chunk.chunk_id not in {h.chunk.chunk_id for h in like.hits}


def test_empty_query_and_bad_mode_are_clear_errors(searcher):
    with pytest.raises(SearchError, match="empty"):
        searcher.search("   ")
    with pytest.raises(SearchError, match="mode"):
        searcher.search("x", mode="fuzzy")


def test_fts_query_never_passes_syntax_through():
    assert fts_query('NEAR("a" OR) * knife-crime') == '"near" OR "knife" OR "crime"'
    assert fts_query("the of and") is None


def test_citation_format():
    from kb.models import Chunk, Document

    d = Document(doc_id="x", title="Strategy", doc_type="strategy", source="s", year=2022)
    c = Chunk(chunk_id="x:0", doc_id="x", index=0, text="t", section=["Strategy", "Needs", "Substance Use"])
    c.page_start, c.page_end = "14", "15"
    assert cite(d, c) == "Strategy (2022), pp. 14-15, § Needs › Substance Use"


def test_district_filter_matches_labels_and_place_tags(searcher):
    # The strategy's front matter names all five districts; "leeds" and "Leeds" are the same filter.
    for name in ("Leeds", "leeds"):
        res = searcher.search("deprivation", k=5, filters=Filters(districts=[name], doc_types=["strategy"]))
        assert res.hits
    assert searcher.search("deprivation", k=5, filters=Filters(districts=["Sheffield"])).hits == []


def test_prune_terms_drops_common_words_but_never_all():
    df = {"knife": 3, "crime": 60, "young": 90}
    assert prune_terms(["young", "knife", "crime"], df, 100, 0.5) == ["knife"]
    assert prune_terms(["young", "crime"], df, 100, 0.5) == ["crime"]  # all common: the rarest stays
    assert prune_terms(["young", "knife", "crime"], df, 100, 0.95) == ["young", "knife", "crime"]


def test_index_terms_are_the_catalogue_tokenizers_stems():
    assert any(FTS_TOKENIZE in m.sql for m in MIGRATIONS)
    assert index_terms("cells") == ("cell",)
    assert index_terms("carrying") == ("carri",)
    assert index_terms("il_6") == ("il", "6")


def test_bm25_prunes_terms_by_their_passage_count(searcher, monkeypatch):
    monkeypatch.setattr(ks, "BM25_PRUNE_FROM", 0)
    monkeypatch.setattr(ks, "BM25_MAX_DF", 0.05)
    query = "young people carrying weapons"
    df, n = searcher._term_df(query_terms(query))
    for term, count in df.items():  # the fts5vocab count is what a MATCH on the term finds
        assert (
            count == searcher.cat.query("SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH ?", [f'"{term}"'])[0][0]
        )
    kept = searcher.bm25_terms(query)
    assert kept == [t for t in query_terms(query) if df[t] <= 0.05 * n] and kept != query_terms(query)
    assert searcher.bm25(query, Filters(), 10)
    monkeypatch.setattr(ks, "BM25_PRUNE_FROM", 10**9)  # a small collection keeps every term
    assert searcher.bm25_terms(query) == query_terms(query)


def _fresh(searcher, monkeypatch, **constants):
    for name, value in constants.items():
        monkeypatch.setattr(ks, name, value)
    return Searcher(searcher.kb)  # a new Searcher reads the constants when it first looks at the catalogue


@pytest.mark.parametrize("filters", [Filters(), Filters(doc_types=["research"])], ids=["unfiltered", "filtered"])
def test_bm25_split_into_rowid_shards_ranks_exactly_as_one_query(searcher, monkeypatch, filters):
    queries = [QUERY, "school exclusion and exploitation", "mental health of children in care", "knife crime"]
    whole = _fresh(searcher, monkeypatch, BM25_SHARD_FROM=10**9)
    expected = [whole.bm25(q, filters, 50) for q in queries]
    split = _fresh(searcher, monkeypatch, BM25_SHARD_FROM=0, BM25_SHARDS=3)
    got = [split.bm25(q, filters, 50) for q in queries]
    assert len(split._shard_bounds) == 2  # three rowid ranges really ran
    assert got == expected and all(expected)


def test_bm25_scores_only_passages_holding_the_rarest_terms_with_every_term(searcher, monkeypatch):
    query = "young people carrying weapons"
    plain = _fresh(searcher, monkeypatch, BM25_PRUNE_FROM=0, BM25_MAX_DF=1.0, BM25_CANDIDATES=None)
    everything = dict(plain.bm25(query, Filters(), 10_000))
    df, n = plain._term_df(query_terms(query))
    by_rarity = sorted(query_terms(query), key=lambda t: df[t])
    budget = df[by_rarity[0]] + df[by_rarity[1]]  # room for the two rarest terms' passages, not the third's
    narrow = _fresh(
        searcher, monkeypatch, BM25_PRUNE_FROM=0, BM25_MAX_DF=1.0, BM25_SELECTIVE_FROM=0, BM25_CANDIDATES=budget
    )
    rare = [t for t in query_terms(query) if t in by_rarity[:2]]
    assert df[by_rarity[2]] > 0 and narrow._bm25_plan(query) == (query_terms(query), rare)
    got = narrow.bm25(query, Filters(), 10_000)
    holding = {
        r[0] for r in searcher.cat.query("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", [fts_query(rare)])
    }
    assert got and {rid for rid, _ in got} == holding  # exactly the passages holding a rare term ...
    for rid, score in got:  # ... each scored on every term of the query, as the unrestricted run scores it
        assert score == pytest.approx(everything[rid])


def test_bm25_shard_workers_killed_between_searches_are_started_again(searcher, monkeypatch):
    from kb import fts_shards

    split = _fresh(searcher, monkeypatch, BM25_SHARD_FROM=0, BM25_SHARDS=2)
    before = split.bm25(QUERY, Filters(), 20)
    workers = fts_shards._pool(split.cat.path, 2)
    assert all(w.proc is not None and w.proc.poll() is None for w in workers)  # the shards ran in processes
    for w in workers:
        w.proc.kill()
        w.proc.wait()
    assert split.bm25(QUERY, Filters(), 20) == before
    assert all(w.proc.poll() is None for w in workers)
