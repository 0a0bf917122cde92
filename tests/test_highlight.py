"""Highlighting: query words marked, everything else escaped, so a passage can never inject HTML."""

from __future__ import annotations

from kb.highlight import highlight
from kb.search import query_terms


def test_terms_drop_stopwords_and_repeats():
    assert query_terms("The risk of the RISK factors") == ["risk", "factors"]


def test_marks_words_and_simple_inflections_as_the_stemmed_search_matches_them():
    out = highlight("Mentoring programmes and a programme for mentors, not mentality.", "mentoring programme")
    assert out == (
        "<mark>Mentoring</mark> <mark>programmes</mark> and a <mark>programme</mark> for <mark>mentors</mark>, "
        "not mentality."
    )


def test_html_in_passages_and_queries_is_escaped():
    out = highlight('<script>alert("x")</script> knife & crime', "knife <b>")
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<mark>knife</mark> &amp; crime" in out
    assert "<b>" not in out


def test_no_terms_means_plain_escaped_text():
    assert highlight("a < b", "the of") == "a &lt; b"
