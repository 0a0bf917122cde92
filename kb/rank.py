"""Section priors for the hybrid ranking: a passage's fused score weighed by the kind of section it stands under."""

from __future__ import annotations

import json
import re

from pyroaring import BitMap

_NUMBER = r"^\s*(?:\d+[.)]?\s*)?"
# The kinds of section that change how much a passage's match is worth, by the headings that open them. A passage
# takes the kind of any heading on its section path ("Abstract" > "Results" is still the abstract).
SECTION_HEADINGS = {
    # A reference list shares many words with a question yet answers none.
    "references": re.compile(
        _NUMBER + r"(?:references|bibliography|reference list|literature cited|works cited)\s*$", re.I
    ),
    # An abstract or summary states a report's question, method and findings in a few plain sentences: a
    # researcher's question is most often answered there, in the words the body spreads over pages.
    "summary": re.compile(
        _NUMBER + r"(?:abstract|structured abstract|summary|executive summary|plain language summary|key findings"
        r"|key messages|highlights)\s*$",
        re.I,
    ),
}
# What each kind's passages score, as a share of their fused score. Summary, measured on the real-PDF questions
# (bench/realpdf.py TRIED; docs/benchmarks.md, "Long reports"): 1.0 answers 22/34 in the top 3, 1.1 and 1.15 24,
# 1.2 to 1.5 25; the answer passage's mean reciprocal rank (top 10) 0.58 at 1.0, 0.62-0.64 from 1.1 to 1.3, 0.58
# at 1.5. With passages embedded alone (passage format text3): 1.0 22, 1.1 24, 1.2 and 1.3 26, 1.5 25. SciFact
# passages carry no headings, so its nDCG@10 cannot move and the weight is not tuned there.
SECTION_WEIGHTS = {"references": 0.5, "summary": 1.2}


def section_kind(section_json: str) -> str | None:
    """The kind of a passage's section (its `chunks.section` JSON list of headings), or None for a plain one."""
    # Words one of those headings holds, tested on the raw path before it is parsed: the filter index reads every
    # passage's path and most are under neither kind (~0.35 s per million paths; one case-blind regex took ~5 s).
    low = section_json.lower()
    if not (
        "referen" in low or "bibliograph" in low or " cited" in low or "abstract" in low or "summar" in low
        or "key findings" in low or "key messages" in low or "highlights" in low
    ):  # fmt: skip
        return None
    headings = [h for h in json.loads(section_json) if isinstance(h, str)]
    for kind, pattern in SECTION_HEADINGS.items():
        if any(pattern.match(h) for h in headings):
            return kind
    return None


def weigh_sections(fused: dict[int, float], kinds: dict[str, BitMap]) -> None:
    """Multiplies, in place, the fused score of each passage of a weighed kind (`kinds`: kind -> its rowids)."""
    if not fused:
        return
    candidates = BitMap(fused)
    for kind, rows in kinds.items():
        w = SECTION_WEIGHTS[kind]
        for rid in rows.intersection(candidates):
            s = fused[rid]
            # A negative score (all cosines below zero) is divided instead, so a weight above 1 still lifts it.
            fused[rid] = s * w if s >= 0 else s / w
