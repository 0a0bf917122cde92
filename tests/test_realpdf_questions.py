"""The real-PDF question sets (the first, and the held-out one): enough questions, each answer phrase printed on the
page it names and only there."""

from __future__ import annotations

import pytest

from bench.realpdf import HELDOUT, QUESTIONS, answered, load_questions, norm


def test_at_least_30_questions_over_every_pdf():
    qs = load_questions()
    assert len(qs) >= 30
    assert len({q["file"] for q in qs}) == 10
    held = load_questions(HELDOUT)
    assert len(held) >= 20 and len({q["file"] for q in held}) == 10
    first = {norm(a["answer"]) for q in qs for a in (q, *q.get("or", []))}
    assert not any(norm(q["answer"]) in first for q in held), "a held-out question asks for an answer of the first set"
    for q in [*qs, *held]:
        assert q["question"] and q["answer"] and q["page"]
        for a in (q, *q.get("or", [])):
            assert norm(a["answer"]) not in norm(q["question"]), "a question must not quote its own answer"


@pytest.mark.shared_data
@pytest.mark.parametrize("path", [QUESTIONS, HELDOUT], ids=["first", "heldout"])
def test_each_answer_is_printed_on_its_page(shared_data, path):
    from pypdf import PdfReader

    from ingest.sources.pdf_layout import printed_labels

    pages: dict[str, dict[str, str]] = {}
    for q in load_questions(path):
        if q["file"] not in pages:
            reader = PdfReader(shared_data / "real-pdfs" / q["file"])
            texts = [p.extract_text() or "" for p in reader.pages]
            # The pages as the product cites them: the printed numbers where the label tree is out of step.
            labels = printed_labels(list(reader.page_labels), [t.split("\n") for t in texts])
            pages[q["file"]] = {label: norm(t) for label, t in zip(labels, texts, strict=True)}
        for a in (q, *q.get("or", [])):
            on = [label for label, text in pages[q["file"]].items() if norm(a["answer"]) in text]
            assert a["page"] in on, (q["question"], a["answer"], on)
            assert set(on) <= {a["page"], *a.get("also", [])}, (q["question"], a["answer"], on)


def test_answered_needs_the_pdf_the_phrase_and_the_page():
    from kb.models import Chunk, Document

    q = {"file": "a.pdf", "answer": "twenty-four schools", "page": "3"}

    def hit(source, text, page):
        ch = Chunk("c", "d", 0, text)
        ch.page_start = ch.page_end = page
        return type("H", (), {"document": Document("d", "t", "research", source), "chunk": ch})()

    assert answered(q, [hit("/x/b.pdf", "Twenty four schools", "3"), hit("/x/a.pdf", "twenty four\nschools", "3")]) == 2
    assert answered(q, [hit("/x/a.pdf", "twenty four schools", "4")]) is None
    assert answered(q, [hit("/x/a.pdf", "twenty schools", "3")]) is None
    q["or"] = [{"answer": "24 secondary schools", "page": "5"}]
    assert (
        answered(q, [hit("/x/a.pdf", "in 24 secondary schools", "3"), hit("/x/a.pdf", "24 secondary schools", "5")])
        == 2
    )
