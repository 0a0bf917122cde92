"""kb.ingestion, the one way in for the app and the CLI: the pipeline by entry point, uploads, a missing pipeline."""

from __future__ import annotations

import tomllib

import pytest
from kbfixtures import ROOT, open_kb

import kb.ingestion as ki
from kb.ingestion import IngestError, NoPipelineError, Pipeline, ingest_upload, pipeline, supported_suffixes


@pytest.fixture
def fresh_lookup():
    pipeline.cache_clear()
    yield
    pipeline.cache_clear()


def test_pyproject_registers_the_default_pipeline_kb_falls_back_to():
    eps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["entry-points"]
    assert eps[ki.GROUP] == {ki.NAME: ki.DEFAULT_PIPELINE}


def test_the_pipeline_is_found_and_reads_what_the_readers_read(fresh_lookup):
    found = pipeline()
    assert isinstance(found, Pipeline)
    assert {".pdf", ".md", ".bib", ".toolkit.yaml"} <= set(supported_suffixes())


def test_no_pipeline_installed_is_a_specific_error(fresh_lookup, monkeypatch):
    monkeypatch.setattr(ki, "entry_points", lambda group: [])
    monkeypatch.setattr(ki, "DEFAULT_PIPELINE", "no_such_pipeline_pkg.pipeline:PIPELINE")
    with pytest.raises(NoPipelineError, match=r"no ingestion pipeline.*no_such_pipeline_pkg.*pip install -e \."):
        pipeline()


def test_an_entry_point_that_is_not_a_pipeline_is_refused(fresh_lookup, monkeypatch):
    monkeypatch.setattr(ki, "entry_points", lambda group: [])
    monkeypatch.setattr(ki, "DEFAULT_PIPELINE", "kb.models:Document")
    with pytest.raises(NoPipelineError, match="is a type, not a kb.ingestion.Pipeline"):
        pipeline()


def test_a_wrong_type_is_refused_before_anything_is_read(tmp_path):
    kb = open_kb(tmp_path / "kb")
    try:
        with pytest.raises(IngestError, match="--type must be one of"):
            ki.ingest_paths(kb, [tmp_path], doc_type="novel")
    finally:
        kb.close()


def test_an_upload_batch_keeps_the_good_files_and_reports_the_refused_ones(tmp_path):
    kb = open_kb(tmp_path / "kb")
    done = []
    try:
        note = b"# Mentoring\n\nA trusted adult can protect young people in Leeds from harm.\n"
        report = ingest_upload(
            kb, [("virus.exe", b"MZ"), ("empty.md", b""), ("mentoring.md", note)], on_done=done.append
        )
    finally:
        kb.close()
    by_name = {f.path.rsplit("/", 1)[-1]: f for f in report.files}
    assert by_name["virus.exe"].status == "failed" and "not a supported file type" in by_name["virus.exe"].reason
    assert by_name["empty.md"].status == "failed" and "is empty" in by_name["empty.md"].reason
    assert by_name["mentoring.md"].status == "ok" and by_name["mentoring.md"].passages == 1
    assert (tmp_path / "kb" / "uploads" / "mentoring.md").is_file()
    assert len(done) == 3, "every file, refused or ingested, is reported as it is done"
