"""Who may see what: the one function that decides which documents an app viewer or a mailing list is shown.

Every path that shows or sends passages (search, more-like-this, exports, the evidence map, what works,
digests, alerts, the library) asks `allowed()` and passes the answer down as its sensitivity filter.
It fails closed: anyone not positively known to be internal is external, and a sensitivity this
module does not know (a typo in a file's front matter) is shown to no one outside the data directory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from kb.models import SENSITIVITIES

INTERNAL, EXTERNAL = "internal", "external"
OFFICIAL = "official"
SENSITIVE = "official-sensitive"

T = TypeVar("T")


@dataclass(frozen=True)
class Audience:
    """Who is looking: `name` is recorded in the audit trail, `clearance` decides what they see."""

    name: str
    clearance: str = EXTERNAL  # internal | external; anything else is treated as external


# Someone at the data directory's own shell (`kb search`, `kb docs`): they can read the catalogue file anyway.
OPERATOR = Audience("cli", INTERNAL)


def allowed(audience: Audience) -> list[str]:
    """THE decision: the sensitivities this audience may be shown. Never None, never 'everything' by default."""
    if audience.clearance == INTERNAL:
        return list(SENSITIVITIES)
    return [OFFICIAL]


def may_see(audience: Audience, sensitivity: str | None) -> bool:
    return sensitivity in allowed(audience)


def may_manage(audience: Audience) -> bool:
    """Upload, removal, sending a digest and changing sources reach everyone: internal only."""
    return audience.clearance == INTERNAL


def visible(audience: Audience, items: Iterable[T], sensitivity: Callable[[T], str | None]) -> list[T]:
    """The items whose sensitivity (read by `sensitivity`) this audience may see, in order."""
    ok = set(allowed(audience))
    return [i for i in items if sensitivity(i) in ok]


def for_list(name: str, audience: str) -> Audience:
    """A mailing list's audience: only a list marked internal in kb.toml is internal."""
    return Audience(f"list:{name}", INTERNAL if audience == INTERNAL else EXTERNAL)


def for_viewer(username: str | None, role: str | None, single_user: bool = False) -> Audience:
    """An app viewer: internal only when signed in with the internal role, or on a single-user desktop."""
    if single_user:
        return Audience(username or "single-user", INTERNAL)
    if username and role == INTERNAL:
        return Audience(username, INTERNAL)
    return Audience(username or "anonymous", EXTERNAL)


def hidden_count(cat, audience: Audience) -> int:
    """How many documents this audience may not see (the sidebar says so, and how to sign in)."""
    ok = allowed(audience)
    return cat.query(f"SELECT COUNT(*) FROM documents WHERE sensitivity NOT IN ({','.join('?' * len(ok))})", ok)[0][0]
