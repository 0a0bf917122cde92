"""Study design and country of a document, by rules over its title, abstract and methods text."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property

from kb.models import ParsedDocument
from kb.taxonomy import Taxonomy

# Weight of a design phrase by where it stands (see the header of [designs] in kb/taxonomy.toml).
TITLE_WEIGHT = 3.0
SELF_WEIGHT = 2.0
PLAIN_WEIGHT = 1.0
BACKGROUND_WEIGHT = 0.2
WEAK_FACTOR = 0.5
# Stated this strongly (in the title, or a sentence about the study itself), these designs win in this order
# over any weight of the others: a systematic review names the designs of the studies it includes, and a
# trial's participants are often drawn from a cohort, a registry or a population-based programme.
DOMINANT = ("systematic_review", "rct")
DOMINANT_AT = SELF_WEIGHT
# Below this a design was only mentioned in passing (one plain sentence, or work of others): it decides nothing.
MIN_WEIGHT = 1.5
# Ties go to the design listed first.
PRECEDENCE = ("systematic_review", "rct", "quasi_experimental", "qualitative", "observational", "other")
# How much of a long document is read when it has no abstract: its opening and its methods sections.
OPENING_CHARS = 3000
METHODS_CHARS = 3000
_METHODS_HEADING = re.compile(r"\b(method|methods|methodology|design|study design|materials)\b", re.I)
_IZE = re.compile(r"\b(\w+?)i([sz])(e|ed|es|ing|ation|ations)\b", re.I)
MAX_COUNTRIES = 3  # more countries named than this: a multi-country study, no single country
# "in South Africa" states where a study was done; "funded by the U.S. National Institutes..." does not.
_PLACE_WORDS = {"in", "from", "across", "throughout", "within"}


@dataclass
class DesignResult:
    design: str | None  # None only when there was no text to read
    phrase: str | None  # the words that decided it, as written; None for `other` by default
    sentence: str | None = None
    country: str | None = None
    scores: dict[str, float] | None = None


def spellings(phrase: str) -> list[str]:
    """The phrase in both -ise and -ize spellings ("randomised" -> also "randomized")."""
    other = _IZE.sub(lambda m: f"{m[1]}i{'z' if m[2].lower() == 's' else 's'}{m[3]}", phrase)
    return [phrase] if other == phrase else [phrase, other]


class DesignClassifier:
    """spaCy matchers built once from the taxonomy's `[designs]`, `[design_cues]` and `[countries]`."""

    def __init__(self, taxonomy: Taxonomy):
        self.taxonomy = taxonomy

    @cached_property
    def _nlp(self):
        import spacy
        from spacy.matcher import PhraseMatcher

        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        self._phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        self._cues = PhraseMatcher(nlp.vocab, attr="LOWER")
        self._places = PhraseMatcher(nlp.vocab, attr="ORTH")

        def add(matcher, key: str, phrases) -> None:
            docs = [nlp.make_doc(s) for p in phrases for s in spellings(p)]
            if docs:
                matcher.add(key, docs)

        for d in self.taxonomy.designs.values():
            add(self._phrases, f"strong:{d.id}", d.phrases)
            add(self._phrases, f"weak:{d.id}", d.weak)
        add(self._phrases, "neutral:", self.taxonomy.design_cues.neutral)
        add(self._cues, "self", self.taxonomy.design_cues.self_)
        add(self._cues, "background", self.taxonomy.design_cues.background)
        for name, aliases in self.taxonomy.countries.items():
            add(self._places, name, aliases)
        return nlp

    def classify(self, title: str, abstract: str = "", methods: str = "") -> DesignResult:
        """The design with most weight in the text, the phrase that gave it most, and the stated country."""
        title, body = (title or "").strip(), "\n".join(t for t in (abstract, methods) if t and t.strip())
        if not title and not body:
            return DesignResult(None, None)
        nlp = self._nlp
        scores: Counter[str] = Counter()
        best: dict[str, tuple[float, str, str]] = {}
        for text, in_title in ((title, True), (body, False)):
            if not text:
                continue
            for sent in nlp(text).sents:
                sent_doc = sent.as_doc()
                weight = TITLE_WEIGHT if in_title else self._sentence_weight(sent_doc)
                for design, span, factor in self._matches(sent_doc):
                    w = weight * factor
                    scores[design] += w
                    if w > best.get(design, (0.0, "", ""))[0]:
                        best[design] = (w, span, sent.text.strip())
        design = design_of(scores)
        country = None if design == "systematic_review" else self.country(title, body)
        if design is None:
            return DesignResult("other", None, None, country, dict(scores))
        _, phrase, sentence = best[design]
        return DesignResult(design, phrase, sentence, country, dict(scores))

    def _sentence_weight(self, sent) -> float:
        kinds = {self._nlp.vocab.strings[k] for k, _, _ in self._cues(sent)}
        if "background" in kinds:
            return BACKGROUND_WEIGHT
        # Structured abstracts open a sentence with its heading in capitals: "DESIGN Prospective cohort study."
        if "self" in kinds or (len(sent) and sent[0].is_upper and len(sent[0]) > 3):
            return SELF_WEIGHT
        return PLAIN_WEIGHT

    def _matches(self, sent):
        """(design, words as written, weight factor) per match; a longer match wins over one inside it."""
        from spacy.util import filter_spans

        strings = self._nlp.vocab.strings
        labels = {(s, e): strings[k] for k, s, e in self._phrases(sent)}
        for span in filter_spans([sent[s:e] for s, e in labels]):
            strength, design = labels[(span.start, span.end)].split(":")
            if design:  # neutral phrases only take their words away from the designs
                yield design, span.text, (1.0 if strength == "strong" else WEAK_FACTOR)

    def country(self, title: str, body: str) -> str | None:
        """The country named in the title, else the one named most in the text (None if several tie)."""
        from spacy.util import filter_spans

        nlp = self._nlp
        for text in (title, body):
            if not text:
                continue
            doc = nlp.make_doc(text)
            found = {(s, e): nlp.vocab.strings[k] for k, s, e in self._places(doc)}
            counts_by: Counter[str] = Counter()
            for sp in filter_spans([doc[s:e] for s, e in found]):
                stated = sp.start > 0 and doc[sp.start - 1].lower_ in _PLACE_WORDS
                counts_by[found[(sp.start, sp.end)]] += 2 if stated else 1
            counts = counts_by.most_common()
            if not counts or len(counts) > MAX_COUNTRIES:
                continue
            if len(counts) > 1 and counts[0][1] == counts[1][1]:
                continue
            return counts[0][0]
        return None


def design_of(scores: Counter[str]) -> str | None:
    """The design the weights give (None: no design stated with enough weight, so `other`)."""
    design = next((d for d in DOMINANT if scores[d] >= DOMINANT_AT), None) or max(
        PRECEDENCE, key=lambda d: (scores[d], -PRECEDENCE.index(d))
    )
    return design if scores[design] >= MIN_WEIGHT else None


def design_text(pd: ParsedDocument) -> tuple[str, str, str]:
    """Title, abstract (or the document's opening) and methods text of a parsed document."""
    doc = pd.document
    opening = doc.abstract or ""
    if not opening:
        parts: list[str] = []
        for b in pd.blocks:
            if sum(len(p) for p in parts) >= OPENING_CHARS:
                break
            parts.append(b.text)
        opening = "\n".join(parts)[:OPENING_CHARS]
    methods = "\n".join(b.text for b in pd.blocks if b.section and _METHODS_HEADING.search(b.section[-1]))[
        :METHODS_CHARS
    ]
    return doc.title or "", opening, methods
