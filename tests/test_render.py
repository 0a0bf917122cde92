"""Passages read as they were written: lists as lists, emphasis as emphasis, nothing from a document live."""

from __future__ import annotations

import re

import pytest
from kbfixtures import CORPUS

from kb.render import passage_html

ALLOWED_TAGS = {"ul", "ol", "li", "strong", "em", "mark", "br", "p"}


def _tags(out: str) -> set[str]:
    return {t.lower() for t in re.findall(r"</?\s*([a-zA-Z]+)", out)}


def test_the_strategys_response_lists_render_as_nested_lists() -> None:
    # The strategy's own Markdown, as the chunker stores it: lines joined, "- " runs inline.
    text = (
        "- **Integrated partnership work:** - Support the focus and implementation of emerging Drug Strategies "
        "- Support safeguarding plans with a particular focus on support for children in care "
        "- **Research:** - Expand our knowledge of the demographic of service users"
    )
    assert "**Research:**" in (CORPUS / "strategy" / "west-yorkshire-strategy-for-change-2023.md").read_text()
    out = passage_html(text, "research")
    assert out.startswith("<ul><li><strong>Integrated partnership work:</strong><ul><li>Support the focus")
    assert "<li><strong><mark>Research</mark>:</strong><ul><li>Expand our knowledge" in out
    assert "**" not in out and " - " not in out


def test_numbered_steps_become_an_ordered_list() -> None:
    out = passage_html("Steps: 1. Identify need 2. Design the offer 3) Evaluate")
    assert out == "<p>Steps:</p><ol><li>Identify need</li><li>Design the offer</li><li>Evaluate</li></ol>"


def test_a_dash_inside_a_sentence_is_not_a_list() -> None:
    text = "Violence rose - especially in the evening - and 3 - 4 people were hurt."
    assert passage_html(text) == text


def test_emphasis_is_kept_but_not_inside_words() -> None:
    out = passage_html("A *very* important __finding__ about snake_case_names and 2*3*4.")
    assert out == "A <em>very</em> important <strong>finding</strong> about snake_case_names and 2*3*4."


@pytest.mark.parametrize(
    "text",
    [
        '<script>alert("x")</script> **bold**',
        "[click me](javascript:alert(1)) and <a href='http://evil.example'>here</a>",
        "<img src=x onerror=alert(1)> - Item one - Item two",
        "**<b>nested</b>** *<iframe>*",
    ],
)
def test_no_link_or_html_from_a_document_is_rendered_live(text) -> None:
    out = passage_html(text, "item")
    assert _tags(out) <= ALLOWED_TAGS, out
    assert "href" not in out.replace("&", "") or "<a" not in out
    assert "<a " not in out and "<script" not in out and "<img" not in out and "<iframe" not in out


def test_a_markdown_link_keeps_its_words_and_shows_its_address_as_text() -> None:
    assert passage_html("See [the YEF toolkit](https://example.org/t).") == (
        "See the YEF toolkit (https://example.org/t)."
    )


def test_line_breaks_within_a_paragraph_are_kept() -> None:
    assert passage_html("First line\nsecond line\n\nNew paragraph") == "First line<br>second line<br>New paragraph"
