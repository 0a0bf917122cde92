"""The ingestion pipeline: file -> reader -> chunks -> tags -> embeddings -> both stores, file by file."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from functools import cached_property
from pathlib import Path

from ingest.chunk import Chunker
from ingest.sources import ReadOptions, SourceError, is_supported, read_file
from kb.catalogue import now_iso
from kb.ids import file_hash, sha256_text
from kb.models import DOC_TYPES, SENSITIVITIES, Chunk, ParsedDocument
from kb.store import KnowledgeBase


class IngestError(ValueError):
    pass


@dataclass
class FileReport:
    path: str
    status: str  # ok | no_text | unchanged | failed
    reason: str | None = None
    documents: int = 0
    passages: int = 0
    embedded: int = 0
    doc_ids: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    files: list[FileReport] = field(default_factory=list)

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def embedded(self) -> int:
        return sum(f.embedded for f in self.files)

    def to_dict(self) -> dict:
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f.status] = counts.get(f.status, 0) + 1
        return {
            "files": [f.__dict__ for f in self.files],
            "summary": {
                "files": len(self.files),
                "by_status": counts,
                "passages": sum(f.passages for f in self.files),
                "embedded": self.embedded,
            },
        }


IGNORE_FILE = ".kbignore"


def _ignored(folder: Path, f: Path) -> bool:
    """True when a `.kbignore` (glob patterns, one a line) in the file's folder or above, up to `folder`, names it."""
    for parent in [f.parent, *f.parent.parents]:
        ignore = parent / IGNORE_FILE
        if ignore.is_file():
            rel = f.relative_to(parent).as_posix()
            for line in ignore.read_text(encoding="utf-8").splitlines():
                pattern = line.strip()
                if pattern and not pattern.startswith("#") and (fnmatch(rel, pattern) or fnmatch(f.name, pattern)):
                    return True
        if parent == folder:
            return False
    return False


def expand_paths(paths: Iterable[str | Path]) -> list[tuple[Path, str | None]]:
    """Folders become their supported files (hidden and .kbignore'd ones skipped); a wrong path is reported."""
    out: list[tuple[Path, str | None]] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if (
                    f.is_file()
                    and not any(part.startswith(".") for part in rel)
                    and is_supported(f)
                    and not _ignored(p, f)
                ):
                    out.append((f, None))
        elif p.is_file():
            out.append((p, None))
        else:
            out.append((p, "not found: check the path (no such file or folder)"))
    return out


def _taxonomy_fingerprint() -> str:
    """Tags depend on the taxonomy file: editing it re-tags files on the next ingest (vectors are cached)."""
    path = Path(__file__).resolve().parents[1] / "kb" / "taxonomy.toml"
    return file_hash(path.read_bytes())[:16] if path.exists() else "none"


def _unexpected(stage: str, exc: BaseException) -> str:
    """The per-file reason for a failure no reader foresaw: what broke, and what the user can do."""
    detail = (str(exc).strip().splitlines() or [""])[0][:200]
    return (
        f"could not {stage} the file ({type(exc).__name__}: {detail}); the other files are kept. "
        "Re-save or convert it (e.g. export as PDF) and ingest it again, or report it with this message"
    )


class Ingestor:
    def __init__(self, kb: KnowledgeBase, doc_type: str | None = None, sensitivity: str | None = None):
        if doc_type is not None and doc_type not in DOC_TYPES:
            raise IngestError(f"--type must be one of {', '.join(DOC_TYPES)}, not {doc_type!r}")
        if sensitivity is not None and sensitivity not in SENSITIVITIES:
            raise IngestError(f"--sensitivity must be one of {', '.join(SENSITIVITIES)}, not {sensitivity!r}")
        self.kb = kb
        self.cat = kb.catalogue
        self.doc_type = doc_type
        self.sensitivity = sensitivity

    @cached_property
    def tagger(self):
        from ingest.tag import Tagger
        from kb.taxonomy import load_taxonomy

        return Tagger(load_taxonomy())

    @cached_property
    def chunker(self) -> Chunker:
        e = self.kb.embedder
        s = self.kb.settings
        return Chunker(e.count_tokens, e.token_offsets, s.chunk_tokens, s.chunk_overlap, e.max_content_tokens)

    @cached_property
    def settings_key(self) -> str:
        """What else, besides the file's bytes, decides what a file becomes; a change re-processes it."""
        s = self.kb.settings
        parts = [
            self.kb.embedder.model_id,
            self.kb.embedder.passage_format,
            str(s.chunk_tokens),
            str(s.chunk_overlap),
            self.doc_type or "",
            self.sensitivity or "",
            _taxonomy_fingerprint(),
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def run(
        self,
        paths: Iterable[str | Path],
        on_file: Callable[[Path], None] | None = None,
        on_done: Callable[[FileReport], None] | None = None,
        on_embedded: Callable[[int], None] | None = None,
        files: list[tuple[Path, str | None]] | None = None,
    ) -> IngestReport:
        report = IngestReport()
        files = files if files is not None else expand_paths(paths)
        run_id = self.cat.start_run("ingest")
        _ = self.kb.vectors  # recover a killed run before writing anything new
        for path, problem in files:
            if on_file:
                on_file(path)
            if problem:
                fr = FileReport(str(path), "failed", problem)
            else:
                fr = self._ingest_file(path, on_embedded)
            report.files.append(fr)
            if on_done:
                on_done(fr)
        n_ok = sum(1 for f in report.files if f.status in ("ok", "unchanged", "no_text"))
        self.cat.finish_run(run_id, len(report.files), n_ok, len(report.failed), report.embedded)
        return report

    def _ingest_file(self, path: Path, on_embedded) -> FileReport:
        key = str(path.resolve())
        try:
            data = path.read_bytes()
        except OSError as exc:
            return FileReport(key, "failed", f"cannot read file: {exc.strerror or exc}")
        fhash = file_hash(data)
        prev = self.cat.get_file(key)
        if prev and prev.content_hash == fhash and prev.settings_key == self.settings_key and prev.status != "failed":
            return FileReport(key, "unchanged", documents=len(prev.doc_ids), doc_ids=prev.doc_ids)
        try:
            options = ReadOptions(
                doc_type=self.doc_type,
                sensitivity=self.sensitivity or "official",
                cache_dir=self.kb.settings.data_dir / "ocr-cache",
            )
            result = read_file(path, options)
        except SourceError as exc:
            return self._record_failure(key, fhash, exc.reason)
        except Exception as exc:  # a reader bug must not stop the run; name it so it can be reported
            return self._record_failure(key, fhash, _unexpected("read", exc))
        if not result.documents:
            return self._record_failure(key, fhash, "no documents found in file")
        try:
            return self._store(key, fhash, result.documents, result.problems, prev, on_embedded)
        except SourceError as exc:
            return self._record_failure(key, fhash, exc.reason)
        except Exception as exc:  # chunker, tagger, model or store: this file fails, the others are still stored
            return self._record_failure(key, fhash, _unexpected("index", exc))

    def _record_failure(self, key: str, fhash: str, reason: str) -> FileReport:
        # The documents an earlier version of the file gave stay: a bad new copy loses nothing.
        with self.cat.transaction() as c:
            self.cat.record_file(c, key, fhash, "failed", reason, self.settings_key, None)
        return FileReport(key, "failed", reason)

    def _prepare(self, pd: ParsedDocument) -> list[Chunk]:
        doc = pd.document
        if self.doc_type:
            doc.doc_type = self.doc_type
        if self.sensitivity:
            doc.sensitivity = self.sensitivity
        doc.ingested_at = now_iso()
        if doc.status not in ("ok", "ocr"):
            return []
        self._set_design(pd)
        chunks = self.chunker.chunk(doc.doc_id, pd.blocks)
        if not chunks:
            doc.status = "no_text"
        return chunks

    @cached_property
    def designer(self):
        from ingest.design import DesignClassifier

        return DesignClassifier(self.tagger.taxonomy)

    def _set_design(self, pd: ParsedDocument) -> None:
        """Study design, its deciding phrase and country from the text (ingest/design.py); never over a value
        the reader gave, nor over one an analyst stored (field_sources "analyst", e.g. by `kb edit --design`)."""
        from ingest.design import design_text

        doc = pd.document
        stored = self.cat.get_document(doc.doc_id)
        for fld in ("study_design", "country"):
            if stored and stored.field_sources.get(fld) == "analyst":
                setattr(doc, fld, getattr(stored, fld))
                doc.field_sources[fld] = "analyst"
                if fld == "study_design":
                    doc.study_design_evidence = stored.study_design_evidence
        if doc.study_design is not None and doc.country is not None:
            return
        found = self.designer.classify(*design_text(pd))
        if doc.study_design is None:
            doc.study_design, doc.study_design_evidence = found.design, found.phrase
        if doc.country is None:
            doc.country = found.country

    def _store(self, key, fhash, parsed: list[ParsedDocument], problems, prev, on_embedded) -> FileReport:
        per_doc = [(pd, self._prepare(pd)) for pd in parsed]
        all_chunks = [c for _, cs in per_doc for c in cs]
        for ch, tags in zip(all_chunks, self.tagger.tag_many([c.text for c in all_chunks]), strict=True):
            ch.tags = tags
        # The model reads each passage with its document title and heading (Embedder.passage_texts);
        # the catalogue keys each passage's vector by the hash of exactly that text.
        embed_texts = {
            id(c): t
            for pd, chunks in per_doc
            for c, t in zip(
                chunks,
                self.kb.embedder.passage_texts(
                    pd.document.title, [c.section for c in chunks], [c.text for c in chunks]
                ),
                strict=True,
            )
        }
        vectors, n_new = self.kb.embedder.encode_cached(
            [embed_texts[id(c)] for c in all_chunks], self.cat, on_batch=on_embedded
        )

        new_doc_ids = list(dict.fromkeys(pd.document.doc_id for pd in parsed))
        stale_docs = [
            d
            for d in (prev.doc_ids if prev else [])
            if d not in new_doc_ids and not self.cat.doc_referenced_elsewhere(d, key)
        ]
        old_ids = {i for d in [*new_doc_ids, *stale_docs] for i in self.cat.chunk_ids_of(d)}
        new_ids = [c.chunk_id for c in all_chunks]

        # Order matters for crash safety: intent first, then vectors, then the catalogue in one
        # transaction, then cleanup. A kill at any point is repaired by KnowledgeBase._recover.
        self.cat.add_pending(old_ids | set(new_ids))
        if new_ids:
            self.kb.vectors.upsert(new_ids, vectors, [c.doc_id for c in all_chunks])
        with self.cat.transaction() as c:
            for d in stale_docs:
                self.cat.delete_document(c, d)
            for pd, chunks in per_doc:
                hashes = [sha256_text(embed_texts[id(ch)]) for ch in chunks]
                self.cat.write_document(c, pd.document, chunks, hashes, pd.toolkit)
            statuses = {pd.document.status for pd in parsed}
            status = "no_text" if statuses == {"no_text"} else "ok"
            self.cat.record_file(c, key, fhash, status, "; ".join(problems) or None, self.settings_key, new_doc_ids)
        gone = sorted(old_ids - set(new_ids))
        if gone:
            self.kb.vectors.delete(gone)
        self.cat.clear_pending(old_ids | set(new_ids))
        return FileReport(
            key,
            status,
            reason=next(
                (p for p in problems if p.startswith("no text layer")), "no text: no text layer, and OCR read none"
            )
            if status == "no_text"
            else None,
            documents=len(parsed),
            passages=len(all_chunks),
            embedded=n_new,
            doc_ids=new_doc_ids,
            problems=list(problems),
        )
