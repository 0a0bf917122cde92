"""A .bib's attachments: the forms of Zotero's `file` field, where each attached file is, and their state."""

from __future__ import annotations

import re
from pathlib import Path, PureWindowsPath

from kb.ids import file_hash

_FILE_VALUE = re.compile(r"\bfile\s*=\s*([{\"])", re.I)


def _split_unescaped(value: str, sep: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            cur.append(value[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value).strip()


def file_field(value: str) -> list[str]:
    """The attachment paths of a `file` field, in Zotero's `description:path:mime;...` form, Better
    BibTeX's, or a bare path; escaped `\\:` and `\\;` (Windows drives) are kept."""
    paths = []
    for part in _split_unescaped(value, ";"):
        bits = [_unescape(b) for b in _split_unescaped(part, ":")]
        if len(bits) > 1 and len(bits[0]) == 1 and bits[0].isalpha() and bits[1][:1] in ("/", "\\"):
            bits = [f"{bits[0]}:{bits[1]}", *bits[2:]]  # an unescaped drive letter
        if len(bits) >= 3:
            path = ":".join(bits[1:-1])
        elif len(bits) == 2:
            path = bits[0] if re.fullmatch(r"[\w.+-]+/[\w.+-]+", bits[1]) else bits[1]
        else:
            path = bits[0]
        if path:
            paths.append(path)
    return paths


def find_attachment(raw: str, bib: Path, storage: Path | None) -> tuple[Path | None, list[Path]]:
    """Where an attachment is: as written, beside the .bib, or in Zotero's storage folder."""
    parts = PureWindowsPath(raw).parts if "\\" in raw or re.match(r"^[A-Za-z]:", raw) else Path(raw).parts
    given = Path(raw).expanduser()
    tried = [given] if given.is_absolute() else [bib.parent / given]
    if storage is not None:
        # Zotero keeps each attachment in storage/<item key>/<file>, wherever the library was exported.
        tried += [storage / Path(*parts[-2:]), storage / parts[-1]] if parts else []
        if not given.is_absolute():
            tried.append(storage / given)
    found = next((p for p in tried if p.is_file()), None)
    return found, tried


def file_values(text: str) -> list[str]:
    """Every `file = {...}` (or "...") value in a .bib's text, whitespace collapsed as the reader's entries have it.

    A scan, not a parse: a 2,000-entry library takes milliseconds, where bibtexparser takes seconds.
    It may find a value the reader skips (an entry without a title): that only adds to the fingerprint.
    """
    out = []
    for m in _FILE_VALUE.finditer(text):
        depth, i, quote = 0, m.end(), m.group(1) == '"'
        start = i
        while i < len(text):
            ch = text[i]
            if ch == "\\":
                i += 2
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                if depth == 0 and not quote:
                    break
                depth -= 1
            elif ch == '"' and quote and depth == 0:
                break
            i += 1
        out.append(" ".join(text[start:i].split()))
    return out


def attachments_state(bib: Path, storage: Path | None) -> list[tuple[str, str]]:
    """Each PDF a .bib attaches, with where it was found and the hash of its bytes ("missing" when it is nowhere):
    in the .bib's fingerprint, so an attachment that changed, appeared or was found is read again."""
    text = bib.read_bytes().decode("utf-8", "replace")
    out = []
    for value in file_values(text):
        for raw in file_field(value):
            if raw.lower().endswith(".pdf"):
                found, _ = find_attachment(raw, bib, storage)
                out.append((raw, _state(found)))
    return out


def _state(found: Path | None) -> str:
    if found is None:
        return "missing"
    try:
        return f"{found}={file_hash(found.read_bytes())}"
    except OSError as exc:  # reported when the entry is read; here it only has to differ from a readable copy
        return f"{found}=unreadable ({exc.strerror or exc})"
