"""Scanning behind an organisation's web proxy: feeds fetched through a real HTTP proxy (proxy.py on 127.0.0.1),
as HTTP_PROXY / HTTPS_PROXY / NO_PROXY say, and never straight past it when it is down."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kbfixtures import free_port, run_kb

from kb.feeds import FeedError, FetchPolicy, LinkRefused, fetch

PROXY_BIN = Path(sys.executable).with_name("proxy")  # proxy.py's command (the test extra)
pytestmark = pytest.mark.skipif(not PROXY_BIN.exists(), reason="proxy.py is not installed (pip install -e '.[test]')")


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        self.server.paths.append(self.path)


@pytest.fixture
def site(tmp_path, shared_data):
    """A real feed server on 127.0.0.1 with the shared RSS example; it records the paths it was asked for."""
    root = tmp_path / "site"
    root.mkdir()
    shutil.copy(shared_data / "feeds" / "RSS_Example.xml", root / "feed.xml")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    server.paths = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(tmp_path):
    """proxy.py on a free port of 127.0.0.1; yields (url, a function returning its access log so far)."""
    port = free_port()
    log = tmp_path / "proxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(PROXY_BIN), "--hostname", "127.0.0.1", "--port", str(port), "--num-workers", "1",
             "--num-acceptors", "1", "--log-level", "INFO"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"proxy.py exited: {log.read_text(errors='replace')}")
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("proxy.py did not start listening within 30 s")
    try:
        yield f"http://127.0.0.1:{port}", lambda: log.read_text(errors="replace")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _logged(proxy_log, line: str, timeout: float = 10) -> bool:
    """Whether the proxy's access log shows `line`; proxy.py writes it when the connection ends, so wait a little."""
    deadline = time.time() + timeout
    while line not in proxy_log():
        if time.time() > deadline:
            return False
        time.sleep(0.1)
    return True


def _only(monkeypatch, **env: str) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.shared_data
def test_a_feed_is_fetched_through_the_proxy_the_environment_names(site, proxy, monkeypatch):
    server, base = site
    proxy_url, proxy_log = proxy
    _only(monkeypatch, HTTP_PROXY=proxy_url)
    got = fetch(f"{base}/feed.xml")
    assert b"<rss" in got.body and server.paths == ["/feed.xml"]
    port = base.rsplit(":", 1)[1]
    assert _logged(proxy_log, f"GET 127.0.0.1:{port}/feed.xml"), proxy_log()[-2000:]

    # NO_PROXY names the host: straight there, the proxy is not asked again.
    _only(monkeypatch, HTTP_PROXY=proxy_url, NO_PROXY="127.0.0.1")
    before = proxy_log().count("GET 127.0.0.1")
    fetch(f"{base}/feed.xml")
    time.sleep(1.5)  # a request through the proxy would be in its log by now
    assert proxy_log().count("GET 127.0.0.1") == before and len(server.paths) == 2


@pytest.mark.shared_data
def test_a_proxy_that_is_down_fails_the_fetch_and_never_goes_around_it(site, monkeypatch):
    server, base = site
    down = f"http://127.0.0.1:{free_port()}"
    _only(monkeypatch, HTTP_PROXY=down)
    with pytest.raises(FeedError, match=r"cannot connect through the proxy 127\.0\.0\.1:\d+ \(HTTP_PROXY\)"):
        fetch(f"{base}/feed.xml")
    assert server.paths == [], "the feed server was reached without the proxy"


def test_https_is_tunnelled_through_the_proxy_with_connect(proxy, monkeypatch):
    # The far end is a plain HTTP server, so the TLS handshake inside the tunnel fails: what matters is that the
    # tunnel went through the proxy (CONNECT in its log) and that the failure names the proxy.
    proxy_url, proxy_log = proxy
    server = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _only(monkeypatch, HTTPS_PROXY=proxy_url)
        port = server.server_address[1]
        with pytest.raises(FeedError, match=r"through the proxy 127\.0\.0\.1:\d+ \(HTTPS_PROXY\)"):
            fetch(f"https://127.0.0.1:{port}/feed.xml", timeout=10)
        assert _logged(proxy_log, f"CONNECT 127.0.0.1:{port}"), proxy_log()[-2000:]
    finally:
        server.shutdown()
        server.server_close()


def test_an_item_link_whose_host_cannot_be_checked_is_not_asked_of_the_proxy(proxy, monkeypatch):
    # Through a proxy the connection goes to the proxy, so an item link's host is resolved here first; one that
    # does not resolve cannot be checked against the private-address rule, so it is refused (fail closed).
    proxy_url, proxy_log = proxy
    _only(monkeypatch, HTTP_PROXY=proxy_url)
    policy = FetchPolicy.for_feed("http://feeds.example.org/rss", ["news.invalid"])
    with pytest.raises(LinkRefused, match="does not resolve on this machine"):
        fetch("http://news.invalid/item", policy=policy)
    assert "news.invalid" not in proxy_log()


def test_a_proxy_that_is_not_http_is_named_with_the_remedy(monkeypatch):
    _only(monkeypatch, HTTPS_PROXY="socks5://127.0.0.1:1080")
    with pytest.raises(FeedError, match=r"HTTPS_PROXY is 'socks5://127\.0\.0\.1:1080', which is not an http:// proxy"):
        fetch("https://feeds.example.org/rss")


@pytest.mark.shared_data
def test_kb_scan_reads_its_feed_through_the_proxy(site, proxy, tmp_path):
    server, base = site
    proxy_url, proxy_log = proxy
    data = tmp_path / "kb"
    data.mkdir()
    (data / "kb.toml").write_text(f'[[sources]]\nname = "Example"\nfeed = "{base}/feed.xml"\n', encoding="utf-8")
    out = run_kb(data, "scan", "--json", "--no-links", check=True, HTTP_PROXY=proxy_url, NO_PROXY="")
    report = json.loads(out.stdout)
    [src] = report["sources"]
    assert src["error"] is None and src["new"] > 0, src
    assert "/feed.xml" in server.paths and _logged(proxy_log, "/feed.xml - 200"), proxy_log()[-2000:]
