"""PDF text as pypdf gives it, made searchable: ligatures expanded, and words it splits after a ligature ("eff
ective", "fi rst", "Offi ce") or at a wide kerning gap ("prev alence", "M ortality") joined again where the whole is
a word."""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from functools import lru_cache
from importlib.resources import files

# A word's piece ending in a ligature's letters, spaces or a line break, and its lower-case rest: where a PDF
# draws ff, fi, fl (or ffi, ffl) as one glyph followed by a gap, pypdf reads a word break.
SPLIT = re.compile(r"\b([A-Za-z]*(?:ff|fi|fl))[ \n]{1,3}([a-z]+)\b")
# spaCy's lexeme log-probabilities: a joined form this common or more is a word; each piece must be at least
# PIECE_LOGPROB common to count as a word of its own ("staff and", "off ice" stay apart).
WORD_LOGPROB = -16.0
PIECE_LOGPROB = -12.0
# Any other word break: justified text and kerned capitals leave gaps pypdf reads as spaces ("prev alence", "betw een",
# "M ortality", "P ublic"). Without a ligature to point at the split, it is joined only when the whole is a word and
# the rest no common one, and either the start is a lone capital or it is no common word and not both pieces are
# words ("bona fide", "an atomically thin", "a stringent" stay apart).
# The rest is only looked at, not consumed, so it can be the start of the next pair ("the prev alence").
KERNED = re.compile(r"\b([A-Za-z]+)([ \n]{1,3})(?=([a-z]{2,})\b)")
LIGATURES = frozenset({"ff", "fi", "fl", "ffi", "ffl"})  # a piece that is the ligature alone is never a word


def normalise(text: str) -> str:
    """A page's (or a line's) text: NFKC, split words joined, soft hyphens resolved, line ends stripped."""
    # NFKC expands ligatures (ﬁ -> fi) so "efficacy" matches, and a word split after one is joined again
    # ("eff ective"); soft hyphens mark line-end breaks.
    text = rejoin(unicodedata.normalize("NFKC", text)).replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"\u00ad\n", "-\n", text).replace("\u00ad", "")
    return "\n".join(line.rstrip() for line in text.split("\n"))


@lru_cache(maxsize=1)
def vocabulary() -> tuple[frozenset[str], frozenset[str]]:
    """(words, common words): spacy-lookups-data's lemma forms, and its lexemes by probability."""
    data = files("spacy_lookups_data") / "data"
    with gzip.open(str(data / "en_lemma_lookup.json.gz")) as f:
        lemmas = json.load(f)
    with gzip.open(str(data / "en_lexeme_prob.json.gz")) as f:
        prob = json.load(f)
    forms = set(lemmas) | set(lemmas.values())
    words = frozenset(forms | {w for w, p in prob.items() if p >= WORD_LOGPROB})
    common = frozenset(forms | {w for w, p in prob.items() if p >= PIECE_LOGPROB})
    return words, common


def rejoin(text: str) -> str:
    """`text` with ligature and kerning splits joined: "eff ective", "prev alence" -> "effective", "prevalence";
    "staff and", "a stringent" unchanged."""
    words, common = vocabulary()

    def join(m: re.Match) -> str:
        head, tail = m.group(1), m.group(2)
        joined = (head + tail).lower()
        both_words = head.lower() not in LIGATURES and head.lower() in common and tail in common
        return head + tail if joined in words and not both_words else m.group(0)

    def join_kerned(m: re.Match) -> str:
        head, tail = m.group(1), m.group(3)
        lone_capital = len(head) == 1 and head.isupper()
        # Two pieces that are both words ("bona fide") stay apart however rare they are, and so does a common word
        # before a rare one ("an atomically thin"): a join that is wrong corrupts the text, a missed one is as printed.
        one_word = head.lower() not in words or tail not in words
        if (
            (head + tail).lower() in words
            and tail not in common
            and (lone_capital or (one_word and head.lower() not in common))
        ):
            return head
        return m.group(0)

    return KERNED.sub(join_kerned, SPLIT.sub(join, text))


# A name with a capital inside it ("StopAdvisor", "GoActive"): kerning after such a capital ("StopA dvisor") splits
# it where no dictionary can tell, but the document prints the name whole elsewhere (its title, say).
_CAMEL = re.compile(r"\b[A-Z]?[a-z]+[A-Z][A-Za-z]*\b")
_PAIR = re.compile(r"\b([A-Za-z]+)([ \n]{1,3})([a-z]+)\b")


def rejoin_names(pages: list[list[str]]) -> list[list[str]]:
    """Pages (lists of lines) with a split name joined where the same document prints it whole, within a line or
    across a line end ("StopA" / "dvisor")."""
    names = {m.group(0) for lines in pages for line in lines for m in _CAMEL.finditer(line)}
    if not names:
        return pages
    _, common = vocabulary()

    def join(m: re.Match) -> str:
        head, gap, tail = m.groups()
        if head + tail in names and tail not in common and head.lower() not in common:
            return head + tail + ("\n" if "\n" in gap else "")  # a split at a line end keeps the page's lines
        return m.group(0)

    out = []
    for lines in pages:
        text = "\n".join(lines)
        out.append(_PAIR.sub(join, text).split("\n") if _PAIR.search(text) else lines)
    return out
