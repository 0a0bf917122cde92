"""Re-ingesting a folder takes out what its deleted files gave (as `kb remove PATH` does), and says so; a folder
that is missing, unreadable or suddenly empty (a detached drive) prunes nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from kbfixtures import KB_BIN, OKELY_PDF, kb_env, open_kb, run_kb

SCOPUS_TITLE = "Exercise influence on the microbiome–gut–brain axis"
EMBASE_TITLE = "Congenital Neck Masses"
# Without the capabilities that let root read any folder, a folder with mode 000 cannot be listed, as for any user.
NO_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def _can_drop_capabilities() -> bool:
    if shutil.which("setpriv") is None:
        return False
    return subprocess.run([*NO_OVERRIDE, "true"], capture_output=True).returncode == 0


def _ingest(data: Path, folder: Path, *prefix: str) -> tuple[int, dict]:
    proc = subprocess.run(
        [*prefix, str(KB_BIN), "ingest", str(folder), "--json"],
        env=kb_env(data),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _titles(data: Path) -> dict[str, dict]:
    return {d["title"]: d for d in json.loads(run_kb(data, "docs", "--json", check=True).stdout)["documents"]}


def _bm25_hits(data: Path, query: str) -> set[str]:
    out = json.loads(run_kb(data, "search", query, "--mode", "bm25", "--json", check=True).stdout)
    return {r["doc_id"] for r in out["results"]}


@pytest.mark.shared_data
def test_a_deleted_file_is_pruned_and_a_missing_or_empty_folder_prunes_nothing(okely_kb, tmp_path, shared_data):
    data = tmp_path / "kb"
    shutil.copytree(okely_kb, data)  # the Okely article, ingested from ../shared/data
    folder = tmp_path / "inbox"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(shared_data / OKELY_PDF, folder / "okely-copy.pdf")  # the same work from a second file
    shutil.copy(shared_data / "ris" / "scopus.ris", folder / "scopus.ris")
    shutil.copy(shared_data / "ris" / "embase.ris", folder / "sub" / "embase.ris")
    code, first = _ingest(data, folder)
    assert code == 0 and first["removed"] == [] and first["summary"]["removed"] == 0
    before = _titles(data)
    okely = next(d for d in before.values() if d["n_chunks"] > 20)
    assert len(okely["sources"]) == 2 and SCOPUS_TITLE in before and EMBASE_TITLE in before
    scopus_ids = {d["doc_id"] for d in before.values() if any("scopus.ris" in s["source"] for s in d["sources"])}
    assert len(scopus_ids) == 6 and _bm25_hits(data, "microbiome gut brain exercise") & scopus_ids

    # Regression: a file deleted from the folder stayed searchable after the folder was ingested again.
    (folder / "scopus.ris").unlink()
    (folder / "okely-copy.pdf").unlink()
    table = run_kb(data, "ingest", str(folder), check=True, COLUMNS="400").stdout
    assert "2 removed:" in table
    assert "okely-copy.pdf (file no longer in the folder)" in table
    assert "scopus.ris (file no longer in the folder)" in table
    after = _titles(data)
    assert set(before) - set(after) == {t for t, d in before.items() if d["doc_id"] in scopus_ids}
    assert not _bm25_hits(data, "microbiome gut brain exercise") & scopus_ids
    # What the other file gave the same work stays: every passage, from the one source left.
    kept = after[okely["title"]]
    assert kept["n_chunks"] == okely["n_chunks"] and [s["source"] for s in kept["sources"]] == [
        str((shared_data / OKELY_PDF).resolve())
    ]
    kb = open_kb(data)
    consistency = kb.check_consistency()
    manifest = {Path(f.path).name for f in kb.catalogue.files()}
    kb.close()
    assert consistency["orphan_vectors"] == [] and consistency["missing_vectors"] == []
    assert "scopus.ris" not in manifest and "okely-copy.pdf" not in manifest

    # A file renamed in the folder: its new name joins the work, the old one is pruned, and an analyst's
    # correction (made on the old one) stays with the work.
    neck = after[EMBASE_TITLE]
    run_kb(data, "edit", neck["doc_id"], "--title", "Congenital neck masses in children (corrected)", check=True)
    (folder / "sub" / "embase.ris").rename(folder / "sub" / "embase-2019.ris")
    code, report = _ingest(data, folder)
    assert code == 0 and [Path(f["path"]).name for f in report["removed"]] == ["embase.ris"]
    after = _titles(data)
    assert EMBASE_TITLE not in after and len(after) == len(before) - len(scopus_ids)
    corrected = after["Congenital neck masses in children (corrected)"]
    assert corrected["field_sources"]["title"] == "analyst" and corrected["n_chunks"] == neck["n_chunks"]
    assert [Path(s["source"]).name.split("#")[0] for s in corrected["sources"]] == ["embase-2019.ris"]

    # Fail closed: the folder is gone (a detached drive): reported, and nothing is taken out.
    folder.rename(tmp_path / "elsewhere")
    code, report = _ingest(data, folder)
    assert code == 1 and report["files"][0]["status"] == "failed" and report["removed"] == []
    assert any("is missing" in n and "kept" in n for n in report["notes"]), report["notes"]
    # Its mount point is there but empty: still nothing is taken out.
    folder.mkdir()
    code, report = _ingest(data, folder)
    assert code == 0 and report["removed"] == []
    assert any("lists no files" in n for n in report["notes"]), report["notes"]
    assert _titles(data) == after


@pytest.mark.shared_data
@pytest.mark.skipif(not _can_drop_capabilities(), reason="setpriv cannot drop the capabilities here")
def test_an_unreadable_folder_or_subfolder_prunes_nothing(okely_kb, tmp_path, shared_data):
    data = tmp_path / "kb"
    shutil.copytree(okely_kb, data)
    folder = tmp_path / "share"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(shared_data / "ris" / "scopus.ris", folder / "scopus.ris")
    shutil.copy(shared_data / "ris" / "embase.ris", folder / "sub" / "embase.ris")
    assert _ingest(data, folder)[0] == 0
    before = _titles(data)
    assert SCOPUS_TITLE in before and EMBASE_TITLE in before
    try:
        # A subfolder that cannot be listed, beside a file that really was deleted: the listing is partial,
        # so neither is taken out, and the subfolder is reported.
        (folder / "scopus.ris").unlink()
        (folder / "sub").chmod(0)
        code, report = _ingest(data, folder, *NO_OVERRIDE)
        assert code == 1 and report["removed"] == []
        (bad,) = report["files"]
        assert bad["status"] == "failed" and bad["path"].endswith("sub") and "cannot list folder" in bad["reason"]
        assert _titles(data) == before
        # The whole folder unreadable: the same.
        (folder / "sub").chmod(0o755)
        folder.chmod(0)
        code, report = _ingest(data, folder, *NO_OVERRIDE)
        assert code == 1 and report["removed"] == [] and "cannot list folder" in report["files"][0]["reason"]
        assert _titles(data) == before
    finally:
        folder.chmod(0o755)
        (folder / "sub").chmod(0o755)
    # Readable again, the deleted file goes.
    code, report = _ingest(data, folder)
    assert code == 0 and [Path(f["path"]).name for f in report["removed"]] == ["scopus.ris"]
    assert SCOPUS_TITLE not in _titles(data) and EMBASE_TITLE in _titles(data)
