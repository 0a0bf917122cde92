"""The catalogue's change signature: a cached view built from it is stale once the signature differs."""

from __future__ import annotations

import itertools
import weakref

from kb.store import KnowledgeBase

# One number per open catalogue connection: data_version and total_changes count per connection, so two
# connections (the app reopened with other settings) can show equal counts over different contents.
_opened = itertools.count(1)
_tokens: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def signature(kb: KnowledgeBase) -> tuple[str, int, int, int]:
    """Changes on every committed write to the catalogue, by this process or another one.

    SQLite's data_version moves when another connection commits, total_changes when this one writes;
    reading both costs microseconds, where hashing the documents took milliseconds per page run. A write
    between the two reads is seen by the next call, which then differs: never a stale view, at worst one
    rebuilt twice.
    """
    cat = kb.catalogue
    token = _tokens.get(cat)
    if token is None:
        token = _tokens[cat] = next(_opened)
    return str(cat.path), token, *cat.changes()


_memos: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def memo(kb: KnowledgeBase) -> dict:
    """A dict for values read from this catalogue, shared by every session of the process and empty again
    after any change: what a page reads on each open (thousands of new documents) is read once per change.

    A change replaces the dict rather than clearing it, so a session still reading the old one is not torn."""
    sig = signature(kb)
    held = _memos.get(kb.catalogue)
    if held is None or held[0] != sig:
        held = _memos[kb.catalogue] = (sig, {})
    return held[1]
