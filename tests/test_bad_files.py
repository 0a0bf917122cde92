"""One bad file never stops a run: corrupted PDF, Word and RIS files beside good ones, and a chunker failure."""

from __future__ import annotations

import random
import re
import tempfile
from pathlib import Path

import docx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from kbfixtures import open_kb
from pdfmaker import make_pdf

from ingest.pipeline import Ingestor

# Every failure names what to do: re-save, convert, check, install, a password, or report it.
REMEDY_RE = re.compile(r"save|convert|check|install|password|report|fresh copy", re.I)

RIS = """TY  - JOUR
AU  - Firmin, C.
TI  - {title}
PY  - 2020
AB  - {abstract}
ER  -

TY  - RPRT
TI  - Serious violence duty: statutory guidance
PY  - 2022
ER  -
"""


def _pdf(path: Path, topic: str) -> Path:
    return make_pdf(
        path,
        [
            [f"{topic} in West Yorkshire", f"This report describes {topic.lower()} among young people."],
            ["Findings", f"Mentoring reduced {topic.lower()} in two districts over three years."],
        ],
        metadata={"/Title": f"{topic} report"},
    )


def _docx(path: Path, topic: str) -> Path:
    d = docx.Document()
    d.add_heading(f"{topic} assessment", level=1)
    d.add_paragraph(f"Partners described {topic.lower()} in schools and on estates at night.")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "District", "Offences"
    table.cell(1, 0).text, table.cell(1, 1).text = "Leeds", "655"
    d.save(path)
    return path


def _ris(path: Path, topic: str) -> Path:
    path.write_text(RIS.format(title=f"{topic}: a review", abstract=f"A review of {topic.lower()}."), encoding="utf-8")
    return path


MAKERS = {".pdf": _pdf, ".docx": _docx, ".ris": _ris}


def _corrupt(data: bytes, how: str, at: float, n: int, seed: int) -> bytes:
    if how == "truncate":
        return data[: max(1, int(len(data) * at))]
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(n):
        i = rng.randrange(len(out))
        out[i] ^= rng.randrange(1, 256)
    return bytes(out)


corruption = st.tuples(
    st.sampled_from(["truncate", "flip"]), st.floats(0.02, 0.95), st.integers(1, 200), st.integers(0, 2**16)
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
@given(pdf=corruption, word=corruption, ris=corruption)
# Found by this test: a .docx whose deflate stream breaks (zlib.error), a PDF page pdfium cannot load.
@example(pdf=("truncate", 0.5, 1, 0), word=("flip", 0.5, 1, 72), ris=("truncate", 0.5, 1, 0))
@example(pdf=("flip", 0.7207772416228218, 26, 45197), word=("truncate", 0.02, 1, 0), ris=("truncate", 0.72, 1, 0))
def test_corrupted_files_in_one_run_with_good_ones(pdf, word, ris):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "inbox"
        folder.mkdir()
        good = [MAKERS[ext](folder / f"good{ext}", "Knife crime") for ext in MAKERS]
        bad = []
        for ext, (how, at, n, seed) in zip(MAKERS, (pdf, word, ris), strict=True):
            source = MAKERS[ext](Path(tmp) / f"source{ext}", "Robbery")
            target = folder / f"bad-{how}{ext}"
            target.write_bytes(_corrupt(source.read_bytes(), how, at, n, seed))
            bad.append(target)
        kb = open_kb(Path(tmp) / "kb")
        try:
            report = Ingestor(kb).run([folder])
            stored = {d.doc_id for d in kb.catalogue.documents()}
        finally:
            kb.close()

    files = {Path(f.path).name: f for f in report.files}
    assert set(files) == {p.name for p in good + bad}
    for p in good:
        f = files[p.name]
        assert f.status == "ok" and f.documents >= 1 and f.passages >= 1, (p.name, f)
        assert set(f.doc_ids) <= stored
    for p in bad:
        f = files[p.name]
        assert f.status in ("ok", "no_text", "failed"), f
        if f.status == "failed":
            assert f.reason and REMEDY_RE.search(f.reason), (p.name, f.reason)
            # The readers know their own formats' damage: no failure of theirs is an unforeseen one.
            assert not f.reason.startswith("could not read the file"), (p.name, f.reason)


def test_truncated_files_of_every_kind_fail_with_the_remedy_and_the_rest_are_stored(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    for ext, make in MAKERS.items():
        make(folder / f"good{ext}", "Knife crime")
        data = make(tmp_path / f"source{ext}", "Robbery").read_bytes()
        (folder / f"bad{ext}").write_bytes(data[: len(data) // 3] if ext != ".ris" else b"\x00\xff" + data[5:40])
    kb = open_kb(tmp_path / "kb")
    try:
        report = Ingestor(kb).run([folder])
    finally:
        kb.close()
    files = {Path(f.path).name: f for f in report.files}
    assert {n: f.status for n, f in files.items()} == {
        "good.pdf": "ok",
        "good.docx": "ok",
        "good.ris": "ok",
        "bad.pdf": "failed",
        "bad.docx": "failed",
        "bad.ris": "failed",
    }
    assert files["bad.pdf"].reason.startswith("corrupt PDF") and "re-save" in files["bad.pdf"].reason
    assert files["bad.docx"].reason.startswith("corrupt Word file") and "save it again" in files["bad.docx"].reason
    assert "no RIS records found" in files["bad.ris"].reason and "check" in files["bad.ris"].reason
    assert files["good.ris"].documents == 2


def test_chunker_failure_costs_only_that_file(tmp_path):
    # spaCy refuses a text over its max_length (5M characters): one paragraph that long cannot be chunked.
    huge = tmp_path / "dump.txt"
    huge.write_text(("knife crime data " * 300_000) + "\n", encoding="utf-8")
    good = tmp_path / "note.md"
    good.write_text("# Note\n\nMentoring by a trusted adult protects young people from violence.\n")
    kb = open_kb(tmp_path / "kb")
    try:
        report = Ingestor(kb).run([huge, good])
        record = kb.catalogue.get_file(str(huge.resolve()))
    finally:
        kb.close()
    by_name = {Path(f.path).name: f for f in report.files}
    assert by_name["note.md"].status == "ok"
    failed = by_name["dump.txt"]
    assert failed.status == "failed" and failed.reason.startswith("could not index the file (ValueError")
    assert "ingest it again" in failed.reason
    assert record.status == "failed" and record.reason == failed.reason


@pytest.mark.parametrize("separator", ["\x0c", "\x1c", "\x0b"])
def test_form_feeds_between_words_no_longer_break_the_chunker(tmp_path, separator):
    # Regression: the tokenizer drops these characters (one 900-character "word", one token) while joining
    # turned them into spaces (300 words): a passage over the model window and an AssertionError.
    text = tmp_path / "figures.txt"
    text.write_text("Table of figures " + f"ab{separator}" * 300 + " end.\n", encoding="utf-8")
    kb = open_kb(tmp_path / "kb")
    try:
        [f] = Ingestor(kb).run([text]).files
        window = kb.embedder.max_content_tokens
        sizes = [c.n_tokens for d in f.doc_ids for c in kb.catalogue.chunks_of(d)] if f.doc_ids else []
    finally:
        kb.close()
    assert f.status == "ok", f.reason
    assert sizes and max(sizes) <= window
