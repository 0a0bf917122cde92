"""Query terms marked in a passage as safe HTML: the text is escaped, only <mark> tags are added."""

from __future__ import annotations

import html
import re

from kb.search import STOPWORDS

_WORD = re.compile(r"(\w+)")
_SUFFIXES = ("ing", "ies", "ed", "es", "s", "ly")


def query_terms(query: str) -> list[str]:
    """The words search matches on: the same tokens and stopwords as the BM25 query."""
    terms = [t for t in _WORD.findall(query.lower()) if t not in STOPWORDS and len(t) > 1]
    return list(dict.fromkeys(terms))


def _stem(word: str) -> str:
    # Close enough to FTS5's Porter stemmer that "programmes" lights up for "programme".
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


def highlight(text: str, query: str) -> str:
    stems = {_stem(t) for t in query_terms(query)}
    out: list[str] = []
    for i, part in enumerate(_WORD.split(text)):
        # re.split with a group alternates: even parts are separators, odd parts are words.
        if i % 2 and _stem(part.lower()) in stems:
            out.append(f"<mark>{html.escape(part)}</mark>")
        else:
            out.append(html.escape(part))
    return "".join(out)
