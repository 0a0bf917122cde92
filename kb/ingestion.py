"""The one way into ingestion for the app and the CLI: the pipeline found through an entry point, never imported.

`kb` never imports `ingest` (arrows point one way: `ingest -> kb`). The pipeline registers itself under the
entry-point group `kb.pipeline` (pyproject.toml: `default = "ingest.pipeline:PIPELINE"`) as a `Pipeline`; an
environment installed before that entry existed falls back to the same name, resolved by importlib.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kb.library import UploadError, save_upload
from kb.models import Block, Chunk, FileReport, IngestReport, Tags

if TYPE_CHECKING:
    from kb.store import KnowledgeBase
    from kb.taxonomy import Taxonomy

GROUP = "kb.pipeline"
NAME = "default"
DEFAULT_PIPELINE = "ingest.pipeline:PIPELINE"

# (path, None) for a file to read, (path, reason) for a path that cannot be (a missing file, say).
Files = list[tuple[Path, str | None]]


class IngestError(ValueError):
    """An ingestion was asked for with a wrong option (an unknown --type, say); nothing was read."""


class NoPipelineError(IngestError):
    """No ingestion pipeline is installed or registered; the message says how to install one."""


class Run(Protocol):
    def run(
        self,
        paths: Iterable[str | Path],
        on_file: Callable[[Path], None] | None = None,
        on_done: Callable[[FileReport], None] | None = None,
        on_embedded: Callable[[int], None] | None = None,
        files: Files | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> IngestReport: ...


class Chunking(Protocol):
    def chunk(self, doc_id: str, blocks: list[Block]) -> list[Chunk]: ...


class Tagging(Protocol):
    def tag_many(self, texts: list[str]) -> list[Tags]: ...


@dataclass(frozen=True)
class Pipeline:
    """What an ingestion pipeline offers kb: the file types it reads, folder expansion, runs, its chunker, a tagger."""

    suffixes: tuple[str, ...]  # file name endings the readers accept (".pdf", ".toolkit.yaml", ...)
    expand: Callable[[Iterable[str | Path]], Files]
    ingestor: Callable[[KnowledgeBase, str | None, str | None], Run]  # (kb, doc_type, sensitivity); IngestError
    chunker: Callable[[KnowledgeBase], Chunking]
    tagger: Callable[[Taxonomy], Tagging]


@cache
def pipeline() -> Pipeline:
    """The registered pipeline (entry point `kb.pipeline` named `default`), else the default name by importlib."""
    found = [ep for ep in entry_points(group=GROUP) if ep.name == NAME]
    ep = found[0] if found else EntryPoint(NAME, DEFAULT_PIPELINE, GROUP)
    try:
        loaded = ep.load()
    except ImportError as exc:
        raise NoPipelineError(
            f"no ingestion pipeline: the entry point {GROUP}:{NAME} = {ep.value!r} cannot be imported ({exc}). "
            "Install the project with its pipeline (`pip install -e .` in the repository) and try again"
        ) from exc
    if not isinstance(loaded, Pipeline):
        raise NoPipelineError(
            f"the entry point {GROUP}:{NAME} = {ep.value!r} is a {type(loaded).__name__}, not a kb.ingestion.Pipeline; "
            "point it at a Pipeline object in pyproject.toml and reinstall"
        )
    return loaded


def supported_suffixes() -> tuple[str, ...]:
    return pipeline().suffixes


def expand_paths(paths: Iterable[str | Path]) -> Files:
    """Folders become their supported files; a path that does not exist comes back with the reason."""
    return pipeline().expand(paths)


def ingest_paths(
    kb: KnowledgeBase,
    paths: Iterable[str | Path],
    doc_type: str | None = None,
    sensitivity: str | None = None,
    *,
    files: Files | None = None,
    on_file: Callable[[Path], None] | None = None,
    on_done: Callable[[FileReport], None] | None = None,
    on_embedded: Callable[[int], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> IngestReport:
    """Ingest files and folders; one bad file is reported in the result and never stops the run.

    `doc_type`/`sensitivity` None leave them to each file's reader; a wrong one raises IngestError first.
    """
    run = pipeline().ingestor(kb, doc_type, sensitivity)
    return run.run(paths, on_file=on_file, on_done=on_done, on_embedded=on_embedded, files=files, on_step=on_step)


def ingest_upload(
    kb: KnowledgeBase,
    uploads: Sequence[tuple[str, bytes]],
    doc_type: str | None = None,
    sensitivity: str | None = None,
    *,
    on_file: Callable[[Path], None] | None = None,
    on_done: Callable[[FileReport], None] | None = None,
    on_embedded: Callable[[int], None] | None = None,
) -> IngestReport:
    """Save uploaded (name, bytes) into the uploads folder and ingest them; a refused upload is a failed file."""
    suffixes = supported_suffixes()
    run = pipeline().ingestor(kb, doc_type, sensitivity)
    refused: list[FileReport] = []
    saved: list[Path] = []
    for name, data in uploads:
        try:
            saved.append(save_upload(kb.settings, name, data, suffixes))
        except UploadError as exc:
            refused.append(FileReport(name, "failed", str(exc)))
    for fr in refused:
        if on_done:
            on_done(fr)
    report = run.run(saved, on_file=on_file, on_done=on_done, on_embedded=on_embedded) if saved else IngestReport()
    report.files[:0] = refused
    return report
