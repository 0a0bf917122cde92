"""Deterministic identifiers: normalised DOIs and content hashes."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_DOI_RE = re.compile(r"10\.\d{4,9}/\S+", re.I)


def normalise_doi(value: str | None) -> str | None:
    """`https://doi.org/10.1/ABC.` -> `10.1/abc`; None when there is no DOI in the value."""
    if not value:
        return None
    m = _DOI_RE.search(value.strip())
    if not m:
        return None
    return m.group(0).rstrip(".,;)]}").lower()


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
