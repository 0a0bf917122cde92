"""Readers chosen by file suffix through one registry: path -> ReadResult."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kb.models import ReadResult
from kb.taxonomy import Taxonomy


class SourceError(Exception):
    """A file could not be read; `reason` is what the per-file table shows after `failed:`."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class UnsupportedFile(SourceError, ValueError):
    pass


@dataclass
class ReadOptions:
    doc_type: str | None = None  # overrides the reader's guess
    sensitivity: str = "official"
    cache_dir: Path | None = None  # where slow readers (OCR) keep results by file hash; None: no cache
    progress: Callable[[str], None] | None = None  # told of each step of a slow read ("OCR page 3 of 40")
    zotero_storage: Path | None = None  # where Zotero keeps attachments a .bib's `file` fields name
    taxonomy: Taxonomy | None = None  # the knowledge base's; None (a file read on its own): the packaged one


# Longest suffix first, so `x.toolkit.yaml` is a toolkit entry and not plain YAML.
READERS: dict[str, str] = {
    ".toolkit.yaml": "ingest.sources.toolkit",
    ".toolkit.yml": "ingest.sources.toolkit",
    ".toolkit.json": "ingest.sources.toolkit",
    ".pdf": "ingest.sources.pdf",
    ".txt": "ingest.sources.text",
    ".md": "ingest.sources.text",
    ".markdown": "ingest.sources.text",
    ".bib": "ingest.sources.bibtex",
    ".ris": "ingest.sources.ris",
    ".html": "ingest.sources.html",
    ".htm": "ingest.sources.html",
    ".xhtml": "ingest.sources.html",
    ".docx": "ingest.sources.docx",
    ".doc": "ingest.sources.docx",  # refused with the remedy ("save as .docx"), not as an unknown type
}


def decode_text(raw: bytes, problems: list[str]) -> str:
    """UTF-8 (with or without BOM), else Latin-1 with a problem noted: a text file always reads."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.append("not UTF-8: read as Latin-1; save it as UTF-8 if characters look wrong")
        return raw.decode("latin-1")


def reader_for(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in sorted(READERS, key=len, reverse=True):
        if name.endswith(suffix):
            return READERS[suffix]
    return None


def is_supported(path: Path) -> bool:
    return reader_for(path) is not None


def read_file(path: str | Path, options: ReadOptions | None = None) -> ReadResult:
    """Read one file with the reader registered for its suffix.

    Raises SourceError (with a reason fit for the per-file table) when the whole file is unusable.
    """
    path = Path(path)
    module = reader_for(path)
    if module is None:
        known = ", ".join(sorted(READERS))
        raise UnsupportedFile(path, f"no reader found for file type (supported: {known})")
    if not path.is_file():
        raise SourceError(path, "not found: check the path")
    if module == READERS[".txt"]:
        from ingest.sources.ris import looks_like_ris

        # EndNote and PubMed save RIS as .txt: the content, not the suffix, says which reader it needs.
        if looks_like_ris(path):
            module = READERS[".ris"]
    return importlib.import_module(module).read(path, options or ReadOptions())


def dependencies(path: str | Path, options: ReadOptions | None = None) -> list[tuple[str, str]]:
    """Other files that reading `path` takes in (a .bib's attachments), each with a fingerprint of its state.

    A reader module declares them with a `dependencies(path, options)` function; most have none.
    """
    path = Path(path)
    module = reader_for(path)
    found = getattr(importlib.import_module(module), "dependencies", None) if module else None
    return found(path, options or ReadOptions()) if found else []
