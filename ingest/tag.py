"""Tagging: find the taxonomy's factors (with polarity), priorities, crime types, cohorts and places in text."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kb.models import FactorTag, Tags
from kb.taxonomy import Taxonomy, load_taxonomy

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

_PRIORITY_MENTION = re.compile(r"\bpriority\s+(\d+)\b", re.IGNORECASE)
# Matcher keys are "<kind>:<id>". Only factors take part in polarity; cues, negators and ignores steer it.
_FACTOR, _CRIME, _COHORT, _PLACE = "factor", "crime", "cohort", "place"
_PROTECTIVE, _RISK, _NEGATOR, _IGNORE = "cue+", "cue-", "neg", "ignore"
# Cues strong enough to say that a risk factor named before them is itself protective
# ("being in care was a protective factor"); weaker cues ("reduces the risk") usually follow an intervention.
_STRONG_PROTECTIVE = ("protective factor", "protective", "protect", "protects against", "protect against", "buffer")
_LEMMATIZER = "kb_lower_lemmatizer"


@dataclass
class _Mention:
    kind: str
    id: str
    start: int
    end: int


class _LowerLemmatizer:
    """Lookup lemmatizer (spacy-lookups-data) applied to the lowercase form, so "Results" == "results"."""

    def __init__(self, vocab):
        from spacy.lookups import load_lookups

        table = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
        self.lemma_of = {key: vocab.strings.add(value) for key, value in table.items()}

    def __call__(self, doc: Doc) -> Doc:
        lemma_of = self.lemma_of
        for token in doc:
            token.lemma = lemma_of.get(token.lower, token.lower)
        return doc


def _register_lemmatizer() -> None:
    from spacy.language import Language

    if not Language.has_factory(_LEMMATIZER):
        Language.factory(_LEMMATIZER, func=lambda nlp, name: _LowerLemmatizer(nlp.vocab))


class Tagger:
    """Tags passages with the taxonomy; spaCy is loaded on first use, once per Tagger."""

    def __init__(self, taxonomy: Taxonomy | None = None, batch_size: int = 256):
        self.taxonomy = taxonomy or load_taxonomy()
        self.batch_size = batch_size
        self._nlp: Language | None = None
        self._order = {
            kind: {key: i for i, key in enumerate(table)}
            for kind, table in (
                (_FACTOR, self.taxonomy.factors),
                (_CRIME, self.taxonomy.crime_types),
                (_COHORT, self.taxonomy.cohorts),
                (_PLACE, self.taxonomy.places),
            )
        }
        self._who_order = {w: i for i, w in enumerate(self.taxonomy.who_levels)}

    def tag(self, text: str) -> Tags:
        return self.tag_many([text])[0]

    def tag_many(self, texts: Iterable[str]) -> list[Tags]:
        texts = list(texts)
        nlp = self._pipeline()
        return [self._tags(doc) for doc in nlp.pipe(texts, batch_size=self.batch_size)]

    def _pipeline(self) -> Language:
        if self._nlp is None:
            self._nlp = self._build()
        return self._nlp

    def _build(self) -> Language:
        import spacy
        from spacy.matcher import PhraseMatcher

        _register_lemmatizer()
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        lemmatizer = nlp.add_pipe(_LEMMATIZER)

        tax = self.taxonomy
        lemma_terms: dict[str, list[str]] = {}
        lower_terms: dict[str, list[str]] = {}
        cased_terms: dict[str, list[str]] = {}
        for kind, table in ((_FACTOR, tax.factors), (_CRIME, tax.crime_types), (_COHORT, tax.cohorts)):
            for entry in table.values():
                lemma_terms[f"{kind}:{entry.id}"] = list(entry.synonyms)
                lower_terms[f"{kind}:{entry.id}"] = list(entry.exact)
                cased_terms[f"{kind}:{entry.id}"] = list(entry.cased)
        for place in tax.places.values():
            # Place names are proper nouns: lemmatising them only blurs them ("Leeds" -> "leed").
            lower_terms[f"{_PLACE}:{place.id}"] = [*place.synonyms, *place.exact]
            cased_terms[f"{_PLACE}:{place.id}"] = list(place.cased)
        cues = tax.cues
        for kind, terms in (
            (_PROTECTIVE, cues.protective),
            (_RISK, cues.risk),
            (_NEGATOR, cues.negators),
            (_IGNORE, cues.ignore),
        ):
            for term in terms:
                lemma_terms.setdefault(f"{kind}:{term}", []).append(term)

        self._lemma_matcher = PhraseMatcher(nlp.vocab, attr="LEMMA")
        self._lower_matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self._cased_matcher = PhraseMatcher(nlp.vocab, attr="ORTH")
        for key, terms in lemma_terms.items():
            if terms:
                self._lemma_matcher.add(key, [lemmatizer(nlp.make_doc(t)) for t in terms])
        for key, terms in lower_terms.items():
            if terms:
                self._lower_matcher.add(key, [nlp.make_doc(t) for t in terms])
        for key, terms in cased_terms.items():
            if terms:
                self._cased_matcher.add(key, [nlp.make_doc(t) for t in terms])
        return nlp

    def _mentions(self, doc: Doc) -> list[_Mention]:
        strings = doc.vocab.strings
        out = []
        for match_id, start, end in (*self._lemma_matcher(doc), *self._lower_matcher(doc), *self._cased_matcher(doc)):
            kind, _, ident = strings[match_id].partition(":")
            out.append(_Mention(kind, ident, start, end))
        return out

    def _tags(self, doc: Doc) -> Tags:
        mentions = self._mentions(doc)
        ignored = [(m.start, m.end) for m in mentions if m.kind == _IGNORE]

        def kept(m: _Mention) -> bool:
            return not any(s <= m.start and m.end <= e for s, e in ignored)

        factors = [m for m in mentions if m.kind == _FACTOR and kept(m)]
        # A longer mention wins over one inside it ("mental health support" is not also "mental health");
        # identical spans under two factors are both kept, which is how one phrase gives two factors.
        factors = [
            m
            for m in factors
            if not any(o.start <= m.start and m.end <= o.end and (o.end - o.start) > (m.end - m.start) for o in factors)
        ]
        factors.sort(key=lambda m: (m.start, m.end))

        tags = Tags()
        seen: dict[tuple[str, str], FactorTag] = {}
        if factors:
            for m, (polarity, cue) in zip(factors, self._polarities(doc, factors, mentions), strict=True):
                # The words as the text has them, so an analyst can find what triggered the tag.
                words = doc[m.start : m.end].text
                tag = seen.get((m.id, polarity))
                if tag is None:
                    tag = seen[(m.id, polarity)] = FactorTag(m.id, polarity, [], cue)
                    tags.factors.append(tag)
                if words not in tag.matched:
                    tag.matched.append(words)
                if tag.cue is None:
                    tag.cue = cue

        tax = self.taxonomy
        factor_ids = {f for f, _ in seen}
        priorities = {p for f in factor_ids for p in tax.factors[f].priorities}
        priorities |= {int(n) for n in _PRIORITY_MENTION.findall(doc.text)} & set(tax.priorities)
        tags.priorities = sorted(priorities)
        tags.who_levels = sorted({tax.factors[f].who_level for f in factor_ids}, key=self._who_order.__getitem__)
        for kind, attr in ((_CRIME, "crime_types"), (_COHORT, "cohorts"), (_PLACE, "places")):
            found = {m.id for m in mentions if m.kind == kind and kept(m)}
            setattr(tags, attr, sorted(found, key=self._order[kind].__getitem__))
        return tags

    def _polarities(self, doc: Doc, factors: list[_Mention], mentions: list[_Mention]) -> list[tuple[str, str | None]]:
        """Each factor mention's polarity, with the cue words that set it (None: the factor's default, no cue)."""
        sent_starts = [s.start for s in doc.sents]

        def sentence(i: int) -> int:
            return bisect_right(sent_starts, i) - 1

        def words(m: _Mention) -> str:
            return doc[m.start : m.end].text

        protective: dict[int, list[_Mention]] = {}
        risky: dict[int, list[_Mention]] = {}
        negator_at: dict[int, _Mention] = {}
        for m in mentions:
            if m.kind == _PROTECTIVE:
                protective.setdefault(sentence(m.start), []).append(m)
            elif m.kind == _RISK:
                risky.setdefault(sentence(m.start), []).append(m)
            elif m.kind == _NEGATOR:
                negator_at[m.end] = m

        for table in (protective, risky):
            for sent, cues in table.items():
                # "protective factor" is the cue, not also the "protective" inside it.
                table[sent] = sorted(
                    (c for c in cues if not any(o.start <= c.start and c.end <= o.end and o != c for o in cues)),
                    key=lambda c: c.start,
                )

        factor_defs = self.taxonomy.factors
        result: list[tuple[str, str | None]] = []
        for m in factors:
            default = factor_defs[m.id].polarity
            negator = negator_at.get(m.start)
            sent = sentence(m.start)
            if default == "protective":
                # The absence of a protective factor ("lack of a trusted adult") is a risk.
                if negator is not None:
                    result.append(("risk", words(negator)))
                else:
                    cues = protective.get(sent, [])
                    result.append(("protective", words(cues[0]) if cues else None))
                continue
            cues_after = [c for c in protective.get(sent, ()) if c.start >= m.end]
            # A risk factor turns protective only when it comes before the protective cue in a sentence
            # with no risk cue, and either its absence is named ("low levels of deprivation were
            # protective") or it is the first factor of the sentence and the cue is strong ("alcohol
            # abstinence was a protective factor"). "Tackling drug use reduces the risk" stays risk.
            first_in_sentence = not any(o.start < m.start and sentence(o.start) == sent for o in factors)
            strong = [c for c in cues_after if c.id in _STRONG_PROTECTIVE]
            flips = bool(cues_after) and sent not in risky and (negator is not None or (strong and first_in_sentence))
            if flips:
                cue = strong[0] if strong and negator is None else cues_after[0]
                result.append(("protective", f"{words(negator)} … {words(cue)}" if negator else words(cue)))
            else:
                risk_cues = risky.get(sent, [])
                result.append(("risk", words(risk_cues[0]) if risk_cues else None))
        return result
