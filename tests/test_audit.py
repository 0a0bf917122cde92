"""The audit trail: views and mailings of an official-sensitive document, listed by `kb audit [--since] [--json]`."""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime

import pytest
from kbfixtures import free_port, ingest_into, kb_env, open_kb, run_kb
from mailfixtures import start_smtp
from streamlit.testing.v1 import AppTest

from kb.audit import entries, record
from kb.models import Document

HOME = os.path.join(os.path.dirname(__file__), "..", "app", "Home.py")
SECRET = "Gang mapping for Bradford: restricted"


@pytest.fixture
def data(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "secret.md").write_text(
        f"---\ntitle: {json.dumps(SECRET)}\nyear: 2026\nsensitivity: official-sensitive\n---\n\n"
        "Street gangs in Bradford recruit teenagers excluded from school into drug dealing.\n",
        encoding="utf-8",
    )
    (docs / "open.md").write_text(
        "---\ntitle: Open bulletin on youth clubs\nyear: 2026\n---\n\nYouth clubs in Bradford opened late.\n",
        encoding="utf-8",
    )
    return ingest_into(tmp_path / "kb", docs)


def test_record_keeps_only_what_is_not_plain_official(data):
    kb = open_kb(data)
    try:
        docs = kb.catalogue.documents()
        odd = Document("x1", "Typo marking", "research", "x", sensitivity="officiall-sensitive")
        assert record(kb.catalogue, "ana", "export", [*docs, *docs, odd], "CSV") == 2, "each once; unknown counts"
        with pytest.raises(ValueError, match="audit action"):
            record(kb.catalogue, "ana", "print", docs, "x")
    finally:
        kb.close()


def test_views_and_mailings_are_listed_by_kb_audit(data, monkeypatch):
    port = free_port()
    (data / "kb.toml").write_text(
        f"[app]\nsingle_user = true\n\n[smtp]\nport = {port}\ntimeout = 5\n\n"
        '[[lists]]\nname = "hub"\naudience = "internal"\nrecipients = ["analyst@vru.example"]\n\n'
        '[[lists]]\nname = "partners"\naudience = "external"\nrecipients = ["pat@partner.example"]\n',
        encoding="utf-8",
    )
    kb = open_kb(data)
    secret_id = next(d.doc_id for d in kb.catalogue.documents() if d.title == SECRET)
    kb.close()
    started = datetime.now(UTC).replace(microsecond=0).isoformat()

    # A view in the terminal ...
    assert SECRET in run_kb(data, "search", "gangs Bradford drug dealing", check=True).stdout
    # ... a view in the app (a single-user desktop sees everything, and is still recorded) ...
    for k in [k for k in os.environ if k.startswith("KB_")]:
        monkeypatch.delenv(k)
    for k, v in kb_env(data).items():
        monkeypatch.setenv(k, v)
    at = AppTest.from_file(HOME, default_timeout=120)
    at.query_params["doc"] = secret_id
    at.run()
    assert not at.exception and SECRET in at.title[0].value
    # ... and a mailing to the internal list; the external one never carries it, so records nothing.
    ctl, sink = start_smtp(port)
    try:
        out = json.loads(run_kb(data, "digest", "send", "--json", check=True).stdout)
    finally:
        ctl.stop()
    assert {o["list_name"]: o["status"] for o in out["lists"]} == {"hub": "sent", "partners": "sent"}
    assert sorted(sink.rcpts) == ["analyst@vru.example", "pat@partner.example"]

    listed = json.loads(run_kb(data, "audit", "--json", check=True).stdout)
    got = [(e["action"], e["actor"], e["destination"]) for e in listed["entries"]]
    assert all(e["doc_id"] == secret_id and e["title"] == SECRET for e in listed["entries"]), "only the sensitive one"
    assert ("view", f"cli:{getpass.getuser()}", "kb search 'gangs Bradford drug dealing'") in got
    assert ("view", "single-user", "app: document page") in got
    assert ("mail", "list:hub", "analyst@vru.example") in got
    assert not any(a == "mail" and "partner" in d for a, _, d in got)
    assert all(e["at"] >= started for e in listed["entries"])

    assert json.loads(run_kb(data, "audit", "--since", "2999-01-01", "--json", check=True).stdout)["count"] == 0
    table = run_kb(data, "audit", check=True, COLUMNS="250").stdout
    assert SECRET in table and "list:hub" in table
    bad = run_kb(data, "audit", "--since", "last week")
    assert bad.returncode == 2 and "not a date" in bad.stderr
    kb = open_kb(data)
    try:
        assert len(entries(kb.catalogue, started)) == len(listed["entries"])
    finally:
        kb.close()


def test_a_brief_with_sensitive_material_is_in_the_trail_and_one_without_is_not(data, tmp_path):
    out = tmp_path / "brief.md"
    run_kb(data, "brief", "gangs recruiting excluded teenagers in Bradford", "-o", str(out), check=True)
    assert SECRET not in out.read_text(encoding="utf-8")
    assert not [e for e in json.loads(run_kb(data, "audit", "--json", check=True).stdout)["entries"]]

    run_kb(
        data,
        "brief",
        "gangs recruiting excluded teenagers in Bradford",
        "--include-sensitive",
        "-o",
        str(out),
        check=True,
    )
    assert SECRET in out.read_text(encoding="utf-8")
    [entry] = json.loads(run_kb(data, "audit", "--json", check=True).stdout)["entries"]
    assert (entry["action"], entry["title"], entry["destination"]) == ("brief", SECRET, str(out.resolve()))
    assert entry["actor"] == f"cli:{getpass.getuser()}"
