"""The ingestion pipeline: file -> reader -> chunks -> tags -> embeddings -> both stores, file by file."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path

from ingest.chunk import Chunker
from ingest.folders import GONE, expand_paths, files_gone
from ingest.sources import READERS, ReadOptions, SourceError, dependencies, read_file
from kb.catalogue import kind_of, now_iso, now_precise
from kb.ids import file_hash
from kb.ingestion import IngestError, Pipeline
from kb.merge import Resolver
from kb.models import (
    DOC_TYPES,
    READABLE,
    SENSITIVITIES,
    Chunk,
    FileReport,
    IngestReport,
    ParsedDocument,
    SourceRecord,
    strictest,
)
from kb.same_work import FULL_TEXT, front_text
from kb.store import Change, KnowledgeBase, MergeError


def _taxonomy_fingerprint(path: Path) -> str:
    """Tags depend on the taxonomy file: editing it re-tags files on the next ingest (vectors are cached)."""
    return file_hash(path.read_bytes())[:16] if path.exists() else "none"


def _copies_at(pages: list[str], most: int = 5) -> str:
    """Where the left-out copies were, for the ingest report: the first few pages and how many more."""
    if not pages:
        return ""
    more = f" and {len(pages) - most} more" if len(pages) > most else ""
    return f" (copies left out on p. {', '.join(pages[:most])}{more})"


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
        self.on_step: Callable[[str], None] | None = None
        self.doc_type = doc_type
        self.sensitivity = sensitivity

    @cached_property
    def tagger(self):
        from ingest.tag import Tagger

        return Tagger(self.kb.taxonomy)

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
            _taxonomy_fingerprint(self.kb.settings.taxonomy_path),
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def run(
        self,
        paths: Iterable[str | Path],
        on_file: Callable[[Path], None] | None = None,
        on_done: Callable[[FileReport], None] | None = None,
        on_embedded: Callable[[int], None] | None = None,
        files: list[tuple[Path, str | None]] | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> IngestReport:
        """`on_step` hears the slow steps inside one file ("OCR page 3 (3 of 40)"), so a long scan shows progress."""
        report = IngestReport()
        self.on_step = on_step
        paths = list(paths)
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
        self._prune(paths, files, report)
        n_ok = sum(1 for f in report.files if f.status in ("ok", "unchanged", "no_text"))
        self.cat.finish_run(run_id, len(report.files), n_ok, len(report.failed), report.embedded)
        return report

    def _prune(self, paths: Iterable[str | Path], files: list[tuple[Path, str | None]], report: IngestReport) -> None:
        """Take out what files deleted from an ingested folder gave, as `kb remove PATH` does: documents they
        merged into keep what their other sources gave. A folder that is missing or unreadable prunes nothing."""
        gone, notes = files_gone([f.path for f in self.cat.files()], paths, files)
        report.notes += notes
        for path in gone:
            before = self.cat.get_file(path)
            try:
                applied = self.kb.remove_path(path)
            except Exception as exc:  # one file that cannot be taken out never stops the others
                report.notes.append(f"{path}: {GONE}, but could not be removed ({type(exc).__name__}: {exc})")
                continue
            report.removed.append(
                FileReport(
                    path,
                    "removed",
                    GONE,
                    doc_ids=before.doc_ids if before else [],
                    problems=[f"{len(applied.documents)} document(s) kept from other sources"]
                    if applied.documents
                    else [],
                )
            )

    def _ingest_file(self, path: Path, on_embedded) -> FileReport:
        key = str(path.resolve())
        try:
            data = path.read_bytes()
        except OSError as exc:
            return FileReport(key, "failed", f"cannot read file: {exc.strerror or exc}")
        options = ReadOptions(
            progress=self.on_step,
            doc_type=self.doc_type,
            sensitivity=self.sensitivity or "official",
            cache_dir=self.kb.settings.data_dir / "ocr-cache",
            zotero_storage=self.kb.settings.zotero_storage,
            taxonomy=self.kb.taxonomy,
        )
        fhash = self._fingerprint(path, data, options)
        prev = self.cat.get_file(key)
        if prev and prev.content_hash == fhash and prev.settings_key == self.settings_key and prev.status != "failed":
            return FileReport(key, "unchanged", documents=len(prev.doc_ids), doc_ids=prev.doc_ids)
        try:
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
        except MergeError as exc:
            return self._record_failure(key, fhash, str(exc))
        except Exception as exc:  # chunker, tagger, model or store: this file fails, the others are still stored
            return self._record_failure(key, fhash, _unexpected("index", exc))

    @staticmethod
    def _fingerprint(path: Path, data: bytes, options: ReadOptions) -> str:
        """The file's hash, with the state of the files it takes in (a .bib's attached PDFs): a changed
        attachment is read again although the .bib is unchanged."""
        fhash = file_hash(data)
        try:
            deps = dependencies(path, options)
        except Exception:  # noqa: BLE001 - a file its reader cannot parse fails when it is read, and says why
            return fhash
        return file_hash(json.dumps([fhash, deps]).encode()) if deps else fhash

    def _record_failure(self, key: str, fhash: str, reason: str) -> FileReport:
        # The documents an earlier version of the file gave stay: a bad new copy loses nothing.
        with self.cat.transaction() as c:
            self.cat.record_file(c, key, fhash, "failed", reason, self.settings_key)
        return FileReport(key, "failed", reason)

    def _prepare(self, pd: ParsedDocument, notes: list[str]) -> list[Chunk]:
        doc = pd.document
        if self.doc_type:
            doc.doc_type = self.doc_type
        if self.sensitivity:
            # A flag adds a marking; it never removes one the file itself carries.
            doc.sensitivity = strictest(doc.sensitivity, self.sensitivity)
        doc.ingested_at = now_iso()
        if doc.status not in READABLE:
            return []
        self._set_design(pd)
        repeated: list[Chunk] = []
        chunks = self.chunker.chunk(doc.doc_id, pd.blocks, repeated)
        if repeated:
            pages = list(dict.fromkeys(c.page_start for c in repeated if c.page_start))
            notes.append(
                f"{doc.title[:60]}: {len(repeated)} passages repeat earlier text of the document word for word; "
                f"each is stored once, at its first place{_copies_at(pages)}"
            )
        if not chunks:
            doc.status = "no_text"
        return chunks

    @cached_property
    def designer(self):
        from ingest.design import DesignClassifier

        return DesignClassifier(self.tagger.taxonomy)

    def _set_design(self, pd: ParsedDocument) -> None:
        """Study design, its deciding phrase and country from the text (ingest/design.py), unless the reader gave
        them; an analyst's value (`kb edit --design`) is an edit that wins when the document is derived."""
        from ingest.design import design_text

        doc = pd.document
        if doc.study_design is not None and doc.country is not None:
            return
        found = self.designer.classify(*design_text(pd))
        if doc.study_design is None:
            doc.study_design, doc.study_design_evidence = found.design, found.phrase
        if doc.country is None:
            doc.country = found.country

    def _source(self, key: str, pd: ParsedDocument, chunks: list[Chunk], old: dict, notes: list[str]) -> SourceRecord:
        doc = pd.document
        source_key = f"{key}#{pd.entry}" if pd.entry else key
        prev = old.get(source_key)
        if prev is not None and strictest(prev.document.sensitivity, doc.sensitivity) != doc.sensitivity:
            notes.append(
                f"{doc.title[:60]}: kept {prev.document.sensitivity}, as it was ingested before: a lower "
                "--sensitivity never downgrades a document (an analyst can: kb edit DOC_ID --sensitivity)"
            )
            doc.sensitivity = prev.document.sensitivity
        same = prev is not None and (prev.document.content_hash, prev.document.sensitivity) == (
            doc.content_hash,
            doc.sensitivity,
        )
        return SourceRecord(
            source_key=source_key,
            path=key,
            entry=pd.entry,
            kind=pd.kind or kind_of(doc, pd.toolkit is not None),
            document=doc,
            chunks=chunks,
            toolkit=pd.toolkit,
            front=front_text([b.text for b in pd.blocks]),
            added_at=prev.added_at if same else now_precise(),
            alone=prev.alone if prev is not None else False,
        )

    def _store(self, key, fhash, parsed: list[ParsedDocument], problems, prev, on_embedded) -> FileReport:
        notes = list(problems)
        per_doc = [(pd, self._prepare(pd, notes)) for pd in parsed]
        all_chunks = [c for _, cs in per_doc for c in cs]
        for ch, tags in zip(all_chunks, self.tagger.tag_many([c.text for c in all_chunks]), strict=True):
            ch.tags = tags

        old = {s.source_key: s for s in self.cat.sources_of_path(key, passages=False)}
        resolver = Resolver(self.cat, key)
        sources: list[SourceRecord] = []
        by_entry: dict[str, SourceRecord] = {}
        merged: list[str] = []
        for pd, chunks in per_doc:
            s = self._source(key, pd, chunks, old, notes)
            if any(x.source_key == s.source_key for x in sources):
                s.source_key = f"{s.source_key}#{s.document.doc_id}"
            target = by_entry.get(pd.full_text_of) if pd.full_text_of is not None else None
            if target is not None:
                s.doc_id, s.match = target.doc_id, FULL_TEXT
                resolver.pool.append(s)
            else:
                notes += resolver.place(s)
                if s.match:
                    merged.append(f"merged with: {self._title_of(s.doc_id, sources)} ({s.match})")
            by_entry.setdefault(pd.entry, s)
            sources.append(s)

        statuses = {pd.document.status for pd in parsed}
        status = "no_text" if statuses == {"no_text"} else "ok"
        change = Change(
            drop=set(old),
            add=sources,
            docs={s.doc_id for s in old.values()} | {s.doc_id for s in sources if not s.doc_id.startswith("new:")},
        )
        applied = self.kb.apply(
            change,
            record=lambda c: self.cat.record_file(c, key, fhash, status, "; ".join(notes) or None, self.settings_key),
            on_embedded=on_embedded,
        )
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
            embedded=applied.embedded,
            doc_ids=list(dict.fromkeys(s.doc_id for s in sources)),
            problems=notes,
            merged=merged,
        )

    def _title_of(self, doc_id: str, placed: list[SourceRecord]) -> str:
        """The title of the document a source joined: one already stored, or one placed from this file."""
        doc = self.cat.get_document(doc_id)
        if doc is not None:
            return doc.title
        return next((s.document.title for s in placed if s.doc_id == doc_id), doc_id)


def _tagger(taxonomy):
    from ingest.tag import Tagger

    return Tagger(taxonomy)


# What kb.ingestion finds through the `kb.pipeline` entry point (pyproject.toml): kb never imports this package.
PIPELINE = Pipeline(
    suffixes=tuple(READERS),
    expand=expand_paths,
    ingestor=Ingestor,
    chunker=lambda kb: Ingestor(kb).chunker,
    tagger=_tagger,
)
