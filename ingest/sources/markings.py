"""Government Security Classification markings in a document's text: any one makes it official-sensitive."""

from __future__ import annotations

import re
from collections.abc import Iterable

# OFFICIAL-SENSITIVE, OFFICIAL SENSITIVE, "Official – Sensitive", "official: sensitive", any case, any dash,
# and across a line break. A mention in prose counts too: marking too much is safe, too little is not.
_SENSITIVE_RE = re.compile(r"\bofficial[\s\u00a0]*[-‐‑‒–—―:_]?[\s\u00a0]*sensitive\b", re.I)


def is_official_sensitive(texts: str | Iterable[str]) -> bool:
    """True when any of the texts carries an OFFICIAL-SENSITIVE marking."""
    if isinstance(texts, str):
        texts = [texts]
    return any(_SENSITIVE_RE.search(t) for t in texts if t)


def tightened(sensitivity: str, texts: str | Iterable[str]) -> str:
    """The asked-for sensitivity, raised to official-sensitive when the texts are marked; never lowered."""
    return "official-sensitive" if is_official_sensitive(texts) else sensitivity
