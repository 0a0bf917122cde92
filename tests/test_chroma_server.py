"""Server mode: a real `chroma run` on 127.0.0.1 serves the vectors when KB_CHROMA_URL is set."""

from __future__ import annotations

import json

from kbfixtures import free_port, run_kb
from test_ingest import write_notes


def test_ingest_and_search_through_a_chroma_server(tmp_path, chroma_server):
    docs = tmp_path / "docs"
    write_notes(docs, 3)
    data = tmp_path / "kb"
    run_kb(data, "ingest", str(docs), "--json", check=True, KB_CHROMA_URL=chroma_server)
    assert not (data / "chroma").exists(), "server mode must not write an embedded store"
    out = run_kb(
        data,
        "search",
        "harassment on social media",
        "--mode",
        "dense",
        "--json",
        check=True,
        KB_CHROMA_URL=chroma_server,
    )
    hits = [p for r in json.loads(out.stdout)["results"] for p in r["passages"]]
    assert hits and "social media" in hits[0]["text"]

    import chromadb

    port = int(chroma_server.rsplit(":", 1)[1])
    client = chromadb.HttpClient(host="127.0.0.1", port=port)
    (name,) = [c.name for c in client.list_collections()]
    assert name.startswith("kb-all-MiniLM-L6-v2-d384-")
    stats = json.loads(run_kb(data, "stats", "--json", check=True).stdout)
    assert client.get_collection(name).count() == stats["passages"]


def test_unreachable_server_is_a_clear_error(tmp_path):
    docs = tmp_path / "docs"
    write_notes(docs, 1)
    url = f"http://127.0.0.1:{free_port()}"
    proc = run_kb(tmp_path / "kb", "ingest", str(docs), KB_CHROMA_URL=url)
    assert proc.returncode != 0
    assert "Chroma server" in proc.stderr and url in proc.stderr
