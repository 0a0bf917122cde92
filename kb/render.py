"""Passages as they were written: lists and emphasis from Markdown and Word text, as safe HTML.

Only a fixed set of tags is ever produced (ul, ol, li, strong, em, mark, br); everything from the document
is escaped first, so a link or HTML in a document shows as text and is never live.
"""

from __future__ import annotations

import re

from kb.highlight import highlight

# The chunker joins a passage's lines with spaces, so "- item" runs arrive inline: " - " before an item that
# starts like one (capital, digit, quote, bracket or bold) is a bullet; a dash inside a sentence is not.
_BULLET = re.compile(r"(?:^|\s)[-*+•▪◦]\s+(?=\*\*|__|<mark>|&|[A-Z0-9“‘(\[])")
_NUMBER = re.compile(r"(?:^|\s)(\d{1,2})[.)]\s+(?=<mark>|&|[A-Z“(])")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM = re.compile(r"(?<![\w*])([*_])(?=[^\s*_])(.+?)(?<=[^\s*_])\1(?![\w*])")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
# A bullet that is only a bold label ("**Research:**") heads the items that follow it, as in the source.
_LABEL = re.compile(r"^<strong>(?:(?!</strong>).){1,160}</strong>$")


def _inline(escaped: str) -> str:
    """Emphasis on already-escaped text; a Markdown link keeps its words and shows its address as text."""
    out = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", escaped)
    out = _STRONG.sub(r"<strong>\2</strong>", out)
    return _EM.sub(r"<em>\2</em>", out)


def _items(text: str, pattern: re.Pattern) -> tuple[str, list[str]] | None:
    marks = list(pattern.finditer(text))
    if len(marks) < 2:
        return None
    lead = text[: marks[0].start()].strip()
    items = [
        text[m.end() : (marks[i + 1].start() if i + 1 < len(marks) else len(text))].strip() for i, m in enumerate(marks)
    ]
    # A passage cut mid-list can end on a bare marker.
    items = [re.sub(r"\s+[-*+•▪◦]$", "", i) for i in items]
    return lead, [i for i in items if i]


def _bullets(items: list[str]) -> str:
    """Items under a bold label are nested below it, as the document's indented sub-lists were."""
    out, nested = [], []
    label: str | None = None

    def close() -> None:
        if label is not None:
            inner = "".join(f"<li>{i}</li>" for i in nested)
            out.append(f"<li>{label}" + (f"<ul>{inner}</ul>" if inner else "") + "</li>")

    for item in items:
        if _LABEL.match(item):
            close()
            label, nested = item, []
        elif label is not None:
            nested.append(item)
        else:
            out.append(f"<li>{item}</li>")
    close()
    return "<ul>" + "".join(out) + "</ul>"


def passage_html(text: str, query: str = "") -> str:
    """The passage as safe HTML on one line, with query terms marked, lists as lists and emphasis kept."""
    escaped = highlight(text, query)
    blocks = []
    for para in (p.strip() for p in re.split(r"\n\s*\n", escaped)):
        if not para:
            continue
        flat = " ".join(para.split())
        if bullets := _items(flat, _BULLET):
            lead, items = bullets
            blocks.append((f"<p>{_inline(lead)}</p>" if lead else "") + _bullets([_inline(i) for i in items]))
        elif numbers := _items(flat, _NUMBER):
            lead, items = numbers
            body = "".join(f"<li>{_inline(i)}</li>" for i in items)
            blocks.append((f"<p>{_inline(lead)}</p>" if lead else "") + f"<ol>{body}</ol>")
        else:
            blocks.append("<br>".join(_inline(line.strip()) for line in para.splitlines()))
    return "<br>".join(blocks)
