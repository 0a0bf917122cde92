"""spaCy's sentences and stopwords, one of each for the chunker, the digest and BM25 queries."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from functools import lru_cache


def _spacy_stop_words() -> frozenset[str]:
    # spaCy's English list, loaded from its own module file: importing it through the package costs the
    # whole of spaCy (seconds), which `kb search` must not pay for a list of words.
    path = importlib.metadata.distribution("spacy").locate_file("spacy/lang/en/stop_words.py")
    spec = importlib.util.spec_from_file_location("_spacy_en_stop_words", str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return frozenset(module.STOP_WORDS)


# Words spaCy counts as stopwords that carry meaning in a VRU's questions: "serious violence", "first-time
# entrants", "left alone", "without access to", "never", "less likely", "full-time education". Keeping them
# costs nothing measurable: SciFact train BM25 nDCG@10 0.6965 with the old hand-written list, 0.6966 with
# spaCy's, 0.6968 with spaCy's less these.
KEPT = frozenset({"serious", "first", "alone", "without", "never", "less", "full"})
STOPWORDS = _spacy_stop_words() - KEPT


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
