"""The real-PDF question set: enough questions, each answer phrase printed on the page it names."""

from __future__ import annotations

import pytest

from bench.realpdf import answered, load_questions, norm


def test_at_least_30_questions_over_every_pdf():
    qs = load_questions()
    assert len(qs) >= 30
    assert len({q["file"] for q in qs}) == 10
    for q in qs:
        assert q["question"] and q["answer"] and q["page"]
        assert norm(q["answer"]) not in norm(q["question"]), "a question must not quote its own answer"


@pytest.mark.shared_data
def test_each_answer_is_printed_on_its_page(shared_data):
    from pypdf import PdfReader

    from ingest.sources.pdf_layout import printed_labels

    pages: dict[str, dict[str, str]] = {}
    for q in load_questions():
        if q["file"] not in pages:
            reader = PdfReader(shared_data / "real-pdfs" / q["file"])
            texts = [p.extract_text() or "" for p in reader.pages]
            # The pages as the product cites them: the printed numbers where the label tree is out of step.
            labels = printed_labels(list(reader.page_labels), [t.split("\n") for t in texts])
            pages[q["file"]] = {label: norm(t) for label, t in zip(labels, texts, strict=True)}
        on = [label for label, text in pages[q["file"]].items() if norm(q["answer"]) in text]
        assert q["page"] in on, (q["question"], on)
        assert set(on) <= {q["page"], *q.get("also", [])}, (q["question"], on)


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
