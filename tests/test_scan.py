"""Scanning: feeds from a real local HTTP server, each item ingested once, hostile feeds refused, folders."""

from __future__ import annotations

import json
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kbfixtures import open_kb, run_kb
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject
from scanfixtures import rss

from kb.feeds import FeedError, canonical_url, check_xml, fetch, parse_feed, title_key

BIG = 50 * 1024 * 1024


def rss_of(items: list[tuple[str, str, str]]) -> str:
    return rss(items, published="Mon, 02 Nov 2026 09:00:00 GMT")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<rss version="2.0"><channel><title>&lol4;</title></channel></rss>
"""


def make_pdf(path: Path, lines: list[str], title: str) -> Path:
    """A one-page text PDF (Helvetica drawn top-down) that pypdf reads back in order."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td", *[f"({line}) Tj T*" for line in lines], "ET"]
    stream = DecodedStreamObject()
    stream.set_data("\n".join(ops).encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(stream)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    writer.add_metadata({"/Title": title})
    with path.open("wb") as fh:
        writer.write(fh)
    return path


class _Handler(SimpleHTTPRequestHandler):
    """Static files, plus a 50 MB body streamed without Content-Length (so only a read cap stops it)."""

    def do_GET(self):
        if self.path.startswith("/stream-huge.xml"):
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.end_headers()
            chunk = b"<!-- " + b"x" * (1024 * 1024 - 9) + b" -->"
            try:
                for _ in range(BIG // len(chunk)):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def site(tmp_path, shared_data):
    """A real HTTP server on 127.0.0.1 serving the shared feeds and feeds written here."""
    root = tmp_path / "site"
    root.mkdir()
    feeds = shared_data / "feeds"
    if feeds.is_dir():
        for f in feeds.glob("*.xml"):
            shutil.copy(f, root / f.name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, base
    server.shutdown()
    server.server_close()


def _write_site(root: Path, base: str) -> None:
    make_pdf(
        root / "report.pdf",
        [
            "Evaluation of a mentoring programme for young people at risk of knife crime",
            "Mentoring by a trusted adult reduced violent offending among young people in Leeds.",
            "The programme worked best for those excluded from school.",
        ],
        title="Mentoring and knife crime: an evaluation",
    )
    (root / "news").mkdir()
    paragraphs = "".join(
        f"<p>{s}</p>"
        for s in [
            "A new hospital navigator service has started in Bradford for young people injured by violence.",
            "Youth workers meet young people in the emergency department at a reachable moment.",
            "Navigators help with housing, education and substance misuse support after discharge.",
            "Early figures show fewer repeat attendances for assault among those who took up support.",
        ]
    )
    (root / "news" / "navigators.html").write_text(
        f"<html><head><script>var tracking = 1;</script></head><body><nav>Home | News</nav>{paragraphs}</body></html>"
    )
    (root / "vru.xml").write_text(
        rss_of(
            [
                ("Mentoring and knife crime: an evaluation", f"{base}/report.pdf", "An evaluation report."),
                (
                    "Hospital navigators start in Bradford",
                    f"{base}/news/navigators.html?utm_source=feed&amp;utm_medium=rss",
                    "Navigators now work in Bradford.",
                ),
                ("Violence in the night-time economy", f"{base}/gone.html", "Licensing and late-night violence."),
            ]
        )
    )
    # The same navigators story again: tracking noise and a fragment on the URL, then a new URL.
    (root / "mirror.xml").write_text(
        rss_of(
            [
                (
                    "Hospital navigators start in Bradford",
                    f"{base.upper().replace('HTTP', 'http')}/news/navigators.html/?utm_campaign=x#top",
                    "Mirror copy.",
                ),
                ("Hospital Navigators Start in Bradford!", f"{base}/mirror/navigators-story", "Another copy."),
            ]
        )
    )
    (root / "billion.xml").write_bytes(BILLION_LAUGHS)
    (root / "invalid.xml").write_text('<?xml version="1.0"?><rss version="2.0"><channel><title>broken</channel>')
    with (root / "huge.xml").open("wb") as fh:
        fh.truncate(BIG)


def _config(data: Path, base: str, folder: Path, shared: bool = True) -> None:
    sources = [
        ("VRU news", f'feed = "{base}/vru.xml"'),
        ("Mirror", f'feed = "{base}/mirror.xml"'),
        ("Billion laughs", f'feed = "{base}/billion.xml"'),
        ("Huge", f'feed = "{base}/huge.xml"'),
        ("Huge stream", f'feed = "{base}/stream-huge.xml"'),
        ("Invalid", f'feed = "{base}/invalid.xml"'),
        ("Inbox", f'folder = "{folder}"\ndoc_type = "research"'),
    ]
    if shared:
        sources += [
            ("Atom example", f'feed = "{base}/Atom_Example.xml"'),
            ("RSS example", f'feed = "{base}/RSS_Example.xml"'),
        ]
    text = "".join(f'[[sources]]\nname = "{n}"\n{body}\n\n' for n, body in sources)
    (data / "kb.toml").write_text(text, encoding="utf-8")


@pytest.mark.shared_data
def test_scan_ingests_each_item_once_and_survives_hostile_feeds(site, tmp_path):
    root, base = site
    _write_site(root, base)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "local-note.md").write_text("# Local note\n\nKnife crime fell in Wakefield after a schools programme.\n")
    data = tmp_path / "kb"
    data.mkdir()
    _config(data, base, inbox)

    out = run_kb(data, "scan", "--json")
    assert out.returncode == 1, "hostile sources failed, so the scan exits 1"
    report = {s["name"]: s for s in json.loads(out.stdout)["sources"]}

    assert report["Billion laughs"]["status"] == "failed" and "entities" in report["Billion laughs"]["error"]
    assert report["Huge"]["status"] == "failed" and "limit" in report["Huge"]["error"]
    assert report["Huge stream"]["status"] == "failed" and "limit" in report["Huge stream"]["error"]
    assert report["Invalid"]["status"] == "failed" and "not valid XML" in report["Invalid"]["error"]

    vru = report["VRU news"]
    assert vru["status"] == "ok"
    how = {i["title"]: i["how"] for i in vru["items"]}
    assert how["Mentoring and knife crime: an evaluation"] == "pdf"
    assert how["Hospital navigators start in Bradford"] == "page"
    assert how["Violence in the night-time economy"] == "summary", "an unreachable link falls back to the summary"
    assert [i["status"] for i in report["Mirror"]["items"]] == ["duplicate", "duplicate"]
    assert report["Atom example"]["new"] == 1 and report["RSS example"]["new"] == 4
    assert report["Inbox"]["new"] == 1

    kb = open_kb(data)
    try:
        docs = kb.catalogue.documents()
        titles = [d.title for d in docs]
        assert len(titles) == len(set(titles)) == 3 + 1 + 4 + 1
        pdf_doc = next(d for d in docs if d.title == "Mentoring and knife crime: an evaluation")
        assert pdf_doc.doc_type == "news" and "trusted adult" in kb.catalogue.chunks_of(pdf_doc.doc_id)[0].text
        page_doc = next(d for d in docs if d.title == "Hospital navigators start in Bradford")
        page_text = " ".join(c.text for c in kb.catalogue.chunks_of(page_doc.doc_id))
        assert "emergency department" in page_text and "tracking" not in page_text and "Home | News" not in page_text
        assert next(d for d in docs if d.title == "Local note").doc_type == "research"
        origins = kb.catalogue.query("SELECT source, url FROM scan_items WHERE doc_id = ?", (page_doc.doc_id,))
        assert [tuple(r) for r in origins] == [
            ("VRU news", f"{base}/news/navigators.html?utm_source=feed&utm_medium=rss")
        ]
    finally:
        kb.close()

    again = json.loads(run_kb(data, "scan", "--json").stdout)
    for s in again["sources"]:
        assert s["new"] == 0, s
    assert next(s for s in again["sources"] if s["name"] == "Inbox")["unchanged"] == 1


def test_scan_reports_a_missing_source_and_exits_1(tmp_path):
    data = tmp_path / "kb"
    data.mkdir()
    (data / "kb.toml").write_text('[[sources]]\nname = "Gone"\nfolder = "/nonexistent/inbox"\n')
    out = run_kb(data, "scan")
    assert out.returncode == 1 and "folder not found" in out.stdout


def test_canonical_url_strips_tracking_fragment_slash_and_host_case():
    assert (
        canonical_url("HTTPS://Example.ORG:443/a/b/?utm_source=x&id=2&fbclid=y#frag") == "https://example.org/a/b?id=2"
    )
    assert canonical_url("http://example.org/a?b=2&a=1") == canonical_url("http://example.org/a/?a=1&b=2")
    assert canonical_url("not a url") is None


@pytest.mark.shared_data
def test_canonical_url_gives_one_key_to_each_real_feed_link_however_it_is_spelt(shared_data):
    # The links of a real RSS feed, as another site or a mail client would respell them: percent-encoding case and
    # needless escapes, an upper-case host, a default port, a fragment, tracking. Each spelling is one scan item.
    body = (shared_data / "feeds" / "RSS_Example.xml").read_bytes()
    links = [e.link for e in parse_feed(body, "RSS_Example.xml")]
    assert len(links) == 4
    for link in links:
        key = canonical_url(link)
        host_up = link.replace("liftoff.msfc.nasa.gov", "LIFTOFF.msfc.NASA.gov:80")
        assert canonical_url(host_up + "?utm_source=mail#top") == key
        assert canonical_url(link.replace("news-", "news%2D").replace("/news/", "/%6eews/")) == key
    assert len({canonical_url(link) for link in links}) == 4
    assert canonical_url("https://www.gov.uk/news/caf%c3%a9-knife") == canonical_url(
        "https://www.gov.uk/news/café-knife"
    )


def test_title_key_folds_case_accents_punctuation_and_ignores_short_titles():
    assert title_key("Knife Crime: What Works?") == title_key("knife crime — what works")
    assert title_key("Café violence report, 2026") == title_key("Cafe Violence Report 2026")
    assert title_key("News") is None


def test_check_xml_refuses_entities_and_external_references():
    with pytest.raises(FeedError, match="entities"):
        check_xml(BILLION_LAUGHS, "feed")
    xxe = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss>&x;</rss>'
    with pytest.raises(FeedError):
        check_xml(xxe, "feed")
    with pytest.raises(FeedError, match="not valid XML"):
        check_xml(b"<rss><channel></rss>", "feed")


def test_fetch_refuses_other_schemes():
    with pytest.raises(FeedError, match="only http and https"):
        fetch("file:///etc/passwd")
