"""Who may change what the Hub scans and sends, and the error that says what to change."""

from __future__ import annotations

from kb.visibility import Audience, may_manage


class ScanningError(ValueError):
    """A period, source or alert the user gave cannot be used; the message says why and what to change."""


def require_manager(audience: Audience, what: str) -> None:
    """Sending and source changes reach every list and reader: the same rule as upload and removal."""
    if not may_manage(audience):
        raise ScanningError(f"only an internal user may {what}; sign in as one (see docs/app.md)")
