"""Feeds, safely: bounded HTTP fetches, XML checked by defusedxml before feedparser, entries as plain data."""

from __future__ import annotations

import base64
import http.client
import ipaddress
import re
import socket
import time
import unicodedata
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

from kb.ids import normalise_doi

MAX_BYTES = 10 * 1024 * 1024
TIMEOUT = 20.0  # seconds for the whole fetch, redirects and body included
MAX_REDIRECTS = 5
USER_AGENT = "vru-kb-scanner/0.1 (+https://github.com/)"

# Query parameters that only say how a reader arrived; the same page with or without them is one item.
_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|mkt_tok|ref|ref_src|cmpid|ito|at_\w+)$", re.I
)


class FeedError(Exception):
    """A source could not be fetched or parsed; the message says what and what to do."""


@dataclass
class Fetched:
    url: str
    content_type: str
    body: bytes


@dataclass
class Entry:
    """One feed item, reduced to what scanning needs."""

    title: str
    link: str | None
    summary: str
    published: str | None = None
    year: int | None = None
    doi: str | None = None
    authors: list[str] = field(default_factory=list)


class LinkRefused(FeedError):
    """A link the fetch policy does not allow; nothing was requested from it."""


@dataclass(frozen=True)
class FetchPolicy:
    """Where a feed's item links may be fetched from: the feed's own origin, or the hosts listed for its source.

    Any other host is refused, and so is any address that is not public (loopback, private, link-local, cloud
    metadata, ...) unless `allow_private`. The check runs on the resolved address of every connection, so a
    redirect or a DNS name pointing inside cannot slip past it. The feed's own origin is trusted as configured.
    """

    origin: tuple[str, str, int]  # the feed URL's (scheme, host, port)
    hosts: frozenset[str] = frozenset()
    allow_private: bool = False

    @classmethod
    def for_feed(cls, feed_url: str, fetch_hosts: list[str] | None = None, allow_private: bool = False) -> FetchPolicy:
        hosts = frozenset(h.strip().lower().rstrip(".") for h in fetch_hosts or [])
        return cls(_origin(feed_url), hosts, allow_private)

    def is_own_origin(self, url: str) -> bool:
        return _origin(url) == self.origin

    def check_url(self, url: str) -> None:
        """Refuse a URL whose host is neither the feed's origin nor listed in fetch_hosts."""
        if self.is_own_origin(url):
            return
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        if host not in self.hosts:
            raise LinkRefused(
                f"{url}: host {host or '(none)'} is not the feed's own origin nor in this source's fetch_hosts "
                "in kb.toml; add it there if the feed's links should be fetched from it"
            )

    def check_address(self, url: str, address: str) -> None:
        """Refuse a non-public address for anything but the feed's own origin, unless allow_private."""
        if self.allow_private or self.is_own_origin(url):
            return
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            raise LinkRefused(
                f"{url}: resolves to {ip}, a loopback, private, link-local or reserved address; refused "
                "(set allow_private = true for this source in kb.toml only if that host is meant to be internal)"
            )


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower().rstrip("."), port or {"http": 80, "https": 443}.get(scheme, 0)


def _connect(url: str, policy: FetchPolicy | None, timeout: float):
    """A `_create_connection` for http.client that checks every resolved address against the policy first."""

    def create_connection(address, conn_timeout=None, source_address=None):
        host, port = address
        last: OSError | None = None
        for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            if policy is not None:
                policy.check_address(url, sockaddr[0])
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                last = exc
        raise last or OSError(f"cannot resolve {host}")

    return create_connection


@dataclass(frozen=True)
class Proxy:
    """The HTTP proxy the environment names for a URL (HTTP_PROXY / HTTPS_PROXY, less NO_PROXY)."""

    host: str
    port: int
    variable: str  # which environment variable named it, for messages
    authorization: str | None = None  # a Proxy-Authorization header from the proxy URL's user:password

    @classmethod
    def for_url(cls, url: str) -> Proxy | None:
        parts = urlsplit(url)
        if urllib.request.proxy_bypass_environment(parts.hostname or ""):
            return None
        named = urllib.request.getproxies_environment().get(parts.scheme)
        if not named:
            return None
        variable = f"{parts.scheme.upper()}_PROXY"
        p = urlsplit(named if "://" in named else f"http://{named}")
        if p.scheme != "http" or not p.hostname:
            raise FeedError(
                f"{url}: {variable} is {named!r}, which is not an http:// proxy; kb scan speaks to http:// proxies "
                "only (HTTPS is tunnelled through them with CONNECT): set it to http://HOST:PORT"
            )
        auth = None
        if p.username:
            pair = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
            auth = "Basic " + base64.b64encode(pair).decode("ascii")
        return cls(p.hostname, p.port or 80, variable, auth)


def _check_proxied(url: str, policy: FetchPolicy) -> None:
    """Through a proxy the connection goes to the proxy, so an item link's host is resolved here and its addresses
    checked before the proxy is asked for it; a host that does not resolve here is refused (fail closed)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        if policy.allow_private or policy.is_own_origin(url):
            return
        raise LinkRefused(
            f"{url}: not fetched: {host} does not resolve on this machine, so its address cannot be checked "
            "before the proxy fetches it (set allow_private = true for this source only if it is trusted)"
        ) from None
    for *_, sockaddr in infos:
        policy.check_address(url, sockaddr[0])


def _connection(
    url: str, proxy: Proxy | None, policy: FetchPolicy | None, timeout: float
) -> tuple[http.client.HTTPConnection, str, dict]:
    """The connection to open for `url`, the request target to send on it, and extra headers: straight to the host
    (every resolved address checked by the policy), or through the environment's proxy."""
    parts = urlsplit(url)
    path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    if proxy is None:
        conn = cls(parts.hostname, parts.port, timeout=timeout)
        conn._create_connection = _connect(url, policy, timeout)
        return conn, path, {}
    if policy is not None:
        _check_proxied(url, policy)
    auth = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else {}
    conn = cls(proxy.host, proxy.port, timeout=timeout)
    if parts.scheme == "https":
        # CONNECT tunnels TLS to the host through the proxy; the certificate checked is still the host's.
        conn.set_tunnel(parts.hostname, parts.port or 443, headers=auth)
        return conn, path, {}
    # Plain HTTP goes to the proxy as an absolute URL.
    return conn, urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, "")), auth


def fetch(url: str, max_bytes: int = MAX_BYTES, timeout: float = TIMEOUT, policy: FetchPolicy | None = None) -> Fetched:
    """GET a http(s) URL within `timeout` seconds in all, refusing bodies over `max_bytes` without reading them whole.

    With a policy (item links), every hop of a redirect is checked by it before anything is sent there. Where the
    environment names a proxy (HTTP_PROXY, HTTPS_PROXY, NO_PROXY, as curl and pip read them), requests go through it.
    """
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FeedError(f"{url}: only http and https URLs can be fetched")
        if policy is not None:
            policy.check_url(url)
        left = deadline - time.monotonic()
        if left <= 0:
            raise FeedError(f"{url}: no answer within {timeout:.0f} s")
        proxy = Proxy.for_url(url)
        conn, target, extra = _connection(url, proxy, policy, left)
        try:
            conn.request(
                "GET",
                target,
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity", "Connection": "close", **extra},
            )
            resp = conn.getresponse()
            location = resp.getheader("Location")
            if resp.status in (301, 302, 303, 307, 308) and location:
                seen += 1
                if seen > MAX_REDIRECTS:
                    raise FeedError(f"{url}: more than {MAX_REDIRECTS} redirects")
                url = urljoin(url, location)
                continue
            if resp.status == 407:
                raise FeedError(
                    f"{url}: the proxy wants a user name and password: put them in it, http://USER:PASS@HOST:PORT"
                )
            if resp.status >= 400:
                raise FeedError(f"{url}: HTTP {resp.status} {resp.reason}")
            declared = resp.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FeedError(f"{url}: response is {int(declared):,} bytes, over the {max_bytes:,}-byte limit")
            body = bytearray()
            while chunk := resp.read1(65536):
                body += chunk
                if len(body) > max_bytes:
                    raise FeedError(f"{url}: response is over the {max_bytes:,}-byte limit; refusing to read it")
                if time.monotonic() > deadline:
                    raise FeedError(f"{url}: not fully received within {timeout:.0f} s")
            content_type = (resp.getheader("Content-Type") or "application/octet-stream").split(";")[0].strip()
            return Fetched(url, content_type.lower(), bytes(body))
        except FeedError:
            raise
        except TimeoutError:
            raise FeedError(f"{url}: no answer within {timeout:.0f} s") from None
        except (OSError, http.client.HTTPException) as exc:
            where = f" through the proxy {proxy.host}:{proxy.port} ({proxy.variable})" if proxy else ""
            raise FeedError(f"{url}: cannot connect{where} ({exc or type(exc).__name__})") from None
        finally:
            conn.close()


def check_xml(body: bytes, url: str) -> None:
    """Refuse entity declarations and external references (billion laughs, XXE) and malformed XML."""
    import defusedxml
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.EntitiesForbidden:
        raise FeedError(f"{url}: feed declares XML entities (an entity-expansion attack?); refused") from None
    except defusedxml.ExternalReferenceForbidden:
        raise FeedError(f"{url}: feed references external XML resources; refused") from None
    except defusedxml.DTDForbidden:
        raise FeedError(f"{url}: feed has a DTD; refused") from None
    except ParseError as exc:
        raise FeedError(f"{url}: not valid XML ({exc}); is this URL really an RSS or Atom feed?") from None


def parse_feed(body: bytes, url: str) -> list[Entry]:
    """Entries of an RSS or Atom document that has already passed `check_xml`."""
    import feedparser

    check_xml(body, url)
    parsed = feedparser.parse(body)
    if not parsed.get("version"):
        raise FeedError(f"{url}: valid XML but neither RSS nor Atom; check the feed URL")
    entries = []
    for e in parsed.entries:
        summary = html_to_text(e.get("summary") or e.get("description") or "")
        title = " ".join(html_to_text(e.get("title") or "").split())
        link = e.get("link") or None
        if not title:
            # Some RSS items have only a description; its opening words are what a reader sees first.
            title = _first_words(summary) or link or ""
        if not title:
            continue
        when = e.get("published_parsed") or e.get("updated_parsed")
        doi = None
        for candidate in (e.get("prism_doi"), e.get("dc_identifier"), e.get("id"), link, summary):
            if doi := normalise_doi(candidate if isinstance(candidate, str) else None):
                break
        entries.append(
            Entry(
                title=title,
                link=link,
                summary=summary,
                published=f"{when.tm_year:04d}-{when.tm_mon:02d}-{when.tm_mday:02d}" if when else None,
                year=when.tm_year if when else None,
                doi=doi,
                authors=[a.get("name") for a in e.get("authors", []) if a.get("name")],
            )
        )
    return entries


def canonical_url(url: str | None) -> str | None:
    """w3lib's canonical form (case, percent-encoding, sorted query, no fragment), less tracking and trailing slash."""
    if not url or not urlsplit(url.strip()).netloc:
        return None
    parts = urlsplit(canonicalize_url(url.strip()))
    default = {"http": 80, "https": 443}.get(parts.scheme)
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port and parts.port != default else "")
    query = "&".join(p for p in parts.query.split("&") if p and not _TRACKING.match(p.split("=", 1)[0]))
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), query, ""))


def title_key(title: str) -> str | None:
    """Title for dedupe: case, accents and punctuation folded; short generic titles ('News') never match."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    words = re.findall(r"\w+", text)
    if len(words) < 3 or len("".join(words)) < 15:
        return None
    return " ".join(words)


def _first_words(text: str, n: int = 12) -> str:
    words = text.split()
    return " ".join(words[:n]) + ("…" if len(words) > n else "")


class _TextExtractor(HTMLParser):
    """Readable text of an HTML fragment or page: paragraphs, headings and list items, no scripts or menus."""

    _SKIP = {"script", "style", "nav", "header", "footer", "noscript", "template", "svg", "form"}
    _BLOCK = {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "br", "tr", "section", "article", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Paragraphs of text (blank-line separated) from HTML; plain text passes through unchanged."""
    if "<" not in html and "&" not in html:
        return html.strip()
    p = _TextExtractor()
    p.feed(html)
    p.close()
    lines = [" ".join(line.split()) for line in "".join(p.parts).split("\n")]
    return "\n\n".join(line for line in lines if line)
