"""DOIs found in real-world text: re-joined across line ends, incomplete ones refused, citing words seen."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb.ids import citing_context, doc_id_for, find_dois, normalise_doi


@pytest.mark.parametrize(
    ("text", "doi"),
    [
        # As pypdf extracts them from the real PDFs in ../shared/data/real-pdfs/.
        ("BMJ Open 2016;6:e012335.\ndoi:10.1136/bmjopen-2016-\n012335\n▸ History", "10.1136/bmjopen-2016-012335"),
        ("PLoS ONE 9(12): e115884. doi:10.1371/journal.pone. 0115884\nEditor:", "10.1371/journal.pone.0115884"),
        ("http://dx.doi.org/10.1016/S2213-2600(14)70195- X\nSee Online", "10.1016/s2213-2600(14)70195-x"),
        ("http://dx.doi.org/10.1016/\nS0140-6736(17)31869-X", "10.1016/s0140-6736(17)31869-x"),
        ("Medicine, 5:1, 1-13, DOI:\n10.1080/21642850.2016.1256211", "10.1080/21642850.2016.1256211"),
        ("https://doi.org/10.1186/s12966-017-0535-6.", "10.1186/s12966-017-0535-6"),
    ],
)
def test_split_dois_are_rejoined(text: str, doi: str) -> None:
    assert [m.doi for m in find_dois(text)] == [doi]


@pytest.mark.parametrize(
    ("text", "doi"),
    [
        ("Pharm Stat 2008, 7:146-146. doi:10.1002/pst.311.\n28. International Conference", "10.1002/pst.311"),
        ("Methods 2013. doi: 10.1037/a0034961.\n27. Julious SJ, Mullen MA", "10.1037/a0034961"),
        ("(http://dx.doi.org/10.1136/bmjopen-2016-012335)", "10.1136/bmjopen-2016-012335"),
        ("10.1016/S0140-6736(17)31869-X; and", "10.1016/s0140-6736(17)31869-x"),
        ("<https://doi.org/10.1186/s12966-017-0535-6>", "10.1186/s12966-017-0535-6"),
        ("[doi:10.1037/a0034961]", "10.1037/a0034961"),
        # An older Wiley SICI DOI keeps its angle brackets (Crossref's pattern for them allows them).
        (
            "doi:10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-0.",
            "10.1002/(sici)1097-4571(199806)49:8<693::aid-asi4>3.0.co;2-0",
        ),
    ],
)
def test_sentence_punctuation_and_reference_numbers_stay_outside(text: str, doi: str) -> None:
    assert [m.doi for m in find_dois(text)] == [doi]


@pytest.mark.parametrize(
    "text",
    [
        "doi:10.1136/bmjopen-2016-",  # cut at the line end, nothing follows: incomplete
        "doi:10.1136/bmjopen-2016-\nAbstract",  # a heading is not the rest of a DOI
        "doi:10.1371/journal.pone.\nThe frogs",
        "10.12/abc",  # registrant code too short for Crossref's pattern
        "no identifier here",
    ],
)
def test_incomplete_dois_are_refused(text: str) -> None:
    assert find_dois(text) == []
    assert normalise_doi(text) is None


def test_every_doi_in_a_reference_list_is_found_with_its_position() -> None:
    text = "1. A. doi:10.1037/a0034961.\n2. B. https://doi.org/10.1002/pst.311\n"
    found = find_dois(text)
    assert [m.doi for m in found] == ["10.1037/a0034961", "10.1002/pst.311"]
    assert text[found[1].start : found[1].end] == "10.1002/pst.311"


def test_words_before_a_doi_that_name_another_work() -> None:
    # Brown et al. page 1 prints a linked Comment's DOI beside its own in the running header.
    assert citing_context("Oct 2014\nSee Online/Comment http://dx.doi.org/")
    assert citing_context("linked article: ")
    assert not citing_context(
        "www.thelancet.com/respiratory   Published online September 25, 2014   http://dx.doi.org/"
    )
    assert not citing_context("To cite: Corder K, et al. BMJ Open 2016;6:e012335. doi:")


def test_doc_id_is_the_doi_or_the_content_hash() -> None:
    assert doc_id_for("https://doi.org/10.1186/1471-2458-14-563", "x") == "doi:10.1186/1471-2458-14-563"
    assert doc_id_for("10.1136/bmjopen-2016-", "some text").startswith("sha256:")
    assert doc_id_for(None, "Some  TEXT") == doc_id_for(None, "some text")


@given(st.text(alphabet=st.sampled_from(list("10./-()<>[] \nabcXdoi:;2345")), max_size=80))
def test_whatever_the_text_every_doi_found_is_complete(text: str) -> None:
    for match in find_dois(text):
        assert re.fullmatch(r"10\.\d{4,9}/[-._;()/:a-z0-9<>\[\]#+]+", match.doi)
        assert match.doi[-1] not in "-./"
