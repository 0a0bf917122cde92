"""Folders given to `kb ingest`: their supported files, listed with every error, and the files no longer in them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from fnmatch import fnmatch
from pathlib import Path

from ingest.sources import is_supported

IGNORE_FILE = ".kbignore"
NOT_FOUND = "not found: check the path (no such file or folder)"
GONE = "file no longer in the folder"


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


def _list_folder(folder: Path) -> list[tuple[Path, str | None]]:
    """A folder's supported files (hidden and .kbignore'd ones skipped) and each subfolder that could not be
    listed, with the reason: Path.rglob would skip an unreadable one in silence."""
    files: list[Path] = []
    errors: list[tuple[Path, str | None]] = []

    def failed(exc: OSError) -> None:
        errors.append(
            (
                Path(exc.filename or folder),
                f"cannot list folder: {exc.strerror or exc}; nothing ingested from {folder} was removed. "
                "Check it is readable (permissions, a drive or share that is attached) and ingest it again",
            )
        )

    for top, dirs, names in os.walk(folder, onerror=failed):
        here = Path(top)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files += [here / n for n in names if not n.startswith(".")]
    kept = [f for f in files if f.is_file() and is_supported(f) and not _ignored(folder, f)]
    return [(f, None) for f in sorted(kept)] + sorted(errors)


def expand_paths(paths: Iterable[str | Path]) -> list[tuple[Path, str | None]]:
    """Folders become their supported files (hidden and .kbignore'd ones skipped); a wrong path, or a folder
    that cannot be listed, is reported."""
    out: list[tuple[Path, str | None]] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            out += _list_folder(p)
        elif p.is_file():
            out.append((p, None))
        else:
            out.append((p, NOT_FOUND))
    return out


def _under(path: str, root: str) -> bool:
    return path.startswith(root.rstrip(os.sep) + os.sep)


def _deleted(path: str) -> bool:
    """Only a file the system says does not exist is gone; one it cannot look at (permissions) is not."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


def files_gone(
    known: list[str], paths: Iterable[str | Path], files: list[tuple[Path, str | None]]
) -> tuple[list[str], list[str]]:
    """Which ingested files (`known`, the manifest's paths) were deleted from the folders in `paths`, given what
    listing them found (`files`, from expand_paths); and notes on folders that are not pruned, and why.

    Fails closed: a folder that is missing, could not be listed whole, or lists no file at all (the mount
    point of a detached drive) prunes nothing, so a drive that is not there never empties the knowledge base.
    """
    listed = {str(f.resolve()) for f, problem in files if problem is None}
    gone: list[str] = []
    notes: list[str] = []
    for raw in dict.fromkeys(Path(r).expanduser() for r in paths):
        root = str(raw.resolve())
        mine = [k for k in known if _under(k, root)]
        if not raw.is_dir():
            if mine and not raw.exists():
                notes.append(
                    f"{raw} is missing (a detached drive or a moved folder?): the {len(mine)} file(s) ingested "
                    "from it are kept; `kb remove PATH` takes one out"
                )
            continue
        if any(problem and (f == raw or _under(str(f), str(raw))) for f, problem in files):
            continue  # listed in part: the error is reported with the files
        stale = [k for k in mine if k not in listed and _deleted(k)]
        if stale and not any(_under(k, root) for k in listed):
            notes.append(
                f"{raw} lists no files now (a detached drive or an empty mount point?): the {len(stale)} file(s) "
                "ingested from it are kept; `kb remove PATH` takes one out"
            )
            continue
        gone += [k for k in stale if k not in gone]
    return gone, notes
