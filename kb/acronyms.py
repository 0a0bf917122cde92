"""Acronyms a document defines ('National Referral Mechanism (NRM)'), so its passages that use only the short form
are found by the long one too.

A report defines an acronym once and uses it for thirty pages; a researcher asks in the long form ("when was the
national referral mechanism set up?"), and BM25 never matches the passages that say "NRM". The long forms found
here are indexed with a passage's headings (the BM25 heading column), never embedded or shown.

Definitions are found as Schwartz and Hearst (2003, "A simple algorithm for identifying abbreviation definitions
in biomedical text") find them: a short form in parentheses after its long form, or a long form in parentheses
after its short form, where every letter of the short form, read from the end, starts a word or follows an earlier
match in the long form, and the short form's first letter starts the long form's first word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A short form: 2-10 characters, a letter first, at least two capitals ('NRM', 'ECAT', 'GPs', 'SA-ESS').
_SHORT = r"[A-Za-z][A-Za-z0-9&\-]{1,9}"
_PAREN = re.compile(r"\(([^()]{2,120})\)")  # every definition has one; a text is scanned for these first
_SHORT_FORM = re.compile(_SHORT + r"$")
_BEFORE = re.compile(r"(" + _SHORT + r")\s*$")  # a short form just before a parenthesis
# A long form is at most 12 words (Schwartz and Hearst's limit for a 10-letter short form), none across a parenthesis.
_WINDOW = 160
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)?")


_TRIM = " -,;:'\"\u2018\u2019\u201c\u201d"
# Words a long form may skip in its initials ('Duty to Notify' for DtN spells its 't'; 'Department of Health' DH).
_MINOR = {"of", "and", "the", "for", "to", "in", "on", "a", "an", "&"}


def _initials_spell(short: str, long: str) -> bool:
    words = _WORD.findall(long)
    want = "".join(ch.lower() for ch in short if ch.isalpha())
    every = "".join(w[0].lower() for w in words)
    major = "".join(w[0].lower() for w in words if w.lower() not in _MINOR)
    return len(words) >= 2 and want in (every, major)


def _is_short_form(s: str) -> bool:
    return sum(ch.isupper() for ch in s) >= 2 and not s.isdigit() and len(s) <= 10


def _best_long_form(short: str, candidate: str) -> str | None:
    """The shortest end of `candidate` whose letters spell `short` (Schwartz-Hearst's backward match), or None."""
    s = [ch.lower() for ch in short if ch.isalnum()]
    long = candidate.strip()
    si, li = len(s) - 1, len(long) - 1
    last = None
    while si >= 0:
        ch = s[si]
        # The short form's first letter must open a word of the long form; its other letters may sit anywhere.
        while li >= 0 and (long[li].lower() != ch or (si == 0 and li > 0 and long[li - 1].isalnum())):
            li -= 1
        if li < 0:
            return None
        last = li if last is None else last
        si -= 1
        li -= 1
    # The short form's last letter comes from the long form's last word: in 'activity, Mean (SD)' it does not.
    if last is None or " " in long[last:]:
        return None
    start = long.rfind(" ", 0, li + 1) + 1
    found = long[start:].strip(_TRIM)
    words = _WORD.findall(found)
    # A long form has no more words than Schwartz and Hearst allow: min(|short| + 5, 2 * |short|).
    if len(words) < 2 or len(words) > min(len(s) + 5, 2 * len(s)) or found.lower() == short.lower():
        return None
    return found


def definitions(texts: Iterable[str]) -> dict[str, str]:
    """Short form -> long form, for each acronym the texts define (the first definition of each is kept)."""
    found: dict[str, str] = {}
    for text in texts:
        if "(" not in text:
            continue
        text = " ".join(text.split())
        for m in _PAREN.finditer(text):
            inner = m.group(1).strip()
            before = text[max(0, m.start() - _WINDOW) : m.start()]
            before = before[before.rfind(")") + 1 :].rstrip()
            if _SHORT_FORM.match(inner) or (inner.endswith("s") and _SHORT_FORM.match(inner[:-1])):
                # 'National Referral Mechanism (NRM)': the long form ends just before the parenthesis.
                short = inner if _is_short_form(inner) or not inner.endswith("s") else inner[:-1]
                if short in found or not _is_short_form(short):
                    continue
                if long := _best_long_form(short, " ".join(before.split()[-12:])):
                    found[short] = long
            elif (b := _BEFORE.search(before)) and inner[:1].isalpha():
                # 'GLAA (Gangmasters and Labour Abuse Authority)': the parenthesis is the long form only when its
                # words' initials spell the short form; the backward match alone would take any aside that
                # happens to hold the letters.
                short = b.group(1)
                if short not in found and _is_short_form(short) and _initials_spell(short, inner):
                    found[short] = inner.strip(_TRIM)
    return found


def expansions(text: str, defined: dict[str, str]) -> list[str]:
    """What BM25 should also match in `text`: the long form of each acronym it uses without it, and the acronym
    of each long form it spells out without the acronym, in the order of `defined`."""
    if not defined:
        return []
    low = f" {' '.join(_WORD.findall(text.lower()))} "
    tokens = set(re.findall(_SHORT, text))
    out: list[str] = []
    for short, long in defined.items():
        has_short = short in tokens or f"{short}s" in tokens
        has_long = f" {' '.join(_WORD.findall(long.lower()))} " in low
        if has_short != has_long:
            out.append(long if has_short else short)
    return out
