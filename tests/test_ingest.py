"""The ingestion pipeline end to end: statuses, re-ingest, changed files, removal, crash safety."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from kbfixtures import KB_BIN, kb_env, open_kb, run_kb

PARAS = [
    "Alcohol misuse among young people is associated with weapon carrying and violent offending.",
    "Engagement in full time education is a strong protective factor against serious violence.",
    "Care experienced young people are over-represented in the criminal justice system.",
    "Online spaces are new venues for harassment, and social media can provoke hostility.",
    "Deprivation and the cost of living crisis increase vulnerability to exploitation in Bradford.",
    "A trusted adult, such as a mentor or youth worker, can protect young people from harm.",
]


def write_notes(folder: Path, n: int, paras_per_file: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        body = "\n\n".join(
            f"{PARAS[(i + j) % len(PARAS)]} This is note {i}, paragraph {j}." for j in range(paras_per_file)
        )
        p = folder / f"note-{i:03d}.md"
        p.write_text(f"# Research note {i}\n\n## Findings\n\n{body}\n", encoding="utf-8")
        paths.append(p)
    return paths


def catalogue_state(data_dir: Path) -> dict:
    con = sqlite3.connect(data_dir / "catalogue.sqlite3")
    state = {
        "documents": sorted(r[0] for r in con.execute("SELECT doc_id FROM documents")),
        "chunks": sorted(r[0] for r in con.execute("SELECT chunk_id FROM chunks")),
        "texts": sorted(r[0] for r in con.execute("SELECT text_hash FROM chunks")),
        "fts": con.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0],
        "fts_orphans": con.execute(
            "SELECT COUNT(*) FROM chunks_fts WHERE rowid NOT IN (SELECT rowid FROM chunks)"
        ).fetchone()[0],
        "tag_orphans": con.execute(
            "SELECT COUNT(*) FROM chunk_tags WHERE chunk_rowid NOT IN (SELECT rowid FROM chunks)"
        ).fetchone()[0],
        "files": sorted((Path(r[0]).name, r[1]) for r in con.execute("SELECT path, status FROM files")),
        "sources": sorted(
            (Path(r[0]).name, r[1]) for r in con.execute("SELECT source_key, doc_id FROM document_sources")
        ),
    }
    con.close()
    return state


def vector_ids(data_dir: Path) -> list[str]:
    kb = open_kb(data_dir)
    ids = sorted(kb.vectors.all_ids())
    kb.close()
    return ids


def test_ingest_reports_each_file_and_keeps_good_ones(tmp_path):
    docs = tmp_path / "docs"
    write_notes(docs, 2)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    (docs / "empty.bib").write_text("this has no entries at all\n")
    proc = run_kb(tmp_path / "kb", "ingest", str(docs), str(tmp_path / "missing.txt"), "--json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    by_name = {Path(f["path"]).name: f for f in report["files"]}
    assert by_name["note-000.md"]["status"] == "ok" and by_name["note-000.md"]["passages"] >= 1
    assert by_name["note-001.md"]["status"] == "ok"
    assert by_name["broken.pdf"]["status"] == "failed" and by_name["broken.pdf"]["reason"]
    assert by_name["empty.bib"]["status"] == "failed"
    assert by_name["missing.txt"]["status"] == "failed" and "not found" in by_name["missing.txt"]["reason"]
    state = catalogue_state(tmp_path / "kb")
    assert len(state["documents"]) == 2
    assert state["chunks"] == vector_ids(tmp_path / "kb")


def test_reingest_unchanged_embeds_nothing_and_changed_file_leaves_nothing_stale(tmp_path):
    from ingest.pipeline import Ingestor

    docs = tmp_path / "docs"
    paths = write_notes(docs, 3)
    data = tmp_path / "kb"
    kb = open_kb(data)
    first = Ingestor(kb).run([docs])
    assert first.embedded > 0 and not first.failed
    again = Ingestor(kb).run([docs])
    assert again.embedded == 0
    assert {f.status for f in again.files} == {"unchanged"}

    before = catalogue_state(data)
    old_doc = next(f.doc_ids[0] for f in first.files if f.path.endswith("note-000.md"))
    paths[0].write_text("# Research note 0\n\nGambling is related to increased risk of violence.\n")
    changed = Ingestor(kb).run([docs])
    assert [Path(f.path).name for f in changed.files if f.status == "ok"] == ["note-000.md"]
    after = catalogue_state(data)
    assert old_doc in before["documents"] and old_doc not in after["documents"]
    assert not any(c.startswith(old_doc) for c in after["chunks"])
    assert after["chunks"] == sorted(kb.vectors.all_ids())
    assert after["fts_orphans"] == 0 and after["tag_orphans"] == 0
    hits = kb.catalogue.query("SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH 'gambling'")[0][0]
    assert hits == 1
    kb.close()


def test_remove_leaves_nothing_in_either_store(tmp_path):
    from ingest.pipeline import Ingestor

    docs = tmp_path / "docs"
    write_notes(docs, 2)
    data = tmp_path / "kb"
    kb = open_kb(data)
    report = Ingestor(kb).run([docs])
    doc_id = report.files[0].doc_ids[0]
    kb.close()
    proc = run_kb(data, "remove", doc_id, check=True)
    assert "removed" in proc.stdout
    state = catalogue_state(data)
    assert doc_id not in state["documents"]
    assert not any(c.startswith(doc_id) for c in state["chunks"])
    assert not any(i.startswith(doc_id) for i in vector_ids(data))
    assert state["fts"] == len(state["chunks"]) and state["tag_orphans"] == 0
    assert run_kb(data, "remove", doc_id).returncode == 2
    # The file that gave it is forgotten, so ingesting the folder again brings it back.
    kb = open_kb(data)
    back = Ingestor(kb).run([docs])
    assert doc_id in [d for f in back.files for d in f.doc_ids if f.status == "ok"]
    kb.close()


def add_references(folder: Path, paths: list[Path]) -> None:
    """Give some notes a DOI and list them in two .bib files, one read before the notes and one after."""
    entries = {"a-early.bib": [], "refs.bib": []}
    for n, i in enumerate((2, 5, 8, 11)):
        doi = f"10.5555/vru.note.{i}"
        paths[i].write_text(f"---\ndoi: {doi}\n---\n" + paths[i].read_text(encoding="utf-8"), encoding="utf-8")
        entries["a-early.bib" if n < 2 else "refs.bib"].append(
            f"@article{{note{i}, title = {{Research note {i}: findings}}, author = {{Okafor, Ada}}, "
            f"year = {{2024}}, doi = {{{doi}}}, abstract = {{What note {i} found about violence.}}}}\n"
        )
    for name, lines in entries.items():
        (folder / name).write_text("".join(lines), encoding="utf-8")


@pytest.mark.slow
def test_killed_ingest_rerun_equals_one_clean_run(tmp_path):
    docs = tmp_path / "docs"
    add_references(docs, write_notes(docs, 24, paras_per_file=4))
    clean = tmp_path / "clean"
    report = json.loads(run_kb(clean, "ingest", str(docs), "--json", check=True).stdout)
    assert report["summary"]["duplicates_merged"] == 4
    expected = catalogue_state(clean)
    expected_vectors = vector_ids(clean)
    assert expected["chunks"] == expected_vectors
    assert len(expected["sources"]) == len(expected["documents"]) + 4, "merged documents are present"

    data = tmp_path / "killed"
    # Kill at several depths: while embedding the first files, and later with some files committed.
    for wait_files in (0, 3, 9):
        proc = subprocess.Popen(
            [str(KB_BIN), "ingest", str(docs), "--json"],
            env=kb_env(data),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            db = data / "catalogue.sqlite3"
            if db.exists():
                try:
                    con = sqlite3.connect(db, timeout=1)
                    n = con.execute("SELECT COUNT(*) FROM files").fetchone()[0]
                    cached = con.execute("SELECT COUNT(*) FROM embed_cache").fetchone()[0]
                    con.close()
                except sqlite3.OperationalError:
                    n = cached = 0
                if (wait_files == 0 and cached > 0) or (wait_files and n >= wait_files):
                    break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run_kb(data, "ingest", str(docs), "--json", check=True)
    got = catalogue_state(data)
    assert got == expected
    assert vector_ids(data) == expected_vectors


def test_stats_and_docs_json(tmp_path):
    docs = tmp_path / "docs"
    write_notes(docs, 1)
    data = tmp_path / "kb"
    run_kb(data, "ingest", str(docs), check=True)
    stats = json.loads(run_kb(data, "stats", "--json", check=True).stdout)
    assert stats["documents"] == 1 and stats["passages"] >= 1
    listing = json.loads(run_kb(data, "docs", "--json", check=True).stdout)
    assert listing["documents"][0]["title"] == "Research note 0"


def test_kbignore_skips_listed_files_in_folders_only(tmp_path):
    from ingest.pipeline import expand_paths

    docs = tmp_path / "docs"
    write_notes(docs, 2)
    (docs / "README.md").write_text("# About this folder\n")
    (docs / "sub").mkdir()
    (docs / "sub" / "draft-1.md").write_text("# Draft\n")
    (docs / ".kbignore").write_text("# not evidence\nREADME.md\nsub/draft-*\n")
    names = [p.name for p, _ in expand_paths([docs])]
    assert names == ["note-000.md", "note-001.md"]
    # A file named explicitly is ingested even when a .kbignore lists it.
    assert [p.name for p, _ in expand_paths([docs / "README.md"])] == ["README.md"]
