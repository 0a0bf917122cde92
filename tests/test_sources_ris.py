"""RIS reader: real exports (Embase, Scopus, PubMed via EndNote .txt), their quirks, broken records."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from kbfixtures import run_kb

from ingest.sources import ReadOptions, SourceError, read_file

QUIRKS = (
    "\ufeffTY  - CPAPER\n"
    "A1  - Firmin, Carlene\n"
    "A1  - Lloyd, Jenny\n"
    "T1  - Contextual safeguarding and\n"
    "      serious youth violence\n"
    "Y1  - 2020///\n"
    "T2  - Safeguarding Conference\n"
    "KW  - exploitation\n"
    "KW  - peer groups\n"
    "SN  - 1234-5678\n"
    "SN  - 8765-4321\n"
    "N2  - Harm outside the home needs a response\n"
    "  that reaches peer groups, schools and neighbourhoods.\n"
    "N1  - References: Smith (2019) doi:10.1000/cited.one; Jones (2018) https://doi.org/10.1000/cited.two\n"
    "ER  - \n"
    "\n"
    "TY  - JOUR\n"
    "AU  - Bellis, M.\n"
    "TI  - Adverse childhood experiences and violence\n"
    "PY  - 2014\n"
    "DA  - 2014/03/01\n"
    "DO  - 10.1093/PUBMED/FDT038\n"
    "ER  - \n"
)


def test_real_export_quirks(tmp_path):
    path = tmp_path / "quirks.ris"
    path.write_text(QUIRKS, encoding="utf-8")
    result = read_file(path, ReadOptions())
    assert result.problems == []
    first, second = (p.document for p in result.documents)
    assert first.title == "Contextual safeguarding and serious youth violence"
    assert first.authors == ["Firmin, Carlene", "Lloyd, Jenny"]
    assert first.year == 2020 and first.journal == "Safeguarding Conference"
    assert first.keywords == ["exploitation", "peer groups"]
    assert (
        first.abstract == "Harm outside the home needs a response that reaches peer groups, schools and neighbourhoods."
    )
    assert first.doi is None and first.doc_id.startswith("sha256:")  # the cited works' DOIs are not its own
    assert first.doc_type == "reference"
    assert (second.doi, second.doc_id, second.year) == ("10.1093/pubmed/fdt038", "doi:10.1093/pubmed/fdt038", 2014)
    assert result.documents[0].blocks[0].text.startswith("Contextual safeguarding and serious youth violence. Harm")


BROKEN = """TY  - JOUR
TI  - Mentoring and youth violence: a review
PY  - 2019
ER  -
TY JOUR
TI  - A record whose opening line is broken
PY  - 2020
ER  -
TY  - RPRT
TI  - Knife crime in West Yorkshire
PY  - 2021
TY  - JOUR
AU  - Nobody
PY  - 2022
ER  -
TY  - JOUR
TI  - Violence reduction units: an evaluation
PY  - 2023
ER  -
"""


def test_broken_records_are_reported_with_their_line_and_the_rest_kept(tmp_path):
    path = tmp_path / "broken.ris"
    path.write_text(BROKEN, encoding="utf-8")
    result = read_file(path, ReadOptions())
    titles = [p.document.title for p in result.documents]
    assert titles == [
        "Mentoring and youth violence: a review",
        "Knife crime in West Yorkshire",
        "Violence reduction units: an evaluation",
    ]
    assert any(p.startswith("line 5: text outside a record") for p in result.problems), result.problems
    assert any(p.startswith("line 9: record has no 'ER  - ' end line") for p in result.problems), result.problems
    assert any(p.startswith("line 12: record skipped: it has no title") for p in result.problems), result.problems


def test_plain_txt_stays_text_and_an_empty_ris_names_the_remedy(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("TY is a tag in RIS files.\n\nThis note is plain text about them.\n")
    assert read_file(note).documents[0].document.doc_type == "research"
    empty = tmp_path / "empty.ris"
    empty.write_text("not a reference export\n")
    with pytest.raises(SourceError) as err:
        read_file(empty)
    assert "no RIS records found" in err.value.reason and "TY  - JOUR" in err.value.reason


def _own_dois(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8-sig")
    return {m.lower() for m in re.findall(r"^DO  - (\S+)", text, re.M)}


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["embase.ris", "scopus.ris", "pubmed_endnote.txt"])
def test_shared_exports_give_every_record_with_its_own_doi(shared_data, name):
    path = shared_data / "ris" / name
    result = read_file(path, ReadOptions())
    docs = [p.document for p in result.documents]
    assert len(docs) == 6 and result.problems == []
    assert {d.doi for d in docs} == _own_dois(path)  # Scopus's References: notes cite hundreds of other DOIs
    assert all(d.title and d.authors and d.year and d.abstract for d in docs)


@pytest.mark.shared_data
def test_shared_exports_ingest_with_their_record_counts(tmp_path, shared_data):
    names = ["embase.ris", "scopus.ris", "pubmed_endnote.txt"]
    proc = run_kb(tmp_path / "kb", "ingest", *[str(shared_data / "ris" / n) for n in names], "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = {Path(f["path"]).name: f for f in json.loads(proc.stdout)["files"]}
    assert {n: (f["status"], f["documents"]) for n, f in files.items()} == {
        "embase.ris": ("ok", 6),
        "scopus.ris": ("ok", 6),
        "pubmed_endnote.txt": ("ok", 6),
    }


SCOPUS_RIS = """TY  - JOUR
AU  - Hughes, K.
AU  - Bellis, M.A.
TI  - Mentoring for young people at risk of violence: a systematic review
PY  - 2021
DO  - 10.5555/ment.2021.1
T2  - Journal of Youth Violence
ER  -
TY  - JOUR
AU  - Timpson, E.
TI  - School exclusion and serious youth violence in England
PY  - 2019
ER  -
TY  - JOUR
AU  - Braga, A.A.
TI  - Focused deterrence for gang violence: a meta-analysis
PY  - 2018
DO  - 10.5555/fd.2018.3
ER  -
"""
# Web of Science via EndNote, as a .txt: upper-case titles, DOI in another case, one pair matching only by title.
WOS_TXT = """TY  - JOUR
AU  - Hughes, K
AU  - Bellis, MA
TI  - MENTORING FOR YOUNG PEOPLE AT RISK OF VIOLENCE - A SYSTEMATIC REVIEW
PY  - 2021
DO  - 10.5555/MENT.2021.1
AN  - WOS:000111
ER  -

TY  - JOUR
AU  - Timpson, Edward
TI  - School exclusion and serious youth violence in England.
PY  - 2019
AN  - WOS:000222
ER  -

TY  - JOUR
AU  - Goodall, C
TI  - Hospital-based violence intervention programmes: outcomes at one year
PY  - 2020
AN  - WOS:000333
ER  -
"""


def test_two_ris_exports_of_one_search_give_one_document_per_work(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "scopus.ris").write_text(SCOPUS_RIS, encoding="utf-8")
    (folder / "wos-endnote.txt").write_text(WOS_TXT, encoding="utf-8")
    data = tmp_path / "kb"
    report = json.loads(run_kb(data, "ingest", str(folder), "--json", check=True).stdout)
    assert report["summary"]["duplicates_merged"] == 2
    docs = json.loads(run_kb(data, "docs", "--json", check=True).stdout)["documents"]
    assert len(docs) == 4, [d["title"] for d in docs]
    merged = json.loads(run_kb(data, "docs", "--merged", "--json", check=True).stdout)["documents"]
    how = {d["title"]: sorted(s["matched_by"] or "" for s in d["sources"]) for d in merged}
    assert how == {
        "Mentoring for young people at risk of violence: a systematic review": ["", "same DOI"],
        "School exclusion and serious youth violence in England": ["", "same title, year and first author"],
    }
