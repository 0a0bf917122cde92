"""A scanned knowledge base for the Scanning page tests: feeds served by a real HTTP server on 127.0.0.1,
`kb scan` run once, items under two priorities, one official-sensitive feed and one source that refuses."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kbfixtures import free_port, run_kb, users_toml
from mailfixtures import smtp_toml

SENSITIVE_TITLE = "County lines exploitation across the county: restricted briefing"
# title -> (feed, description); the taggers file these under priority 1 (substance, family) and 2.
ITEMS = {
    "Drug treatment and violence among young adults": (
        "news.xml",
        "Substance misuse treatment for young adults was followed by fewer violent offences in a year. "
        "Young adults in drug treatment had lower rates of violent offending.",
    ),
    "Family conflict, domestic abuse and later violence": (
        "news.xml",
        "Parental conflict and domestic abuse at home increase the risk of later violence by children. "
        "Children who witness domestic abuse are more likely to be involved in violence as teenagers.",
    ),
    "Poverty, deprivation and violence in neighbourhoods": (
        "news.xml",
        "Poverty and deprivation in neighbourhoods shape the risk of violence for young people in Kirklees.",
    ),
    SENSITIVE_TITLE: (
        "restricted.xml",
        "Criminal exploitation through county lines drug supply is associated with increased risk of violence. "
        "County lines networks exploit children from Leeds and Bradford.",
    ),
}


def rss(items: list[tuple[str, str, str]], published: str = "Mon, 30 Nov 2026 09:00:00 GMT") -> str:
    """An RSS 2.0 feed of (title, link, description) items, all published at `published`."""
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><description>{d}</description><pubDate>{published}</pubDate></item>"
        for t, link, d in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>VRU</title>{body}</channel></rss>'


def write_feeds(root: Path, base: str, extra: dict[str, tuple[str, str]] | None = None) -> None:
    feeds: dict[str, list] = {}
    for i, (title, (feed, text)) in enumerate({**ITEMS, **(extra or {})}.items()):
        # The linked pages do not exist (404): each item is ingested from its feed summary.
        feeds.setdefault(feed, []).append((title, f"{base}/items/{i}.html", text))
    for feed, items in feeds.items():
        (root / feed).write_text(rss(items), encoding="utf-8")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@dataclass
class Site:
    root: Path
    base: str


@pytest.fixture(scope="module")
def feed_site(tmp_path_factory):
    """A real HTTP server on 127.0.0.1 serving the feeds."""
    root = tmp_path_factory.mktemp("feeds")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    write_feeds(root, base)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(root, base)
    server.shutdown()
    server.server_close()


def write_config(data: Path, base: str, smtp_port: int, refused_port: int) -> None:
    (data / "kb.toml").write_text(
        "# the Scanning page tests' settings (a comment the page's edits must keep)\n"
        + smtp_toml(smtp_port)
        + f"""
[[lists]]
name = "partners"
audience = "external"
recipients = ["a@partner.example"]

[[lists]]
name = "hub"
audience = "internal"
recipients = ["analyst@vru.example"]

[[sources]]
name = "VRU news"
feed = "{base}/news.xml"

[[sources]]
name = "Restricted briefings"
feed = "{base}/restricted.xml"
sensitivity = "official-sensitive"

[[sources]]
name = "Down"
feed = "http://127.0.0.1:{refused_port}/feed.xml"
"""
        + users_toml(analyst=("internal", "inside"), partner=("external", "outside")),
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def scanned_kb(feed_site, tmp_path_factory) -> Path:
    """`kb scan` run once on the feeds (the 'Down' source refuses connections, so it exits 1)."""
    data = tmp_path_factory.mktemp("scanned") / "kb"
    data.mkdir()
    write_config(data, feed_site.base, free_port(), free_port())
    out = run_kb(data, "scan", "--json")
    assert out.returncode == 1, out.stdout + out.stderr
    return data


def copy_kb(src: Path, dst: Path, base: str, smtp_port: int | None = None) -> Path:
    """A private copy of the scanned knowledge base, its kb.toml pointing at this test's SMTP port."""
    shutil.copytree(src, dst)
    write_config(dst, base, smtp_port or free_port(), free_port())
    return dst
