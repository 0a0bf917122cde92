"""Words pypdf splits after a ligature are joined again; words that merely follow one another stay apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.sources import ReadOptions
from ingest.sources.pdf import read
from ingest.sources.pdf_ligatures import rejoin, rejoin_names

STOPADVISOR = Path(__file__).parent / "data" / "real-pdfs" / "lancetrespmed2014_brown_stopadvisor_smoking_low_ses.pdf"


@pytest.mark.parametrize(
    ("split", "joined"),
    [
        ("eff ective", "effective"),
        ("the fi rst fi ve fi ndings", "the first five findings"),
        ("Offi ce for National Statistics", "Office for National Statistics"),
        ("off ered support", "offered support"),
        ("signifi cant diff erence", "significant difference"),
        # Two words, or a whole no dictionary holds: left as printed.
        ("staff and patients", "staff and patients"),
        ("off ice", "off ice"),
        ("an off technique", "an off technique"),
        ("Diff pd", "Diff pd"),
        # Kerning gaps in justified text and after a capital (the Lancet review below).
        ("the prev alence of depression", "the prevalence of depression"),
        ("betw een groups", "between groups"),
        ("All-cause M ortality", "All-cause Mortality"),
        ("P ublic H ealth", "Public Health"),
        # Words that merely stand together, however rare one is, and names: left as printed.
        ("bona fide", "bona fide"),
        ("an atomically thin layer", "an atomically thin layer"),
        ("a stringent threshold", "a stringent threshold"),
        ("Epton et al", "Epton et al"),
        ("bmj.com on 4 May", "bmj.com on 4 May"),
    ],
)
def test_rejoin(split, joined):
    assert rejoin(split) == joined


def test_the_lancet_article_reads_without_ligature_splits():
    # This real article (CC BY) set every ff and fi as a ligature glyph: pypdf read "eff ective" 22 times and
    # "eff ect" 31 times, so BM25 never matched "effective" and a question about it missed its answer.
    [parsed] = read(STOPADVISOR, ReadOptions()).documents
    text = " ".join(b.text for b in parsed.blocks)
    assert "eff ective" not in text and "diff erent" not in text and "fi ndings" not in text
    assert text.count("effective") >= 10 and "different" in text and "findings" in text
    assert "staff" in text or "smokers" in text  # ordinary words untouched


@pytest.mark.shared_data
def test_the_lancet_review_reads_without_kerning_splits(shared_data):
    # pypdf read this justified two-column review (CC BY) with gaps inside words: "prev alence", "betw een",
    # "M ortality" in its references' titles, so BM25 could not match "prevalence" or "mortality" there.
    path = shared_data / "real-pdfs" / "lancet2018_aldridge_inclusion_health_prisoners.pdf"
    [parsed] = read(path, ReadOptions()).documents
    text = " ".join(b.text for b in parsed.blocks)
    for split in ("prev alence", "betw een", "popu lation", "M ortality", "P ublic H ealth"):
        assert split not in text
    assert "prevalence" in text and "Mortality" in text
    assert "sex workers" in text and "in the" in text  # ordinary word pairs untouched


def test_a_name_split_at_a_line_end_is_joined_where_the_document_prints_it_whole():
    # The StopAdvisor article prints the intervention's name whole 64 times, and twice as "StopA" at a line end
    # and "dvisor" on the next (kerning after the capital A): those two passages never matched "StopAdvisor".
    [parsed] = read(STOPADVISOR, ReadOptions()).documents
    text = " ".join(b.text for b in parsed.blocks)
    assert "StopA dvisor" not in text and "StopA\ndvisor" not in text
    assert text.count("StopAdvisor") == 66  # 64 whole before, and the 2 joined
    assert rejoin_names([["the GoActive trial"], ["Go Active", "Epton", "et al"]]) == [
        ["the GoActive trial"],
        ["Go Active", "Epton", "et al"],
    ]
