"""kb/text.py: one sentence splitter (spaCy's sentencizer) for the chunker and the digest, spaCy's stopwords."""

from __future__ import annotations

import gzip
import json

import pytest

from ingest import chunk
from kb import digest, text
from kb.search import query_terms


def _scifact(shared_data, doc_id: str) -> str:
    with gzip.open(shared_data / "scifact" / "corpus.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["_id"] == doc_id:
                return row["text"]
    raise AssertionError(f"SciFact document {doc_id} not found")


def test_the_chunker_and_the_digest_share_one_splitter():
    assert chunk.split_sentences is text.split_sentences
    assert digest.sentences is text.sentences


@pytest.mark.shared_data
def test_a_sentence_that_opens_with_a_lower_case_gene_name_is_its_own_sentence(shared_data):
    # SciFact 4658268: the digest's old regex wanted a capital after the full stop, so "... in size. mTOR is ..."
    # stayed one 480-character run-on that its readability rule then refused as a key sentence.
    found = text.sentences(_scifact(shared_data, "4658268"))
    assert "mTOR is a large protein kinase and the target of rapamycin" in found[1]
    assert found[0].endswith("accumulate mass and increase in size.")
    assert all(len(s) <= 400 for s in found[:3])


@pytest.mark.shared_data
def test_decimals_and_a_line_break_do_not_and_do_end_a_sentence(shared_data):
    abstract = _scifact(shared_data, "2266471")
    found = text.sentences("Background\n" + abstract)
    assert found[0] == "Background"
    assert any(s.endswith("(p<0.01).") for s in found)  # "0.01" is no sentence end
    assert "The regulation of miR-21 by Rapamycin is cell type independent." in found


def test_stopwords_are_spacys_less_the_words_a_vru_searches_for():
    from spacy.lang.en.stop_words import STOP_WORDS

    assert text.STOPWORDS == frozenset(STOP_WORDS) - text.KEPT
    assert text.KEPT <= STOP_WORDS, "a kept word spaCy no longer lists is a stale exception"


def test_query_terms_of_real_questions_keep_what_they_ask_about():
    # Questions researchers wrote over the real PDFs (bench/data/realpdf_questions.jsonl) and a VRU's own terms.
    assert query_terms("how many pupils took part, and in how many schools?") == ["pupils", "took", "schools"]
    assert query_terms("which body decides whether someone referred is accepted as a victim of modern slavery?") == [
        "body",
        "decides",
        "referred",
        "accepted",
        "victim",
        "modern",
        "slavery",
    ]
    assert query_terms("Serious Violence Duty: first time entrants left alone without access to youth work") == [
        "serious",
        "violence",
        "duty",
        "first",
        "time",
        "entrants",
        "left",
        "alone",
        "without",
        "access",
        "youth",
        "work",
    ]


def test_a_search_does_not_import_spacy():
    import subprocess
    import sys

    code = "import sys, kb.search; print('spacy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
