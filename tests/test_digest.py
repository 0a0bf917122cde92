"""Digest: composition, the email an aiosmtpd server receives, cron safety, retries, unsubscribe, alerts."""

from __future__ import annotations

import json
import re
import shutil
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kbfixtures import CORPUS, free_port, ingest_into, open_kb, run_kb
from mailfixtures import smtp_toml, start_smtp

SENSITIVE_TITLE = "County lines exploitation: restricted partnership briefing"
SCRIPT_TITLE = "<script>alert('x')</script> Substance misuse bulletin"

DOCS = {
    "bulletin.md": (
        SCRIPT_TITLE,
        "official",
        [
            "Alcohol and substance misuse are linked with violent offending by young adults in the region.",
            "Drug misuse among young adults rose sharply after the pandemic, according to treatment services.",
            "Substance misuse services that reach young adults early reduce the harm drugs do.",
        ],
    ),
    "substance-study.md": (
        "Drug treatment and violence among young adults",
        "official",
        [
            "Substance misuse treatment for young adults was followed by fewer violent offences in a year.",
            "Young adults in drug treatment had lower rates of violent offending than those waiting for it.",
        ],
    ),
    "family.md": (
        "Family conflict, domestic abuse and later violence",
        "official",
        [
            "Parental conflict and domestic abuse at home increase the risk of later violence by children.",
            "Children who witness domestic abuse are more likely to be involved in violence as teenagers.",
        ],
    ),
    "briefing.md": (
        SENSITIVE_TITLE,
        "official-sensitive",
        [
            "Criminal exploitation through county lines drug supply is associated with increased risk of violence.",
            "County lines networks exploit children from Leeds and Bradford to move drugs across the county.",
        ],
    ),
}


# The study's authors, as a reader records them: the email names them as a text citation does.
AUTHORS = {"substance-study.md": ["Priya Shah", "Tom Okafor"]}


def _write_doc(folder: Path, name: str, title: str, sensitivity: str, sentences: list[str]) -> Path:
    path = folder / name
    front = json.dumps(title)  # JSON strings are valid YAML scalars, so quotes and brackets survive
    authors = f"authors: {json.dumps(AUTHORS[name])}\n" if name in AUTHORS else ""
    path.write_text(
        f"---\ntitle: {front}\n{authors}year: 2026\nsensitivity: {sensitivity}\n---\n\n"
        + " ".join(sentences)
        + "\n"
    )
    return path


def write_config(data: Path, smtp_port: int) -> None:
    (data / "kb.toml").write_text(
        smtp_toml(smtp_port)
        + """
[[lists]]
name = "partners"
audience = "external"
recipients = ["a@partner.example", "b@partner.example"]

[[lists]]
name = "hub"
audience = "internal"
recipients = ["analyst@vru.example"]
""",
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def digest_data(tmp_path_factory) -> Path:
    """Four small documents and one toolkit entry, ingested once; tests work on copies."""
    root = tmp_path_factory.mktemp("digest")
    docs = root / "docs"
    docs.mkdir()
    for name, (title, sensitivity, sentences) in DOCS.items():
        _write_doc(docs, name, title, sensitivity, sentences)
    shutil.copy(CORPUS / "toolkit" / "ae-navigators.toolkit.yaml", docs)
    return ingest_into(root / "kb", docs)


@pytest.fixture
def data(digest_data, tmp_path) -> Path:
    dst = tmp_path / "kb"
    shutil.copytree(digest_data, dst)
    return dst


def _parts(msg) -> tuple[str, str]:
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def _sent_items(data: Path) -> int:
    kb = open_kb(data)
    try:
        return kb.catalogue.query("SELECT COUNT(*) FROM digest_items")[0][0]
    finally:
        kb.close()


def test_preview_groups_each_item_once_under_priority_then_factor(data):
    write_config(data, free_port())
    out = run_kb(data, "digest", "preview", "--list", "hub", "--json", check=True)
    d = json.loads(out.stdout)
    placed = [(s["priority"], g["factor"], i["title"]) for s in d["sections"] for g in s["groups"] for i in g["items"]]
    titles = [t for _, _, t in placed]
    assert sorted(titles) == sorted(t for t, _, _ in DOCS.values()), "every new item once, toolkit apart"
    where = {t: (p, f) for p, f, t in placed}
    assert where[SCRIPT_TITLE] == (1, "substance-misuse")
    assert where["Drug treatment and violence among young adults"] == (1, "substance-misuse")
    assert [s["priority"] for s in d["sections"]] == sorted(s["priority"] for s in d["sections"])
    for s in d["sections"]:
        for g in s["groups"]:
            for item in g["items"]:
                assert item["key_sentence"] and item["citation"] and item["link"] and item["date"]
                # Filed under its strongest priority: the one most of its passages are tagged with.
                assert int(item["priorities"][0].split(":")[0]) == s["priority"]
                # Extractive: the key sentence is one of the document's own sentences, word for word.
                own = next(v[2] for v in DOCS.values() if v[0] == item["title"])
                assert item["key_sentence"] in own
    assert [(t["approach"], t["change"], t["band"]) for t in d["toolkit"]] == [("A&E navigators", "new", "HIGH")]

    external = json.loads(run_kb(data, "digest", "preview", "--list", "partners", "--json", check=True).stdout)
    ext_titles = [i["title"] for s in external["sections"] for g in s["groups"] for i in g["items"]]
    assert SENSITIVE_TITLE not in ext_titles and len(ext_titles) == 3

    html = run_kb(data, "digest", "preview", "--list", "hub", "--html", check=True).stdout
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_group_cap_says_and_n_more(data):
    from kb.digest import Composer

    kb = open_kb(data)
    try:
        capped = Composer(kb, group_cap=1).compose(None)
        full = Composer(kb).compose(None)
    finally:
        kb.close()
    size = {g.factor: len(g.items) for s in full.sections for g in s.groups}
    group = next(g for s in capped.sections for g in s.groups if g.factor == "substance-misuse")
    assert size["substance-misuse"] >= 2
    assert len(group.items) == 1 and group.more == size["substance-misuse"] - 1
    assert len(capped.doc_ids) == 5, "capped items still count as covered"


def test_send_email_parts_headers_sensitivity_and_once_per_week(data):
    port = free_port()
    write_config(data, port)
    run_kb(data, "alert", "add", "drugs", "substance misuse treatment for young adults", check=True)
    ctl, sink = start_smtp(port)
    try:
        out = run_kb(data, "digest", "send", "--json", check=True)
        outcomes = {o["list_name"]: o for o in json.loads(out.stdout)["lists"]}
        assert outcomes["partners"]["status"] == "sent" and outcomes["hub"]["status"] == "sent"
        assert len(sink.messages) == 3

        by_rcpt = {m["To"]: m for m in sink.messages}
        tokens = set()
        for rcpt in ("a@partner.example", "b@partner.example", "analyst@vru.example"):
            msg = by_rcpt[rcpt]
            text, html = _parts(msg)
            assert msg.is_multipart() and msg.get_content_type() == "multipart/alternative"
            unsub = msg["List-Unsubscribe"]
            assert re.search(r"<mailto:hub@example\.org\?subject=[^>]+>", unsub)
            # The header's web URL is the one-click server `kb app` runs (behind the proxy: public URL + path).
            one_click = re.search(r"<(https://hub\.example\.org/unsubscribe\?[^>]+)>", unsub).group(1)
            assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            list_name = "hub" if rcpt == "analyst@vru.example" else "partners"
            token = re.fullmatch(rf"https://hub\.example\.org/unsubscribe\?list={list_name}&token=([\w-]+)", one_click)
            tokens.add(token.group(1))
            # The link in the email body keeps the app's confirm page.
            link = f"https://hub.example.org/?unsubscribe={token.group(1)}&list={list_name}"
            assert link.replace("&", "&amp;") in html and link in text
            assert "Priority 1: Individual" in text and "Priority 1: Individual" in html
            assert "A&amp;E navigators" in html and "Toolkit changes" in text
            assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html and "<script>" not in html
            assert text.count("* Drug treatment and violence among young adults\n") == 1, "each item once"
            assert "\n    Shah and Okafor · research · " in text and "Shah and Okafor · research · " in html, "authors"
            assert "New matches for your alerts" in text and "drugs" in text
        assert len(tokens) == 3, "each recipient has their own unsubscribe token"

        for rcpt in ("a@partner.example", "b@partner.example"):
            text, html = _parts(by_rcpt[rcpt])
            assert SENSITIVE_TITLE not in text and SENSITIVE_TITLE not in html
            assert "OFFICIAL-SENSITIVE" not in text
        internal_text, _ = _parts(by_rcpt["analyst@vru.example"])
        assert SENSITIVE_TITLE in internal_text and "[OFFICIAL-SENSITIVE]" in internal_text

        again = run_kb(data, "digest", "send", "--json", check=True)
        assert {o["status"] for o in json.loads(again.stdout)["lists"]} == {"skipped"}
        assert len(sink.messages) == 3, "a second run in the same week sends nothing"
    finally:
        ctl.stop()


def test_failed_send_is_not_recorded_and_is_retried_once(data):
    port = free_port()
    write_config(data, port)
    down = run_kb(data, "digest", "send", "--list", "partners", "--json")
    assert down.returncode == 1
    outcome = json.loads(down.stdout)["lists"][0]
    assert outcome["status"] == "failed" and "cannot send through SMTP" in outcome["reason"]
    assert _sent_items(data) == 0, "nothing is marked sent when the server did not accept it"

    ctl, sink = start_smtp(port)
    try:
        up = run_kb(data, "digest", "send", "--list", "partners", "--json", check=True)
        assert json.loads(up.stdout)["lists"][0]["status"] == "sent"
        assert sorted(m["To"] for m in sink.messages) == ["a@partner.example", "b@partner.example"]
        assert _sent_items(data) == 4, "three documents and the toolkit entry"
        run_kb(data, "digest", "send", "--list", "partners", check=True)
        assert len(sink.messages) == 2, "delivered once"
    finally:
        ctl.stop()


def test_a_retry_re_reads_every_item_reclassified_or_removed_ones_never_go(data):
    # The first try fails (no SMTP server); before the retry one item is reclassified official-sensitive and
    # another removed. The retry is the same period's digest, but each item is read again at send time.
    from kbfixtures import kb_env

    from kb.config import load_settings
    from kb.dispatch import Dispatcher

    port = free_port()
    write_config(data, port)
    settings = load_settings(data, env=kb_env(data))
    partners = settings.mailing_list("partners")
    now = datetime.now(UTC)
    reclassified, removed = (
        "Drug treatment and violence among young adults",
        "Family conflict, domestic abuse and later violence",
    )
    kb = open_kb(data)
    try:
        first = Dispatcher(kb, settings).send_list(partners, now)
        assert first.status == "failed" and first.n_items == 4
        stored = kb.catalogue.query("SELECT payload FROM digest_sends WHERE list_name = 'partners'")[0][0]
        assert reclassified in stored and removed in stored, "the first try composed both"
        ids = {d.title: d.doc_id for d in kb.catalogue.documents()}
        with kb.catalogue.transaction() as c:
            c.execute("UPDATE documents SET sensitivity = 'official-sensitive' WHERE doc_id = ?", (ids[reclassified],))
        kb.remove(ids[removed])

        ctl, sink = start_smtp(port)
        try:
            retry = Dispatcher(kb, settings).send_list(partners, now)
        finally:
            ctl.stop()
        assert retry.status == "sent" and retry.n_items == 2, retry
        assert sorted(m["To"] for m in sink.messages) == ["a@partner.example", "b@partner.example"]
        for msg in sink.messages:
            text, html = _parts(msg)
            for title in (reclassified, removed):
                assert title not in text and title not in html
            assert "Substance misuse bulletin" in text, "the items that still fit are sent"
        sent = {r[0] for r in kb.catalogue.query("SELECT doc_id FROM digest_items WHERE list_name = 'partners'")}
        assert ids[reclassified] not in sent and ids[removed] not in sent, "what was dropped is not marked sent"
        # Past digests show what went out, even to an insider who may read the reclassified item.
        from kb.scanning import past_digest_html, past_digests
        from kb.visibility import OPERATOR

        (past,) = past_digests(kb, settings, OPERATOR)
        assert past.n_items == 2 and "2 new items" in past.subject, past
        archived = past_digest_html(kb, settings, past.send_id, OPERATOR)
        assert reclassified not in archived and removed not in archived and "Substance misuse bulletin" in archived
    finally:
        kb.close()


@contextmanager
def sending(data: Path):
    """A running SMTP sink, the knowledge base and its settings, for sends driven from the test itself."""
    from kbfixtures import kb_env

    from kb.config import load_settings

    port = free_port()
    write_config(data, port)
    settings = load_settings(data, env=kb_env(data))
    ctl, sink = start_smtp(port)
    kb = open_kb(data)
    try:
        yield kb, settings, sink
    finally:
        kb.close()
        ctl.stop()


def test_next_week_only_new_items_toolkit_band_change_and_unsubscribe(data, tmp_path):
    from ingest.pipeline import Ingestor
    from kb.dispatch import Dispatcher
    from kb.subscribers import unsubscribe

    now = datetime.now(UTC)
    with sending(data) as (kb, settings, sink):
        partners = settings.mailing_list("partners")
        assert Dispatcher(kb, settings).send_list(partners, now).status == "sent"
        token = re.search(r"[?&]token=([\w-]+)", sink.messages[0]["List-Unsubscribe"]).group(1)
        first_to = sink.messages[0]["To"]
        assert unsubscribe(kb, "partners", token) == first_to

        nothing = Dispatcher(kb, settings).send_list(partners, now + timedelta(days=7))
        assert (nothing.status, nothing.reason) == ("skipped", "nothing new")
        assert len(sink.messages) == 2, "no email on an empty week"

        entry = (CORPUS / "toolkit" / "ae-navigators.toolkit.yaml").read_text(encoding="utf-8")
        changed = tmp_path / "ae-navigators.toolkit.yaml"
        changed.write_text(entry.replace("impact_band: HIGH", "impact_band: MODERATE"), encoding="utf-8")
        news = _write_doc(
            tmp_path,
            "new.md",
            "Poverty, deprivation and violence in neighbourhoods",
            "official",
            [
                "Poverty and deprivation in neighbourhoods shape the risk of violence for young people.",
            ],
        )
        assert not Ingestor(kb).run([changed, news]).failed
        out = Dispatcher(kb, settings).send_list(partners, now + timedelta(days=14))
        assert out.status == "sent" and out.n_items == 1
        assert len(sink.messages) == 3, "the unsubscribed recipient gets nothing"
        text, _ = _parts(sink.messages[-1])
        assert sink.messages[-1]["To"] != first_to
        assert "Poverty, deprivation and violence in neighbourhoods" in text
        assert "Drug treatment and violence" not in text, "an item is never sent twice to a list"
        assert "impact band changed from HIGH to MODERATE" in text


def test_cli_unsubscribe_by_address_and_alert_commands(data):
    write_config(data, free_port())
    assert (
        "unsubscribed b@partner.example"
        in run_kb(data, "digest", "unsubscribe", "B@Partner.example", "--list", "partners", check=True).stdout
    )
    bad = run_kb(data, "digest", "unsubscribe", "not-a-token", "--list", "partners")
    assert bad.returncode == 2 and "no subscriber" in bad.stderr
    run_kb(data, "alert", "add", "exploitation", "county lines", "--factor", "county-lines", check=True)
    listed = json.loads(run_kb(data, "alert", "list", "--json", check=True).stdout)
    assert listed[0]["name"] == "exploitation" and listed[0]["filters"]["factors"] == ["county-lines"]
    run_kb(data, "alert", "remove", "exploitation", check=True)
    assert json.loads(run_kb(data, "alert", "list", "--json", check=True).stdout) == []


def test_document_first_seen_in_the_second_of_the_last_send_is_still_sent(data, tmp_path):
    # Regression: timestamps have one-second resolution and "new" was first_seen > last send, so a
    # document ingested in the same second as a send was never mailed.
    from ingest.pipeline import Ingestor
    from kb.digest import last_sent_at
    from kb.dispatch import Dispatcher
    from kb.first_seen import note_documents

    now = datetime.now(UTC)
    with sending(data) as (kb, settings, sink):
        partners = settings.mailing_list("partners")
        assert Dispatcher(kb, settings).send_list(partners, now).status == "sent"
        sent_at = last_sent_at(kb, "partners")
        late = _write_doc(
            tmp_path,
            "late.md",
            "Knife carrying in the night-time economy",
            "official",
            ["Weapon carrying rises in the night-time economy at weekends."],
        )
        report = Ingestor(kb).run([late])
        doc_id = report.files[0].doc_ids[0]
        note_documents(kb.catalogue)
        with kb.catalogue.transaction() as c:
            moved = c.execute("UPDATE doc_first_seen SET first_seen = ? WHERE doc_id = ?", (sent_at, doc_id))
            assert moved.rowcount == 1
        out = Dispatcher(kb, settings).send_list(partners, now + timedelta(days=7))
        assert out.status == "sent" and out.n_items == 1
        assert "Knife carrying in the night-time economy" in _parts(sink.messages[-1])[0]


def test_smtp_password_never_in_kb_toml_reprs_or_logs(tmp_path):
    from kb.config import ConfigError, Secret, load_settings

    data = tmp_path / "kb"
    data.mkdir()
    (data / "kb.toml").write_text('[smtp]\nuser = "hub"\npassword = "hunter2"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"smtp\.password holds a secret.*KB_SMTP_PASSWORD.*chmod 600"):
        load_settings(data, env={})
    out = run_kb(data, "digest", "preview")
    assert out.returncode == 2 and "holds a secret" in out.stderr and "hunter2" not in out.stderr + out.stdout

    secret_file = tmp_path / "smtp-password"
    secret_file.write_text("s3cret-from-file\n", encoding="utf-8")
    secret_file.chmod(0o644)
    (data / "kb.toml").write_text(f'[smtp]\nuser = "hub"\npassword_file = "{secret_file}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="chmod 600"):
        load_settings(data, env={})
    secret_file.chmod(0o600)
    settings = load_settings(data, env={})
    assert settings.smtp.password == Secret("s3cret-from-file")
    assert settings.smtp.password.reveal() == "s3cret-from-file"
    from_env = load_settings(data, env={"KB_SMTP_PASSWORD": "env-secret"})
    assert from_env.smtp.password.reveal() == "env-secret", "the environment overrides the file"
    for shown in (repr(settings), str(settings.smtp), json.dumps({"s": settings.smtp.password}, default=str)):
        assert "s3cret" not in shown


@pytest.mark.shared_data
def test_a_scanned_document_read_by_ocr_is_in_the_next_digest(data, shared_data):
    # Regression: the digest and its send-time re-check took only documents of status "ok", so a scan a partner
    # dropped in a scanning folder (status "ocr": its text read from page images) was searchable but never mailed.
    from ingest.pipeline import Ingestor
    from ingest.sources import ocr
    from kb.dispatch import Dispatcher

    if ocr.unavailable():
        pytest.skip(ocr.unavailable())
    now = datetime.now(UTC)
    with sending(data) as (kb, settings, sink):
        partners = settings.mailing_list("partners")
        assert Dispatcher(kb, settings).send_list(partners, now).status == "sent"
        report = Ingestor(kb).run([shared_data / "scans" / "c02-22.pdf"])  # a real book page, image only
        [doc_id] = report.files[0].doc_ids
        assert kb.catalogue.get_document(doc_id).status == "ocr"
        out = Dispatcher(kb, settings).send_list(partners, now + timedelta(days=7))
        assert out.status == "sent" and out.n_items == 1
        sent = {r[0] for r in kb.catalogue.query("SELECT doc_id FROM digest_items WHERE list_name = 'partners'")}
        assert doc_id in sent
