"""Real files through the whole pipeline: page citations, hard PDFs and BibTeX, token limits, the corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from kbfixtures import open_kb, run_kb
from pdfmaker import make_pdf

from ingest.chunk import Chunker
from kb.models import Block
from kb.search import Filters, Searcher

PAGES = [
    ["Contents", "Introduction 1", "Findings 2"],
    ["Introduction", "This evaluation looked at youth work in Kirklees over two years."],
    [
        "Findings",
        "Detached youth workers met young people in parks and on estates at night.",
        "Referrals to the boxing club rose sharply after the summer programme ended.",
    ],
    ["Conclusions", "Commissioners should fund the programme for another three years."],
]


def test_phrase_on_printed_page_n_is_cited_as_page_n(tmp_path):
    # Physical page 3 is printed as page 2 (a roman-numbered contents page comes first).
    pdf = make_pdf(
        tmp_path / "evaluation.pdf",
        PAGES,
        labels=[(0, 0, "/r", 1), (1, 3, "/D", 1)],
        metadata={"/Title": "Detached Youth Work Evaluation"},
    )
    data = tmp_path / "kb"
    run_kb(data, "ingest", str(pdf), "--type", "evaluation", check=True)
    out = json.loads(run_kb(data, "search", "boxing club referrals", "-k", "3", "--json", check=True).stdout)
    best = out["results"][0]["passages"][0]
    assert "boxing club" in best["text"]
    assert best["page_start"] == "2" and best["page_index"] == 3
    assert "p. 2" in best["citation"] and best["citation"].startswith("Detached Youth Work Evaluation")
    assert best["doc_type"] == "evaluation"


@pytest.mark.shared_data
def test_hard_files_get_their_status_and_good_files_are_all_kept(tmp_path, shared_data):
    docs = tmp_path / "mixed"
    shutil.copytree(shared_data / "pdfs", docs / "pdfs")
    shutil.copytree(shared_data / "bibtex", docs / "bibtex")
    good = docs / "good" / "note.md"
    good.parent.mkdir()
    good.write_text("# Good note\n\nMentoring by a trusted adult protects young people from violence.\n")
    data = tmp_path / "kb"
    proc = run_kb(data, "ingest", str(docs), "--json")
    assert proc.returncode == 1, proc.stderr
    files = {Path(f["path"]).name: f for f in json.loads(proc.stdout)["files"]}
    assert files["libreoffice-writer-password.pdf"]["status"] == "failed"
    assert files["libreoffice-writer-password.pdf"]["reason"].startswith("encrypted: password required; ")
    assert files["imagemagick-CCITTFaxDecode.pdf"]["status"] == "no_text"
    assert files["unreadablemetadata.pdf"]["status"] == "failed"
    assert "corrupt" in files["unreadablemetadata.pdf"]["reason"]
    for name in ("minimal-document.pdf", "multicolumn.pdf", "note.md"):
        assert files[name]["status"] == "ok" and files[name]["passages"] > 0, files[name]
    bib = {n: f for n, f in files.items() if n.endswith(".bib")}
    assert bib and all(f["status"] == "ok" for f in bib.values()), bib
    assert any("crossref" in p for f in bib.values() for p in f["problems"]) or any(
        f["documents"] > 1 for f in bib.values()
    )

    listing = json.loads(run_kb(data, "docs", "--json", check=True).stdout)
    statuses = {d["status"] for d in listing["documents"]}
    assert "no_text" in statuses
    failed = {Path(f["path"]).name: f["reason"] for f in listing["failed_files"]}
    assert set(failed) == {"libreoffice-writer-password.pdf", "unreadablemetadata.pdf"}
    stats = json.loads(run_kb(data, "stats", "--json", check=True).stdout)
    expected = sum(f["documents"] for f in files.values() if f["status"] in ("ok", "no_text"))
    assert stats["documents"] == expected
    # Every good file's passages are searchable.
    hit = json.loads(run_kb(data, "search", "trusted adult mentoring", "-k", "3", "--json", check=True).stdout)
    assert any("trusted adult" in p["text"] for r in hit["results"] for p in r["passages"])


def test_no_chunk_exceeds_the_model_window(corpus_data_dir):
    kb = open_kb(corpus_data_dir)
    e = kb.embedder
    rows = kb.catalogue.query("SELECT text, n_tokens FROM chunks")
    assert rows
    counted = e.count_tokens([r["text"] for r in rows])
    assert counted == [r["n_tokens"] for r in rows]
    assert max(counted) <= e.max_content_tokens == e.max_seq_length - 2
    kb.close()


def test_chunker_cuts_run_on_text_within_the_window(tmp_path):
    kb = open_kb(tmp_path / "kb")
    e = kb.embedder
    chunker = Chunker(e.count_tokens, e.token_offsets, target=200, overlap=32, hard_max=e.max_content_tokens)
    # One 1,500-word "sentence" (a table dump with no full stops) and a normal paragraph.
    run_on = " ".join(f"district{i % 5} rate{i} 0.{i:03d}" for i in range(500))
    blocks = [
        Block(run_on, ["Tables"], "7", 9),
        Block("A short sentence. Another one follows it.", ["Summary"], "8", 10),
    ]
    chunks = chunker.chunk("doc", blocks)
    assert max(c.n_tokens for c in chunks) <= 200
    assert {tuple(c.section) for c in chunks} == {("Tables",), ("Summary",)}
    assert chunks[-1].page_start == "8" and chunks[-1].page_index == 10
    assert [c.chunk_id for c in chunks] == [f"doc:{i:05d}" for i in range(len(chunks))]
    # Every word of the run-on text survives the cut, in order.
    joined = " ".join(c.text for c in chunks if c.section == ["Tables"])
    assert joined.split()[:3] == run_on.split()[:3] and joined.split()[-1] == run_on.split()[-1]
    kb.close()


def test_corpus_has_passages_under_every_priority(corpus_data_dir):
    stats = json.loads(run_kb(corpus_data_dir, "stats", "--json", check=True).stdout)
    assert set(stats["passages_by_priority"]) == {"1", "2", "3", "4", "5", "6"}
    assert all(n > 0 for n in stats["passages_by_priority"].values())
    assert stats["documents_by_type"]["strategy"] == 1
    assert stats["documents_by_type"]["toolkit"] == stats["toolkit_entries"] > 20
    assert stats["documents_by_type"]["reference"] > 10


def test_strategy_passages_cite_section_and_page(corpus_data_dir):
    kb = open_kb(corpus_data_dir)
    res = Searcher(kb).search(
        "care experienced young people over-represented in the criminal justice system",
        k=3,
        filters=Filters(doc_types=["strategy"]),
    )
    hit = res.hits[0]
    assert "Children in Care" in hit.chunk.section
    assert hit.chunk.page_start == "15"
    assert hit.citation.startswith("Serious Violence: West Yorkshire Strategy for Change (2022), p. 15, §")
    kb.close()
