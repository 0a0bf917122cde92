"""One-click unsubscribe (RFC 8058): POST List-Unsubscribe=One-Click to the header's URL; GET keeps its confirm page."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from kbfixtures import free_port, ingest_into, kb_env, open_kb
from mailfixtures import start_smtp

from kb.config import load_settings
from kb.dispatch import Dispatcher, recipients
from kb.unsubscribe import UnsubscribeServer


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _note(folder, name: str, title: str, text: str):
    path = folder / name
    path.write_text(f"---\ntitle: {title}\nyear: 2026\n---\n\n{text}\n", encoding="utf-8")
    return path


@pytest.fixture
def setup(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    _note(docs, "a.md", "Knife crime among teenagers in Wakefield", "Knife crime among teenagers rose in Wakefield.")
    data = ingest_into(tmp_path / "kb", docs)
    smtp_port, one_click = free_port(), free_port()
    (data / "kb.toml").write_text(
        f"""[kb]
public_url = "http://127.0.0.1:8501"

[app]
unsubscribe_url = "http://127.0.0.1:{one_click}/unsubscribe"

[smtp]
port = {smtp_port}
timeout = 5

[[lists]]
name = "partners"
recipients = ["jo@partner.example", "sam@partner.example"]
""",
        encoding="utf-8",
    )
    settings = load_settings(data, env=kb_env(data))
    ctl, sink = start_smtp(smtp_port)
    server = UnsubscribeServer(settings, "127.0.0.1", one_click).start()
    kb = open_kb(data)
    yield kb, settings, sink, tmp_path
    kb.close()
    server.stop()
    ctl.stop()


def _post(url: str, body: bytes) -> int:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _active(kb, settings) -> set[str]:
    return {e for e, _ in recipients(kb, settings.mailing_list("partners"))}


def test_one_click_post_unsubscribes_and_the_next_send_skips_the_address(setup):
    kb, settings, sink, tmp_path = setup
    partners = settings.mailing_list("partners")
    now = datetime.now(UTC)
    assert Dispatcher(kb, settings).send_list(partners, now).status == "sent"
    msg = next(m for m in sink.messages if m["To"] == "jo@partner.example")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.search(r"<(http://127\.0\.0\.1:\d+/unsubscribe\?[^>]+)>", msg["List-Unsubscribe"]).group(1)
    assert "list=partners" in url and "token=" in url

    # A person clicking the link (or a mail scanner fetching it) is sent to the confirm page; no one is unsubscribed.
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as seen:
        opener.open(url, timeout=10)
    assert seen.value.code == 303
    token = re.search(r"token=([\w-]+)", url).group(1)
    assert seen.value.headers["Location"] == f"http://127.0.0.1:8501/?unsubscribe={token}&list=partners"
    assert _active(kb, settings) == {"jo@partner.example", "sam@partner.example"}

    # Anything but the RFC 8058 body, or an altered token, changes nothing.
    assert _post(url, b"List-Unsubscribe=Yes") == 400
    assert _post(url.replace(token, token[:-4] + "AAAA"), b"List-Unsubscribe=One-Click") == 400
    assert _active(kb, settings) == {"jo@partner.example", "sam@partner.example"}

    assert _post(url, b"List-Unsubscribe=One-Click") == 200
    assert _active(kb, settings) == {"sam@partner.example"}
    assert _post(url, b"List-Unsubscribe=One-Click") == 200, "a repeated POST is harmless"

    _note(tmp_path, "b.md", "Night-time economy violence in Leeds", "Violence near late bars in Leeds fell.")
    from ingest.pipeline import Ingestor

    assert not Ingestor(kb).run([tmp_path / "b.md"]).failed
    before = len(sink.messages)
    assert Dispatcher(kb, settings).send_list(partners, now + timedelta(days=7)).status == "sent"
    assert [m["To"] for m in sink.messages[before:]] == ["sam@partner.example"], "the next send skips the address"
