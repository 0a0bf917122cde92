"""Sentences from spaCy's rule-based sentencizer, one splitter for the chunker and the digest."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def sentencizer():
    # Imported here: spaCy costs about a second, and only commands that split text need it.
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = 5_000_000
    return nlp


def split_sentences(texts: list[str]) -> list[list[str]]:
    """The sentences of each text, stripped, empty ones dropped."""
    return [[s.text.strip() for s in doc.sents if s.text.strip()] for doc in sentencizer().pipe(texts, batch_size=64)]


def sentences(text: str) -> list[str]:
    """One text's sentences; a line break also ends one, since an abstract's headings stand on lines of their own."""
    lines = [line for line in text.splitlines() if line.strip()]
    return [s for per_line in split_sentences(lines) for s in per_line]
