"""Query terms marked in a passage as safe HTML: the text is escaped, only <mark> tags are added."""

from __future__ import annotations

import html
import re
from functools import lru_cache

import Stemmer

from kb.search import query_terms

_WORD = re.compile(r"(\w+)")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    # The original Porter algorithm, as FTS5's `porter` tokenizer uses: a word lights up when BM25 matched it.
    return Stemmer.Stemmer("porter")


def highlight(text: str, query: str) -> str:
    stem = _stemmer().stemWord
    stems = {stem(t) for t in query_terms(query)}
    out: list[str] = []
    for i, part in enumerate(_WORD.split(text)):
        # re.split with a group alternates: even parts are separators, odd parts are words.
        if i % 2 and stem(part.lower()) in stems:
            out.append(f"<mark>{html.escape(part)}</mark>")
        else:
            out.append(html.escape(part))
    return "".join(out)
