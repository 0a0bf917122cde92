"""The library as a viewer sees it: visible documents, counts, failed files, and uploads saved safely."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kb.catalogue import Catalogue, FileRecord
from kb.config import Settings
from kb.models import Chunk, Document
from kb.search import cite
from kb.store import KnowledgeBase

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_MAX_NAME = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()-]+")


class UploadError(ValueError):
    """An uploaded file was refused; the message says why and what to do instead."""


@dataclass
class Overview:
    documents: int = 0
    passages: int = 0
    toolkit_entries: int = 0
    documents_by_type: dict[str, int] = field(default_factory=dict)
    passages_by_priority: dict[int, int] = field(default_factory=dict)


def _visible(sensitivities: list[str] | None, alias: str = "d") -> tuple[str, list[str]]:
    """SQL condition on a documents alias; None means no restriction (sign-in is off)."""
    if sensitivities is None:
        return "1", []
    if not sensitivities:
        return "0", []
    return f"{alias}.sensitivity IN ({','.join('?' * len(sensitivities))})", list(sensitivities)


def visible_documents(cat: Catalogue, sensitivities: list[str] | None) -> list[Document]:
    where, params = _visible(sensitivities, "documents")
    return cat.documents(where, params)


def overview(cat: Catalogue, sensitivities: list[str] | None) -> Overview:
    """What the knowledge base holds, counting only what the viewer may see."""
    where, params = _visible(sensitivities)
    by_type = {
        r[0]: r[1]
        for r in cat.query(f"SELECT doc_type, COUNT(*) FROM documents d WHERE {where} GROUP BY doc_type", params)
    }
    by_priority = {
        int(r[0]): r[1]
        for r in cat.query(
            f"""SELECT t.value, COUNT(DISTINCT t.chunk_rowid) FROM chunk_tags t
                JOIN chunks c ON c.rowid = t.chunk_rowid JOIN documents d ON d.doc_id = c.doc_id
                WHERE t.kind = 'priority' AND {where} GROUP BY t.value""",
            params,
        )
    }
    passages = cat.query(
        f"SELECT COUNT(*) FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE {where}", params
    )[0][0]
    toolkit = cat.query(
        f"SELECT COUNT(*) FROM toolkit k JOIN documents d ON d.doc_id = k.doc_id WHERE {where}", params
    )[0][0]
    return Overview(
        documents=sum(by_type.values()),
        passages=passages,
        toolkit_entries=toolkit,
        documents_by_type=dict(sorted(by_type.items())),
        passages_by_priority=dict(sorted(by_priority.items())),
    )


def document_tags(cat: Catalogue, doc_ids: Iterable[str], top: int = 3) -> dict[str, list[str]]:
    """Each document's most-tagged factors, most passages first, for a one-line summary."""
    ids = list(doc_ids)
    out: dict[str, list[str]] = {d: [] for d in ids}
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        rows = cat.query(
            f"""SELECT c.doc_id, t.value, COUNT(*) AS n FROM chunk_tags t JOIN chunks c ON c.rowid = t.chunk_rowid
                WHERE t.kind = 'factor' AND c.doc_id IN ({",".join("?" * len(part))})
                GROUP BY c.doc_id, t.value ORDER BY c.doc_id, n DESC, t.value""",
            part,
        )
        for r in rows:
            if len(out[r[0]]) < top:
                out[r[0]].append(r[1])
    return out


def failed_files(cat: Catalogue) -> list[FileRecord]:
    return cat.files(status="failed")


def uploads_dir(settings: Settings) -> Path:
    """The managed folder uploads are kept in, so a re-ingest or re-index can find them again."""
    return settings.data_dir / "uploads"


def safe_filename(name: str, suffixes: Iterable[str]) -> str:
    """A file name that cannot leave the uploads folder, keeping a supported suffix intact."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").split("/")[-1]
    base = _UNSAFE.sub("_", base).strip(" .")
    suffix = next((s for s in sorted(suffixes, key=len, reverse=True) if base.lower().endswith(s)), None)
    if suffix is None:
        raise UploadError(f"{name!r}: not a supported file type (supported: {', '.join(sorted(suffixes))})")
    stem = base[: len(base) - len(suffix)].strip(" .")[: _MAX_NAME - len(suffix)]
    if not stem:
        raise UploadError(f"{name!r}: the file name has no usable characters; rename it and upload again")
    return stem + suffix.lower()


def save_upload(
    settings: Settings, name: str, data: bytes, suffixes: Iterable[str], max_bytes: int = MAX_UPLOAD_BYTES
) -> Path:
    """Write an upload into the uploads folder, keyed by its content: the same file again is the same file
    (nothing new to ingest); another file with the same name is kept beside it, never over it."""
    if len(data) > max_bytes:
        raise UploadError(
            f"{name!r} is {len(data) / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB upload limit; "
            "ingest large files with `kb ingest PATH`"
        )
    if not data:
        raise UploadError(f"{name!r} is empty")
    folder = uploads_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    safe = safe_filename(name, suffixes)
    target = (folder / safe).resolve()
    if target.parent != folder.resolve():
        raise UploadError(f"{name!r}: refused, the name points outside the uploads folder")
    digest = hashlib.sha256(data).hexdigest()
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() != digest:
        suffix = next(x for x in sorted(suffixes, key=len, reverse=True) if safe.endswith(x.lower()))
        target = folder.resolve() / f"{safe[: len(safe) - len(suffix)]}-{digest[:12]}{suffix}"
    if target.exists():
        return target
    # Written aside and renamed, so an ingest running now never reads half a file.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def editable_values(doc: Document) -> dict[str, object]:
    """A document's fields as the Library edit form shows them."""
    return {
        "title": doc.title,
        "authors": "; ".join(doc.authors),
        "year": doc.year,
        "doc_type": doc.doc_type,
        "sensitivity": doc.sensitivity,
    }


def edit_document(kb: KnowledgeBase, doc_id: str, form: dict[str, object]) -> list[str]:
    """Record what an analyst changed in the edit form (only the fields that differ); returns their names."""
    doc = kb.catalogue.get_document(doc_id)
    if doc is None:
        raise KeyError(doc_id)
    before = editable_values(doc)
    changed: dict[str, object] = {}
    for name, value in form.items():
        if value in (None, "") or value == before.get(name):
            continue
        if name == "authors":
            value = [a.strip() for a in str(value).split(";") if a.strip()]
        elif name == "title":
            value = " ".join(str(value).split())
        changed[name] = value
    if changed:
        kb.edit(doc_id, changed)
    return sorted(changed)


def remove_document(kb: KnowledgeBase, doc_id: str) -> int:
    """Remove a document from both stores, and delete uploaded files that backed only it.

    An upload left behind would bring the document back the next time the uploads folder is ingested.
    """
    folder = uploads_dir(kb.settings).resolve()
    paths = [Path(p) for p in kb.catalogue.paths_of(doc_id)]
    n = kb.remove(doc_id)
    for p in paths:
        if p.parent == folder and kb.catalogue.get_file(str(p)) is None:
            p.unlink(missing_ok=True)
    return n


@dataclass
class Passage:
    chunk: Chunk
    citation: str


@dataclass
class DocumentView:
    """One document as the app shows it: its passages in order, each cited, and what they are tagged with most."""

    document: Document
    passages: list[Passage]
    factors: list[str] = field(default_factory=list)  # factor ids, most-tagged first
    priorities: list[int] = field(default_factory=list)  # priority numbers, most-tagged first


def document_view(cat: Catalogue, doc_id: str, sensitivities: list[str] | None) -> DocumentView | None:
    """The document a digest link names; None when it is missing or the viewer may not see it.

    The two cases are deliberately alike, so a link cannot tell an outsider that a hidden document exists.
    """
    doc = cat.get_document(doc_id)
    if doc is None or (sensitivities is not None and doc.sensitivity not in sensitivities):
        return None
    chunks = cat.chunks_of(doc_id)
    factors = Counter(f.factor for ch in chunks for f in ch.tags.factors)
    priorities = Counter(p for ch in chunks for p in ch.tags.priorities)
    return DocumentView(
        document=doc,
        passages=[Passage(ch, cite(doc, ch)) for ch in chunks],
        factors=[f for f, _ in sorted(factors.items(), key=lambda kv: (-kv[1], kv[0]))],
        priorities=[p for p, _ in sorted(priorities.items(), key=lambda kv: (-kv[1], kv[0]))],
    )
