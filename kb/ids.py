"""Deterministic identifiers: DOIs found and validated in text, and content hashes."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

# Crossref's pattern for modern DOIs, /^10.\d{4,9}/[-._;()/:A-Z0-9]+$/i, widened by the "<>[]#+" that its
# patterns for older Wiley SICI DOIs allow ("10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-0").
_DOI_CHARS = r"-._;()/:a-z0-9<>\[\]#+"
_DOI_VALID_RE = re.compile(rf"10\.\d{{4,9}}/[{_DOI_CHARS}]+", re.I)
_DOI_START_RE = re.compile(r"10\.\d{4,9}/", re.I)
_DOI_BODY_RE = re.compile(rf"[{_DOI_CHARS}]*", re.I)
# What may continue a DOI broken at a line end (or by a stray space after "-", "/" or ".").
_PIECE_RE = re.compile(r"[ \t]*\n?[ \t]*([-._;()/:a-z0-9]+)", re.I)
# Words before a DOI that make it another work's: "See Comment http://dx.doi.org/...".
_CITING_RE = re.compile(
    r"\b(?:see|comment|commentary|editorial|linked|related|correction|erratum|retraction|corrigendum)\b[^\n]{0,40}$",
    re.I,
)


@dataclass(frozen=True)
class DoiMatch:
    """A DOI found in text: its normalised value and where it starts and ends (end after re-joining)."""

    doi: str
    start: int
    end: int


def _balanced(doi: str) -> str:
    # "(see https://doi.org/10.1/abc)", "<https://doi.org/10.1/abc>": the bracket belongs to the sentence.
    while doi[-1:] in ")]>" and doi.count(doi[-1]) > doi.count({")": "(", "]": "[", ">": "<"}[doi[-1]]):
        doi = doi[:-1].rstrip(".,;:")
    return doi


def _continues(doi: str, part: str) -> bool:
    """Whether `part` (after a line end) carries on `doi`, which ends in - / or ."""
    bare = part.rstrip(".,;:)")
    if doi[-1] == ".":
        # "pone." + "0115884" goes on; "pst.311." + "Stat Med" and "a0034961." + "27. Julious" do not.
        return len(bare) >= 4 and bool(re.search(r"\d", bare))
    # "2016-" + "012335" or "70195-" + "X" goes on; "2016-" + "Abstract" is a heading after a cut DOI.
    return bool(re.search(r"\d", bare)) or len(bare) <= 2


def find_dois(text: str) -> list[DoiMatch]:
    """Every complete DOI in `text`, re-joined across line ends; incomplete ones (ending in - or .) dropped."""
    found: list[DoiMatch] = []
    pos = 0
    while m := _DOI_START_RE.search(text, pos):
        end = _DOI_BODY_RE.match(text, m.end()).end()
        doi = text[m.start() : end]
        # A DOI cut at a line end ("bmjopen-2016-" / "012335", "journal.pone." / "0115884") goes on.
        while doi[-1] in "-/." and (piece := _PIECE_RE.match(text, end)):
            part = piece.group(1)
            if not _continues(doi, part):
                break
            doi += part
            end = piece.end()
        cut = doi.endswith(".") and text[end : end + 1] == "\n"
        doi = _balanced(doi.rstrip(".,;:"))
        pos = max(end, m.end())
        if doi[-1:] in "-/." or not _DOI_VALID_RE.fullmatch(doi):
            continue
        if cut and re.search(r"[./][a-z]{3,}$", doi, re.I):
            continue  # "journal.pone." at a line end: cut short ("pst.311." ends a sentence instead)
        found.append(DoiMatch(doi.lower(), m.start(), end))
    return found


def citing_context(before: str) -> bool:
    """The words just before a DOI on its line say it names another work ("See Comment", "linked article")."""
    line = before.rsplit("\n", 1)[-1]
    return bool(_CITING_RE.search(line))


def normalise_doi(value: str | None) -> str | None:
    """`https://doi.org/10.1/ABC.` -> `10.1/abc`; None when the value holds no complete DOI."""
    if not value:
        return None
    found = find_dois(unicodedata.normalize("NFKC", value.strip()))
    return found[0].doi if found else None


def normalise_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", text).strip()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(text: str) -> str:
    """Hash of the normalised text: the same words in another layout give the same hash."""
    return sha256_text(normalise_text(text))


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def doc_id_for(doi: str | None, content: str) -> str:
    """The DOI when known (so the same paper from two sources is one document), else a content hash."""
    norm = normalise_doi(doi)
    if norm:
        return f"doi:{norm}"
    return f"sha256:{content_hash(content)[:32]}"
