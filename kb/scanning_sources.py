"""The watched sources for the Scanning page and the CLI: their last scan, and adding, pausing, removing, scanning."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from kb.config import ConfigError, Settings, Source, load_settings
from kb.feeds import TIMEOUT
from kb.models import DOC_TYPES, SENSITIVITIES
from kb.scan import IngestFn, Scanner, ScanReport
from kb.scanning_rules import ScanningError, require_manager
from kb.store import KnowledgeBase
from kb.visibility import Audience, visible


@dataclass
class SourceStatus:
    name: str
    kind: str  # feed | folder
    where: str  # the feed URL or the folder
    paused: bool
    sensitivity: str
    doc_type: str | None
    status: str  # never scanned | ok | failed
    last_run: str | None = None
    last_ok: str | None = None
    items_found: int = 0
    new_items: int = 0
    duplicates: int = 0
    failed_items: int = 0
    error: str | None = None  # in plain words
    detail: str | None = None  # the full message, with the URL and the remedy


_PLAIN_ERRORS: list[tuple[re.Pattern, Callable[[re.Match], str]]] = [
    (re.compile(r"no answer within (\d+) s"), lambda m: f"feed not reachable: timed out after {m[1]} s"),
    (re.compile(r"\btimed out\b", re.I), lambda m: f"feed not reachable: timed out after {TIMEOUT:.0f} s"),
    (
        re.compile(r"(?:cannot connect|connection failed) \((?:\[Errno -?\d+\] )?([^)]*)\)"),
        lambda m: f"feed not reachable: {m[1].lower()}",
    ),
    (re.compile(r"HTTP (\d{3})\b ?(.*)"), lambda m: f"feed not reachable: the server answered {m[1]} {m[2]}".strip()),
    (re.compile(r"not valid XML"), lambda m: "not XML"),
    (re.compile(r"neither RSS nor Atom"), lambda m: "XML, but not an RSS or Atom feed"),
    (re.compile(r"over the ([\d,]+)-byte limit"), lambda m: f"too large: over {int(m[1].replace(',', '')) >> 20} MB"),
    (re.compile(r"entit|external XML|DTD"), lambda m: "refused: the feed's XML declares entities or a DTD"),
    (re.compile(r"folder not found"), lambda m: "folder not found"),
]


def plain_error(message: str | None) -> str | None:
    """A scan error in a few words a hub admin can act on; the full message stays beside it."""
    if not message:
        return None
    for pattern, say in _PLAIN_ERRORS:
        if m := pattern.search(message):
            return say(m)
    return message.split(": ", 1)[-1] if message.startswith(("http://", "https://")) else message


def source_statuses(kb: KnowledgeBase, settings: Settings, audience: Audience) -> list[SourceStatus]:
    """Each source in kb.toml with its last scan (`kb scan` or the app records it) that this audience may see:
    even the name and address of an official-sensitive source are for those who may read what it brings."""
    rows = {r["source"]: r for r in kb.catalogue.query("SELECT * FROM scan_status")}
    out = []
    for s in settings.sources:
        st = SourceStatus(
            s.name,
            "feed" if s.feed else "folder",
            s.feed or s.folder or "",
            s.paused,
            s.sensitivity,
            s.doc_type,
            "never scanned",
        )
        if r := rows.get(s.name):
            st.status, st.last_run, st.last_ok = r["status"], r["last_run"], r["last_ok"]
            st.items_found, st.new_items, st.duplicates, st.failed_items = (
                r["items_found"],
                r["new_items"],
                r["duplicates"],
                r["failed_items"],
            )
            st.detail = r["error"]
            st.error = plain_error(r["error"])
        out.append(st)
    return visible(audience, out, lambda s: s.sensitivity)


def config_path(settings: Settings) -> Path:
    return settings.config_path or settings.data_dir / "kb.toml"


def validate_source(source: Source, existing: list[Source]) -> Source:
    """A source fit for kb.toml, or ScanningError saying what to fix."""
    name = source.name.strip()
    if not name:
        raise ScanningError("give the source a name")
    if any(s.name.strip().lower() == name.lower() for s in existing):
        raise ScanningError(f"a source named {name!r} exists already; choose another name")
    feed, folder = (source.feed or "").strip() or None, (source.folder or "").strip() or None
    if bool(feed) == bool(folder):
        raise ScanningError("give exactly one of a feed URL or a folder")
    if feed:
        parts = urlsplit(feed)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ScanningError(f"{feed!r} is not a web address: a feed URL starts with https:// or http://")
    if folder and not Path(folder).expanduser().is_dir():
        raise ScanningError(f"folder not found: {folder}; create it or check the path")
    if source.sensitivity not in SENSITIVITIES:
        raise ScanningError(f"sensitivity must be one of {', '.join(SENSITIVITIES)}, not {source.sensitivity!r}")
    if source.doc_type is not None and source.doc_type not in DOC_TYPES:
        raise ScanningError(f"document type must be one of {', '.join(DOC_TYPES)}, not {source.doc_type!r}")
    return Source(name, feed, folder, source.doc_type, source.sensitivity, source.paused)


def _edit_sources(settings: Settings, change: Callable) -> list[Source]:
    """Change [[sources]] in kb.toml, keeping the rest of the file (comments too), check the result loads,
    then swap it in; the running settings take the new sources."""
    import tomlkit

    path = config_path(settings)
    doc = tomlkit.parse(path.read_text(encoding="utf-8") if path.exists() else "")
    if "sources" not in doc:
        doc["sources"] = tomlkit.aot()
    change(doc["sources"])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
        reloaded = load_settings(settings.data_dir, env={"KB_CONFIG": str(tmp)})
        os.replace(tmp, path)
    except ConfigError as exc:
        raise ScanningError(f"{path} not changed: the change would make it invalid ({exc})") from None
    except OSError as exc:
        raise ScanningError(f"cannot write {path} ({exc.strerror or exc}); check the file's permissions") from None
    finally:
        tmp.unlink(missing_ok=True)
    settings.config_path = path
    settings.sources[:] = reloaded.sources
    return settings.sources


def add_source(settings: Settings, source: Source, audience: Audience) -> list[Source]:
    import tomlkit

    require_manager(audience, "add a source")
    source = validate_source(source, settings.sources)
    table = tomlkit.table()
    table["name"] = source.name
    table["feed" if source.feed else "folder"] = source.feed or source.folder
    if source.doc_type:
        table["doc_type"] = source.doc_type
    if source.sensitivity != "official":
        table["sensitivity"] = source.sensitivity
    return _edit_sources(settings, lambda aot: aot.append(table))


def _index(aot, name: str) -> int:
    for i, t in enumerate(aot):
        if t.get("name") == name:
            return i
    raise ScanningError(f"no source named {name!r} in kb.toml")


def set_paused(settings: Settings, name: str, paused: bool, audience: Audience) -> list[Source]:
    require_manager(audience, f"{'pause' if paused else 'resume'} a source")

    def change(aot):
        table = aot[_index(aot, name)]
        if paused:
            table["paused"] = True
        elif "paused" in table:
            del table["paused"]

    return _edit_sources(settings, change)


def remove_source(settings: Settings, name: str, audience: Audience) -> list[Source]:
    """Take a source out of kb.toml; what it already brought in stays in the knowledge base."""
    require_manager(audience, "remove a source")

    def change(aot):
        del aot[_index(aot, name)]

    return _edit_sources(settings, change)


def scan_sources(
    kb: KnowledgeBase,
    sources: list[Source],
    ingest: IngestFn,
    audience: Audience,
    fetch_links: bool = True,
    on_source: Callable[[int, int, Source], None] | None = None,
) -> ScanReport:
    """Scan the sources that are not paused, one at a time so a caller can show progress; insiders only."""
    require_manager(audience, "run a scan")
    active = [s for s in sources if not s.paused]
    report = ScanReport()
    for i, source in enumerate(active):
        if on_source:
            on_source(i, len(active), source)
        report.sources += Scanner(kb, ingest, fetch_links=fetch_links).run([source]).sources
    return report
