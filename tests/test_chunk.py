"""Chunking long reports: paragraph breaks, inline headings carried in the section, captions kept apart."""

from __future__ import annotations

import pytest

from ingest.chunk import Chunker, is_caption, is_inline_heading
from kb.config import load_settings
from kb.embed import Embedder
from kb.models import Block


@pytest.fixture(scope="module")
def chunker(tmp_path_factory) -> Chunker:
    # Only the model's tokenizer is loaded (no torch): chunk sizes are counted in its word pieces.
    e = Embedder(load_settings(tmp_path_factory.mktemp("kb"), env={"HF_HUB_OFFLINE": "1"}))
    return Chunker(e.count_tokens, e.token_offsets, target=200, overlap=32, hard_max=e.max_content_tokens)


def _para(topic: str, n: int) -> str:
    return " ".join(f"The {topic} finding number {i} was reported by the team." for i in range(n))


def test_inline_headings_and_captions_are_recognised():
    assert is_inline_heading("2.What is the NRM process?")
    assert is_inline_heading("3.1 Sampling and recruitment")
    assert is_inline_heading("What happens to the DtN referral?")
    assert not is_inline_heading("1. young people who offend")  # a list item
    assert not is_inline_heading("The NRM consists of:")
    assert not is_inline_heading("Michael, 40, survivor of modern slavery.")
    assert not is_inline_heading("12 Intervention schools")  # a table row, not a numbered heading
    assert is_caption("FIGURE 1 | Life at the Wolf Science Center. Pictures show ...")
    assert is_caption("Table 1: Baseline characteristics")
    assert is_caption("Figure 1. CONSORT flow diagram.")
    assert not is_caption("Table 1 shows the baseline characteristics of the sample.")
    assert is_caption("KEY CONCEPT 4 | Canine Cooperation Hypothesis Based on findings that ...")
    assert not is_caption("Scores ranged 1 | 2 | 3 on the scale.")  # a bar inside a sentence is no label


def test_a_full_passage_closes_at_the_paragraph_end(chunker):
    blocks = [Block(_para("alcohol", 12), ["Results"], "3", 3), Block(_para("housing", 12), ["Results"], "3", 3)]
    chunks = chunker.chunk("d", blocks)
    assert len(chunks) == 2
    assert "housing" not in chunks[0].text and "alcohol" not in chunks[1].text  # no topic spills over
    # One block is still packed sentence by sentence, with overlap (an abstract is chunked as before).
    one = chunker.chunk("d", [Block(_para("alcohol", 30))])
    assert len(one) > 1 and one[1].text.split(". ")[0] in one[0].text


def test_inline_heading_opens_a_passage_and_joins_its_section(chunker):
    blocks = [
        Block("Victims can be men, women or children of any age.", ["Introduction"], "5", 5),
        Block("2.What is the NRM process?", ["Introduction"], "6", 6),
        Block("The NRM was introduced in 2009.", ["Introduction"], "6", 6),
    ]
    chunks = chunker.chunk("d", blocks)
    assert [c.section for c in chunks] == [["Introduction"], ["Introduction", "2.What is the NRM process?"]]
    assert chunks[1].text.startswith("2.What is the NRM process? The NRM") and chunks[1].page_start == "6"


def test_a_caption_does_not_cut_the_sentence_it_landed_in(chunker):
    blocks = [
        Block("Therefore, we have proposed the Canine Cooperation Hypothesis", ["Ours"], "3", 3),
        Block("FIGURE 1 | Life at the Wolf Science Center. Pictures show pack life.", ["Ours"], "4", 4),
        Block("(Range, 2013) that postulates that wolf-wolf cooperation is the basis.", ["Ours"], "4", 4),
    ]
    chunks = chunker.chunk("d", blocks)
    assert [c.text[:9] for c in chunks] == ["Therefore", "FIGURE 1 "]
    assert "Hypothesis (Range, 2013) that postulates" in chunks[0].text
    assert (chunks[0].page_start, chunks[0].page_end, chunks[1].page_start) == ("3", "4", "4")


def test_panels_run_on_in_one_block_become_passages_of_their_own(chunker):
    blocks = [
        Block("Wolves were raised by hand. FIGURE 1 | Life at the centre. KEY CONCEPT 4 | Cooperation Dogs "
              "cooperate with humans as wolves do with wolves.", ["Ours"], "4", 4),
        Block("FIGURE 2 | Diagram of the hypothesis. FIGURE 3 | Social learning from a human.", ["Ours"], "5", 5),
    ]  # fmt: skip
    texts = [c.text for c in chunker.chunk("d", blocks)]
    assert texts == [
        "Wolves were raised by hand.",
        "FIGURE 1 | Life at the centre.",
        "KEY CONCEPT 4 | Cooperation Dogs cooperate with humans as wolves do with wolves.",
        "FIGURE 2 | Diagram of the hypothesis.",
        "FIGURE 3 | Social learning from a human.",
    ]


@pytest.mark.shared_data
def test_real_report_passages_carry_their_numbered_headings(shared_data, chunker):
    """The Home Office guide prints its numbered questions as plain lines: pypdf gives them as paragraphs."""
    from ingest.sources import ReadOptions
    from ingest.sources.pdf import read

    pdf = shared_data / "real-pdfs" / "homeoffice2025_first_responder_guide_modern_slavery_OGL.pdf"
    chunks = chunker.chunk("d", read(pdf, ReadOptions()).documents[0].blocks)
    nrm = [c for c in chunks if c.section[-1:] == ["2.What is the NRM process?"]]
    assert nrm and nrm[0].page_start == "6" and "The NRM was introduced in 2009" in nrm[0].text
    assert not any("survivor of modern slavery" in c.text for c in nrm)  # page 5's quote stays with section 1
    assert max(c.n_tokens for c in chunks) <= 200


@pytest.mark.shared_data
def test_real_figure_caption_is_a_passage_of_its_own(shared_data, chunker):
    from ingest.sources import ReadOptions
    from ingest.sources.pdf import read

    pdf = shared_data / "real-pdfs" / "frontiers2015_range_canine_cooperation.pdf"
    chunks = chunker.chunk("d", read(pdf, ReadOptions()).documents[0].blocks)
    caption = [c for c in chunks if c.text.startswith("FIGURE 1 | Life at the Wolf Science Center")]
    assert len(caption) == 1 and caption[0].page_start == "4"
    flow = [c for c in chunks if "we have proposed the Canine Cooperation Hypothesis" in c.text]
    assert flow and "FIGURE 1" not in flow[0].text and "wolf-wolf cooperation" in flow[0].text
    # pypdf gives the figure's caption and the boxed key concept after it as one block: they are cut apart.
    concept = [c for c in chunks if c.text.startswith("KEY CONCEPT 4 | Canine Cooperation Hypothesis")]
    assert len(concept) == 1 and concept[0].page_start == "4"
    assert "dog-human cooperation evolved on the basis of wolf-wolf cooperation" in concept[0].text
    assert "FIGURE 1" not in concept[0].text and "KEY CONCEPT" not in caption[0].text
    assert sum(c.text.startswith(("FIGURE 2 |", "FIGURE 3 |")) for c in chunks) == 2


def test_a_passage_repeating_earlier_text_word_for_word_is_kept_once(chunker):
    """A file that holds its body twice (the US Trustee handbook .docx holds it four times) gives each passage
    once, at its first place; the copies are handed back so ingest can report them. A passage that only shares
    words with another is kept."""
    body = [Block(_para("alcohol", 12), ["Duties"], "3", 3), Block(_para("housing", 12), ["Duties"], "3", 3)]
    again = [Block(b.text.replace(" ", "  ", 1), b.section, "9", 9) for b in body]  # the same words, respaced
    near = Block(_para("housing", 11), ["Duties"], "12", 12)
    repeated: list = []
    chunks = chunker.chunk("d", [*body, *again, near], repeated)
    assert [c.page_start for c in chunks] == ["3", "3", "12"]
    assert [c.page_start for c in repeated] == ["9", "9"]
    assert [c.index for c in chunks] == [0, 1, 2] and len({c.chunk_id for c in chunks}) == 3
    assert len(chunker.chunk("d", [*body, *again])) == 2, "left out when no list is given too"
