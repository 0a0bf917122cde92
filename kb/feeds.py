"""Feeds, safely: bounded HTTP fetches, XML checked by defusedxml before feedparser, entries as plain data."""

from __future__ import annotations

import re
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from kb.ids import normalise_doi

MAX_BYTES = 10 * 1024 * 1024
TIMEOUT = 20.0
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


def fetch(url: str, max_bytes: int = MAX_BYTES, timeout: float = TIMEOUT) -> Fetched:
    """GET a http(s) URL, refusing bodies over `max_bytes` without reading them whole."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise FeedError(f"{url}: only http and https URLs can be fetched")
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FeedError(f"{url}: response is {int(declared):,} bytes, over the {max_bytes:,}-byte limit")
            body = resp.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise FeedError(f"{url}: response is over the {max_bytes:,}-byte limit; refusing to read it")
            return Fetched(resp.geturl(), resp.headers.get_content_type(), body)
    except urllib.error.HTTPError as exc:
        raise FeedError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise FeedError(f"{url}: cannot connect ({exc.reason})") from None
    except TimeoutError:
        raise FeedError(f"{url}: no answer within {timeout:.0f} s") from None
    except OSError as exc:
        raise FeedError(f"{url}: connection failed ({exc})") from None


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
    """Lower-case scheme and host, no fragment, no tracking parameters, no trailing slash."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if not parts.netloc:
        return None
    host = parts.hostname or ""
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host.lower() + (f":{port}" if port and port != default else "")
    query = urlencode(
        sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k))
    )
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), netloc, path, query, ""))


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
