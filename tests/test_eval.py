"""`kb eval retrieval`: BEIR loading, metrics against hand-computed values, and the command end to end."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest
from kbfixtures import run_kb

from kb.evaluate import EvalError, load_collection, ndcg_at, per_document, recall_at, rrf_documents

DOCS = {
    "d1": ("Mentoring for young people", "Mentoring programmes reduce reoffending among adolescents at risk."),
    "d2": ("Knife crime", "Knife possession offences rose in West Yorkshire city centres at night."),
    "d3": ("School exclusion", "Excluded pupils face a higher risk of criminal exploitation by gangs."),
    "d4": ("Sports programmes", "Sports and physical activity give young people a safe place after school."),
    "d5": ("Domestic abuse", "Children exposed to domestic abuse are more likely to be victims later."),
    "d6": ("Alcohol and the night-time economy", "Alcohol licensing changes cut violent injuries near pubs."),
}
QUERIES = {
    "q1": "does mentoring reduce reoffending",
    "q2": "school exclusion and gang exploitation",
    "q3": "alcohol licensing and violent injuries",
    "q9": "a query without judgements is skipped",
}
QRELS = [("q1", "d1", 1), ("q2", "d3", 2), ("q2", "d5", 1), ("q3", "d6", 1)]


def write_beir(root: Path, gz: bool = False, splits: tuple[str, ...] = ("test",)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, (t, x) in DOCS.items())
    if gz:
        with gzip.open(root / "corpus.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write(lines)
    else:
        (root / "corpus.jsonl").write_text(lines, encoding="utf-8")
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()), encoding="utf-8"
    )
    (root / "qrels").mkdir(exist_ok=True)
    for split in splits:
        rows = "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS)
        (root / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows, encoding="utf-8")
    return root


def test_ndcg_binary_matches_hand_computation():
    # Relevant at ranks 2 and 3: DCG = 1/log2(3) + 1/log2(4); ideal = 1 + 1/log2(3).
    expected = (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3))
    assert ndcg_at(["a", "b", "c"], {"b": 1, "c": 1}) == pytest.approx(expected)
    assert ndcg_at(["a", "b", "c"], {"b": 1, "c": 1}) == pytest.approx(0.693426, abs=1e-6)


def test_ndcg_graded_uses_linear_gain_like_pytrec_eval():
    # Grade 2 at rank 2, grade 1 at rank 1: DCG = 1 + 2/log2(3); ideal = 2 + 1/log2(3).
    assert ndcg_at(["b", "a"], {"a": 2, "b": 1}) == pytest.approx(0.859719, abs=1e-6)


def test_ndcg_cuts_at_k_and_ignores_zero_grades():
    assert ndcg_at(["x"] * 10 + ["a"], {"a": 1}) == 0.0
    assert ndcg_at(["a"], {"a": 1, "z": 0}) == 1.0
    assert ndcg_at(["a"], {"z": 0}) == 0.0


def test_recall_counts_relevant_documents_in_the_top_k():
    assert recall_at(["a", "b", "c"], {"b": 1, "d": 1}, 2) == 0.5
    assert recall_at(["a", "b", "c"], {"b": 1, "d": 1}, 1) == 0.0
    assert recall_at(["d", "b"], {"b": 1, "d": 1}, 100) == 1.0


def test_passages_are_scored_per_document_by_their_best_passage():
    doc_of = {1: "a", 2: "a", 3: "b", 4: "c"}
    assert per_document([(1, 0.2), (3, 0.5), (2, 0.9), (4, 0.1)], doc_of) == ["a", "b", "c"]


def test_rrf_baseline_is_plain_reciprocal_rank():
    # a: 1/61 + 1/62; b: 1/62 + 1/61; c: 1/63 -> a and b tie, c last.
    fused = rrf_documents([["a", "b", "c"], ["b", "a"]])
    assert set(fused[:2]) == {"a", "b"} and fused[2] == "c"
    assert rrf_documents([["a", "b"], ["c"]]) == ["a", "c", "b"]


def test_load_collection_defaults_to_test_split_and_keeps_judged_queries(tmp_path):
    c = load_collection(write_beir(tmp_path / "beir", gz=True, splits=("train", "test")))
    assert c.split == "test"
    assert c.corpus_path.name == "corpus.jsonl.gz"
    assert set(c.queries) == {"q1", "q2", "q3"}
    assert c.qrels["q2"] == {"d3": 2, "d5": 1}


def test_load_collection_uses_the_only_split_and_names_missing_files(tmp_path):
    root = write_beir(tmp_path / "beir", splits=("train",))
    assert load_collection(root).split == "train"
    with pytest.raises(EvalError, match="dev.tsv not found"):
        load_collection(root, "dev")
    (root / "queries.jsonl").unlink()
    with pytest.raises(EvalError, match="queries.jsonl"):
        load_collection(root)


def test_load_collection_asks_for_a_split_when_ambiguous(tmp_path):
    with pytest.raises(EvalError, match="--split"):
        load_collection(write_beir(tmp_path / "beir", splits=("train", "dev")))


@pytest.mark.slow
def test_kb_eval_reports_every_mode_and_the_rrf_baseline_and_caches_embeddings(tmp_path):
    root = write_beir(tmp_path / "beir")
    env = {"KB_EVAL_CACHE": str(tmp_path / "cache")}
    first = run_kb(tmp_path / "kb", "eval", "retrieval", str(root), "--json", check=True, **env)
    report = json.loads(first.stdout)
    assert report["split"] == "test" and report["queries"] == 3 and report["documents"] == len(DOCS)
    modes = {m["mode"]: m for m in report["modes"]}
    assert set(modes) == {"bm25", "dense", "hybrid", "rrf"}
    for m in modes.values():
        assert 0.0 <= m["ndcg@10"] <= 1.0 and m["recall@10"] <= m["recall@100"] <= 1.0
    # Each query names its first relevant document in so many words; q2's second (d5) shares none of them.
    assert modes["bm25"]["recall@10"] == pytest.approx((1 + 0.5 + 1) / 3, abs=1e-4)
    assert report["newly_embedded"] == report["passages"]

    again = run_kb(tmp_path / "kb", "eval", "retrieval", str(root), "--json", check=True, **env)
    assert json.loads(again.stdout)["newly_embedded"] == 0
    assert json.loads(again.stdout)["modes"] == report["modes"]

    table = run_kb(tmp_path / "kb", "eval", "retrieval", str(root), check=True, **env).stdout
    for mode in ("bm25", "dense", "hybrid", "rrf", "nDCG@10", "recall@100"):
        assert mode in table


def test_kb_eval_names_a_directory_that_is_not_beir(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_kb(tmp_path / "kb", "eval", "retrieval", str(tmp_path / "empty"))
    assert proc.returncode == 2 and "corpus.jsonl" in proc.stderr
