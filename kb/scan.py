"""Scanning: watched feeds and folders -> new items, deduplicated by DOI, URL and title, ingested once."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from kb.catalogue import Catalogue, now_iso
from kb.config import Source
from kb.feeds import (
    Entry,
    FeedError,
    FetchPolicy,
    LinkRefused,
    canonical_url,
    fetch,
    parse_feed,
    title_key,
)
from kb.first_seen import note_documents
from kb.html_text import main_text
from kb.models import IngestReport
from kb.store import KnowledgeBase

# (paths, doc_type or None for the reader's own guess, sensitivity) -> report: `partial(kb.ingestion.ingest_paths, kb)`
# outside tests, which pass their own to see what a scan asks for.
IngestFn = Callable[[list[Path], str | None, str], IngestReport]

# A linked page is worth ingesting over the feed's summary only when it says clearly more.
PAGE_MIN_EXTRA_CHARS = 200


@dataclass
class ItemReport:
    title: str
    status: str  # new | duplicate | failed
    url: str | None = None
    how: str | None = None  # pdf | page | summary | folder
    doc_ids: list[str] = field(default_factory=list)
    reason: str | None = None
    link_refused: bool = False  # the fetch policy refused the item's link (kb.feeds.FetchPolicy); nothing was fetched


@dataclass
class SourceReport:
    name: str
    kind: str  # feed | folder
    status: str = "ok"  # ok | failed
    error: str | None = None
    items: list[ItemReport] = field(default_factory=list)
    unchanged: int = 0

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)


@dataclass
class ScanReport:
    sources: list[SourceReport] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(s.status == "failed" or s.count("failed") for s in self.sources)

    def to_dict(self) -> dict:
        return {
            "sources": [
                {
                    **asdict(s),
                    "new": s.count("new"),
                    "duplicates": s.count("duplicate"),
                    "failed_items": s.count("failed"),
                    "refused_links": sum(1 for i in s.items if i.link_refused),
                }
                for s in self.sources
            ],
            "failed": self.failed,
        }


@dataclass
class _Pending:
    entry: Entry
    keys: list[str]
    path: Path
    how: str
    report: ItemReport


def entry_keys(entry: Entry) -> list[str]:
    keys = []
    if entry.doi:
        keys.append(f"doi:{entry.doi}")
    if url := canonical_url(entry.link):
        keys.append(f"url:{url}")
    if tk := title_key(entry.title):
        keys.append(f"title:{tk}")
    return keys


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "source"


def record_scan_status(
    cat: Catalogue,
    source: str,
    kind: str,
    status: str,
    error: str | None = None,
    found: int = 0,
    new: int = 0,
    duplicates: int = 0,
    failed_items: int = 0,
) -> None:
    """Remember one source's scan; a failed fetch keeps the counts of the last scan that worked."""
    now = now_iso()
    with cat.transaction() as c:
        if status == "failed" and not (found or new or duplicates or failed_items):
            c.execute(
                """INSERT INTO scan_status(source, kind, last_run, status, error) VALUES (?, ?, ?, 'failed', ?)
                   ON CONFLICT(source) DO UPDATE SET kind=excluded.kind, last_run=excluded.last_run,
                   status='failed', error=excluded.error""",
                (source, kind, now, error),
            )
            return
        c.execute(
            """INSERT OR REPLACE INTO scan_status(source, kind, last_run, last_ok, status, items_found, new_items,
                   duplicates, failed_items, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (source, kind, now, now, status, found, new, duplicates, failed_items, error),
        )


class Scanner:
    def __init__(self, kb: KnowledgeBase, ingest: IngestFn, fetch_links: bool = True):
        self.kb = kb
        self.cat = kb.catalogue
        self.ingest = ingest
        self.fetch_links = fetch_links
        self.scans_dir = kb.settings.data_dir / "scans"

    def run(self, sources: list[Source]) -> ScanReport:
        """Scan every source; a failing one is reported and the rest still run."""
        report = ScanReport()
        for source in sources:
            if bool(source.feed) == bool(source.folder):
                sr = SourceReport(source.name, "feed" if source.feed else "folder", "failed")
                sr.error = f"source {source.name!r}: give exactly one of feed = URL or folder = PATH in kb.toml"
            elif source.feed:
                sr = self.scan_feed(source)
            else:
                sr = self.scan_folder(source)
            report.sources.append(sr)
            record_scan_status(
                self.cat,
                sr.name,
                sr.kind,
                sr.status,
                sr.error,
                found=len(sr.items) + sr.unchanged,
                new=sr.count("new"),
                duplicates=sr.count("duplicate"),
                failed_items=sr.count("failed"),
            )
        note_documents(self.cat)
        return report

    # -- folders ----------------------------------------------------------------------------------
    def scan_folder(self, source: Source) -> SourceReport:
        sr = SourceReport(source.name, "folder")
        folder = Path(source.folder).expanduser()
        if not folder.is_dir():
            sr.status, sr.error = "failed", f"folder not found: {folder} (check [[sources]] folder in kb.toml)"
            return sr
        # No doc_type in kb.toml leaves the choice to each file's reader: an inbox holds research,
        # toolkit entries and reference lists alike.
        ingest_report = self.ingest([folder], source.doc_type, source.sensitivity)
        for fr in ingest_report.files:
            if fr.status == "unchanged":
                sr.unchanged += 1
                continue
            title = Path(fr.path).name
            if fr.status == "failed":
                sr.items.append(ItemReport(title, "failed", how="folder", reason=fr.reason))
                continue
            sr.items.append(ItemReport(title, "new", how="folder", doc_ids=list(fr.doc_ids)))
            with self.cat.transaction() as c:
                for doc_id in fr.doc_ids:
                    c.execute(
                        """INSERT INTO scan_items(source, title, how, path, doc_id, first_seen)
                           VALUES (?, ?, 'folder', ?, ?, ?)""",
                        (source.name, title, fr.path, doc_id, now_iso()),
                    )
        return sr

    # -- feeds ------------------------------------------------------------------------------------
    def scan_feed(self, source: Source) -> SourceReport:
        sr = SourceReport(source.name, "feed")
        try:
            fetched = fetch(source.feed)
            entries = parse_feed(fetched.body, source.feed)
        except FeedError as exc:
            sr.status, sr.error = "failed", str(exc)
            return sr
        folder = self.scans_dir / _slug(source.name)
        folder.mkdir(parents=True, exist_ok=True)
        # The feed URL is the admin's; what its items link to is the feed author's, so it is held to the policy.
        policy = FetchPolicy.for_feed(source.feed, source.fetch_hosts, source.allow_private)

        pending: list[_Pending] = []
        seen_now: dict[str, _Pending] = {}
        for entry in entries:
            keys = entry_keys(entry)
            same = next((seen_now[k] for k in keys if k in seen_now), None)
            if same is not None:
                sr.items.append(
                    ItemReport(entry.title, "duplicate", entry.link, reason=f"same as {same.entry.title!r}")
                )
                # Its other URL or title joins the first copy's keys, so the next variant is caught too.
                same.keys.extend(k for k in keys if k not in same.keys)
                continue
            known = self._known(keys)
            if known is not None:
                item_id, title = known
                sr.items.append(ItemReport(entry.title, "duplicate", entry.link, reason=f"already scanned: {title!r}"))
                if item_id is not None:
                    self._add_keys(keys, item_id)
                continue
            item = ItemReport(entry.title, "new", url=entry.link)
            sr.items.append(item)
            path, item.how, item.reason = self._materialise(entry, folder, policy)
            item.link_refused = bool(item.reason and item.reason.startswith("link refused"))
            p = _Pending(entry, keys, path, item.how, item)
            pending.append(p)
            for k in keys:
                seen_now[k] = p
        self._ingest_pending(source, pending)
        return sr

    def _known(self, keys: list[str]) -> tuple[int | None, str] | None:
        """(item id, title) of the scanned item, or (None, title) of a catalogue document, these keys name."""
        for k in keys:
            rows = self.cat.query(
                "SELECT i.item_id, i.title FROM scan_keys k JOIN scan_items i ON i.item_id = k.item_id WHERE k.key = ?",
                (k,),
            )
            if rows:
                return rows[0][0], rows[0][1]
            if k.startswith("doi:"):
                rows = self.cat.query("SELECT title FROM documents WHERE doi = ? LIMIT 1", (k[4:],))
                if rows:
                    return None, rows[0][0]
        return None

    def _add_keys(self, keys: list[str], item_id: int) -> None:
        with self.cat.transaction() as c:
            c.executemany("INSERT OR IGNORE INTO scan_keys(key, item_id) VALUES (?, ?)", [(k, item_id) for k in keys])

    def _materialise(self, entry: Entry, folder: Path, policy: FetchPolicy) -> tuple[Path, str, str | None]:
        """A file for the pipeline: the linked PDF or page when reachable, else the entry itself."""
        name = hashlib.sha256((canonical_url(entry.link) or entry.title).encode()).hexdigest()[:20]
        page_text = ""
        note = None
        if self.fetch_links and entry.link and entry.link.startswith(("http://", "https://")):
            try:
                got = fetch(entry.link, policy=policy)
            except LinkRefused as exc:
                note = f"link refused, feed summary used: {exc}"
            except FeedError as exc:
                note = f"link not fetched, feed summary used: {exc}"
            else:
                if got.content_type == "application/pdf" or got.body.startswith(b"%PDF-"):
                    path = folder / f"{name}.pdf"
                    path.write_bytes(got.body)
                    return path, "pdf", None
                if got.content_type in ("text/html", "application/xhtml+xml", "text/plain"):
                    text = got.body.decode("utf-8", errors="replace")
                    text = main_text(text, url=entry.link).text if got.content_type != "text/plain" else text
                    if len(text) >= len(entry.summary) + PAGE_MIN_EXTRA_CHARS:
                        page_text = text
        return self._write_summary(entry, folder / f"{name}.md", page_text), ("page" if page_text else "summary"), note

    def _write_summary(self, entry: Entry, path: Path, page_text: str = "") -> Path:
        meta = {"title": entry.title, "url": entry.link, "doi": entry.doi, "year": entry.year, "date": entry.published}
        if entry.authors:
            meta["authors"] = entry.authors
        front = yaml.safe_dump({k: v for k, v in meta.items() if v}, allow_unicode=True, sort_keys=False)
        body = "\n\n".join(p for p in (entry.summary, page_text) if p.strip()) or entry.title
        path.write_text(f"---\n{front}---\n\n{body}\n", encoding="utf-8")
        return path

    def _ingest_pending(self, source: Source, pending: list[_Pending]) -> None:
        if not pending:
            return
        results = self._ingest_paths(source, [p.path for p in pending])
        retry = []
        for p in pending:
            fr = results.get(str(p.path.resolve()))
            if fr is not None and fr.status == "failed" and p.how in ("pdf", "page"):
                # A linked file the readers cannot use is not the end of the item: its summary still is.
                p.report.reason = f"linked {p.how} unusable ({fr.reason}); feed summary used"
                p.path = self._write_summary(p.entry, p.path.with_suffix(".md"))
                p.how = p.report.how = "summary"
                retry.append(p)
        if retry:
            results.update(self._ingest_paths(source, [p.path for p in retry]))
        for p in pending:
            fr = results.get(str(p.path.resolve()))
            if fr is None or fr.status == "failed":
                p.report.status = "failed"
                p.report.reason = fr.reason if fr else "not ingested"
                continue
            p.report.doc_ids = list(fr.doc_ids)
            self._record(source, p, fr.doc_ids[0] if fr.doc_ids else None)

    def _ingest_paths(self, source: Source, paths: list[Path]) -> dict:
        report = self.ingest(paths, source.doc_type or "news", source.sensitivity)
        return {fr.path: fr for fr in report.files}

    def _record(self, source: Source, p: _Pending, doc_id: str | None) -> None:
        with self.cat.transaction() as c:
            item_id = c.execute(
                """INSERT INTO scan_items(source, url, doi, title, how, path, doc_id, first_seen)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (source.name, p.entry.link, p.entry.doi, p.entry.title, p.how, str(p.path), doc_id, now_iso()),
            ).lastrowid
            c.executemany("INSERT OR IGNORE INTO scan_keys(key, item_id) VALUES (?, ?)", [(k, item_id) for k in p.keys])


def item_origins(kb: KnowledgeBase, doc_ids: list[str]) -> dict[str, dict]:
    """Where scanned documents came from: source name and item URL, first scan wins."""
    out: dict[str, dict] = {}
    for i in range(0, len(doc_ids), 500):
        part = doc_ids[i : i + 500]
        marks = ",".join("?" * len(part))
        for r in kb.catalogue.query(
            f"SELECT doc_id, source, url FROM scan_items WHERE doc_id IN ({marks}) ORDER BY item_id", part
        ):
            out.setdefault(r["doc_id"], {"source": r["source"], "url": r["url"]})
    return out
