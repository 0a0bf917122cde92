"""Feeds are hostile input: item links fetched only from the feed's origin or fetch_hosts, never inside, escaped."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kbfixtures import open_kb, run_kb

from kb.feeds import FeedError, FetchPolicy, LinkRefused, fetch

HOSTILE_TITLE = "[bold red]PWNED[/] Knife crime [click me](http://evil.example/x) *update*"
PAGE = "".join(
    f"<p>{s}</p>"
    for s in [
        "A youth outreach team now works in Kirklees town centres on Friday and Saturday nights.",
        "Detached youth workers meet young people where they gather and offer support and referrals.",
        "Early reports show fewer calls about violence near the bus station since the team started.",
        "The service is funded for two years by the violence reduction partnership.",
    ]
)


class Recorder(BaseHTTPRequestHandler):
    """Answers every request with a page, and remembers each path it was asked for."""

    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self):
        self.server.requests.append(self.path)
        status, headers, body = self.server.routes.get(
            self.path.split("?")[0], (200, {"Content-Type": "text/html"}, b"<p>intranet secret</p>")
        )
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def servers():
    """Two real HTTP servers on 127.0.0.1: P1 serves the feed, P2 stands for an intranet service."""
    started = []
    for _ in range(2):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        httpd.requests, httpd.routes = [], {}
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append(httpd)
    yield started
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def _url(httpd, path: str = "", host: str = "127.0.0.1") -> str:
    return f"http://{host}:{httpd.server_address[1]}{path}"


def _rss(items: list[tuple[str, str, str]]) -> bytes:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><description>{d}</description>"
        "<pubDate>Mon, 02 Nov 2026 09:00:00 GMT</pubDate></item>"
        for t, link, d in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode()


def test_item_link_to_another_port_of_loopback_is_never_fetched(servers, tmp_path):
    feed, intranet = servers
    feed.routes.update(
        {
            "/feed.xml": (
                200,
                {"Content-Type": "application/rss+xml"},
                _rss(
                    [
                        ("Intranet page from a hostile feed", _url(intranet, "/admin/report"), "A short summary."),
                        ("Redirected into the intranet", _url(feed, "/jump"), "Another short summary."),
                        (HOSTILE_TITLE.replace("&", "&amp;"), _url(feed, "/outreach.html"), "Outreach in Kirklees."),
                    ]
                ),
            ),
            # The feed's own origin is allowed, but where it redirects to is checked again.
            "/jump": (302, {"Location": _url(intranet, "/metadata", host="localhost")}, b""),
            "/outreach.html": (200, {"Content-Type": "text/html"}, f"<html><body>{PAGE}</body></html>".encode()),
        }
    )
    data = tmp_path / "kb"
    data.mkdir()
    # localhost is listed, so only the address check (after DNS: 127.0.0.1) stands in the redirect's way.
    (data / "kb.toml").write_text(
        f'[[sources]]\nname = "Hostile"\nfeed = "{_url(feed, "/feed.xml")}"\nfetch_hosts = ["localhost"]\n',
        encoding="utf-8",
    )
    out = run_kb(data, "scan", "--json")
    report = json.loads(out.stdout)["sources"][0]
    assert report["status"] == "ok", report
    assert intranet.requests == [], "the intranet port received no request at all"

    items = {i["title"]: i for i in report["items"]}
    direct = items["Intranet page from a hostile feed"]
    assert direct["link_refused"] and "not the feed's own origin" in direct["reason"]
    redirected = items["Redirected into the intranet"]
    assert redirected["link_refused"] and "loopback, private" in redirected["reason"]
    assert report["refused_links"] == 2
    # The other item ingests its linked page (same origin); the refused ones keep only the feed's own summary.
    assert items[HOSTILE_TITLE]["how"] == "page" and items[HOSTILE_TITLE]["status"] == "new"
    assert all(i["status"] == "new" and i["doc_ids"] for i in report["items"])
    kb = open_kb(data)
    try:
        text = " ".join(c.text for d in kb.catalogue.documents() for c in kb.catalogue.chunks_of(d.doc_id))
    finally:
        kb.close()
    assert "intranet secret" not in text and "Detached youth workers" in text

    # The terminal shows the title as written: Rich markup is text, not style.
    shown = run_kb(data, "search", "outreach Kirklees", "-k", "3", check=True).stdout
    assert "[bold red]PWNED[/]" in shown and "[click me](http://evil.example/x)" in shown


def test_allow_private_lets_a_listed_internal_host_through(servers):
    feed, intranet = servers
    intranet.routes["/page"] = (200, {"Content-Type": "text/plain"}, b"internal wiki page")
    policy = FetchPolicy.for_feed(_url(feed, "/feed.xml"), ["127.0.0.1"], allow_private=False)
    with pytest.raises(LinkRefused, match="loopback, private"):
        fetch(_url(intranet, "/page"), policy=policy)
    assert intranet.requests == []
    allowed = FetchPolicy.for_feed(_url(feed, "/feed.xml"), ["127.0.0.1"], allow_private=True)
    assert fetch(_url(intranet, "/page"), policy=allowed).body == b"internal wiki page"
    assert intranet.requests == ["/page"]


def test_redirect_from_an_allowed_host_to_a_private_one_is_refused(servers):
    feed, intranet = servers
    # 127.0.0.1 is listed and allowed to be private (a partner's internal mirror); its redirect to another host
    # (localhost, not listed) is refused before any request goes there.
    feed.routes["/moved"] = (301, {"Location": _url(intranet, "/secret", host="localhost")}, b"")
    policy = FetchPolicy.for_feed("https://feeds.example.org/rss", ["127.0.0.1"], allow_private=True)
    with pytest.raises(LinkRefused, match="host localhost is not"):
        fetch(_url(feed, "/moved"), policy=policy)
    assert feed.requests == ["/moved"] and intranet.requests == []


@pytest.mark.parametrize(
    "address, ok",
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.9", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.100.100.200", False),  # Alibaba metadata, shared address space
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),  # AWS metadata over IPv6
        ("::ffff:127.0.0.1", False),  # loopback written as IPv6
        ("224.0.0.1", False),
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
    ],
)
def test_address_check(address, ok):
    policy = FetchPolicy.for_feed("https://feeds.example.org/rss", ["news.example.org"])
    if ok:
        policy.check_address("https://news.example.org/a", address)
    else:
        with pytest.raises(LinkRefused):
            policy.check_address("https://news.example.org/a", address)
    # The feed's own origin is trusted as the admin configured it, whatever its address.
    policy.check_address("https://feeds.example.org/item", address)


def test_origin_means_scheme_host_and_port():
    policy = FetchPolicy.for_feed("http://127.0.0.1:8080/feed.xml")
    policy.check_url("http://127.0.0.1:8080/item/1")
    policy.check_url("HTTP://127.0.0.1:8080/other")
    for other in ("http://127.0.0.1:8081/item", "https://127.0.0.1:8080/item", "http://localhost:8080/item"):
        with pytest.raises(LinkRefused):
            policy.check_url(other)


class Trickle(BaseHTTPRequestHandler):
    """Sends a byte at a time, never finishing: only a time limit on the whole fetch stops it."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        try:
            for _ in range(200):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def test_a_slow_server_cannot_hold_a_fetch_past_its_time_limit():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        with pytest.raises(FeedError, match="within 1 s"):
            fetch(f"http://127.0.0.1:{httpd.server_address[1]}/slow", timeout=1.0)
        assert time.monotonic() - started < 3
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_size_cap_applies_to_item_links(servers):
    feed, _ = servers
    feed.routes["/big"] = (200, {"Content-Type": "text/html"}, b"x" * 5000)
    policy = FetchPolicy.for_feed(_url(feed, "/feed.xml"))
    with pytest.raises(FeedError, match="limit"):
        fetch(_url(feed, "/big"), max_bytes=1000, policy=policy)


def test_scan_report_of_a_refused_link_in_the_terminal(servers, tmp_path: Path):
    feed, intranet = servers
    feed.routes["/feed.xml"] = (
        200,
        {"Content-Type": "application/rss+xml"},
        _rss([("Staff rota leaked by a feed", _url(intranet, "/rota"), "Summary only.")]),
    )
    data = tmp_path / "kb"
    data.mkdir()
    (data / "kb.toml").write_text(f'[[sources]]\nname = "Feed"\nfeed = "{_url(feed, "/feed.xml")}"\n')
    out = run_kb(data, "scan")
    assert "link refused" in out.stdout and "Staff rota leaked by a feed" in out.stdout
    assert intranet.requests == []


def test_a_feed_title_arrives_in_email_as_text():
    from kb.digest import Digest, Group, Item, Section
    from kb.mail import render

    title = HOSTILE_TITLE + " <b>bold</b> <a href='http://evil.example/y'>here</a>"
    item = Item(
        doc_id="d1",
        title=title,
        source="[src](http://evil.example/s)",
        date="2026-11-02",
        citation=title,
        link="javascript:alert(1)",
        key_sentence="Knife crime fell.",
    )
    digest = Digest("partners", "external", "2026-11-01", "2026-11-02", [Section("S", 1, [Group("G", None, [item])])])
    digest.doc_ids = ["d1"]
    text, html = render(digest, "Digest", "https://hub.example.org")
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "href='http://evil.example" not in html and 'href="http://evil.example' not in html
    assert 'href="javascript:' not in html and 'href="#"' in html, "a non-web link is neutralised"
    assert "[click me](http://evil.example/x)" in text, "the plain part shows the title as written"
