"""One document per work: sources of one work merge (never overwrite), removing one keeps the others', order
does not matter, works that only share a DOI stay apart, and schema-1 catalogues are upgraded."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from kbfixtures import OKELY_PDF, open_kb, run_kb, seed_embed_cache
from pdfmaker import make_pdf

from kb.catalogue.schema import CURRENT

OKELY_DOI = "10.1186/s12966-017-0535-6"
OKELY_TITLE = "Promoting physical activity among adolescent girls: the Girls in Sport group randomized trial"
OKELY_BIB = """@article{okely2017,
  title = {Promoting physical activity among adolescent girls: the {Girls} in {Sport} group randomized trial},
  author = {Okely, Anthony D. and Lubans, David R. and Morgan, Philip J. and Cotton, Wayne},
  year = {2017},
  journal = {International Journal of Behavioral Nutrition and Physical Activity},
  %DOI%
  abstract = {Physical activity declines steeply among adolescent girls; this trial tested a school programme.},
}
"""
BIB_AUTHORS = ["Okely, Anthony D.", "Lubans, David R.", "Morgan, Philip J.", "Cotton, Wayne"]


def okely_bib(folder: Path, doi: bool = True, name: str = "okely.bib") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(OKELY_BIB.replace("%DOI%", f"doi = {{{OKELY_DOI}}}," if doi else ""), encoding="utf-8")
    return path


def copy_kb(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def ingest(data: Path, *paths: Path):
    from ingest.pipeline import Ingestor

    kb = open_kb(data)
    try:
        return Ingestor(kb).run(list(paths))
    finally:
        kb.close()


def state(data: Path) -> dict:
    """Everything a user can see of the documents, without timestamps and without how a merge happened."""
    con = sqlite3.connect(data / "catalogue.sqlite3")
    con.row_factory = sqlite3.Row
    docs = [
        {k: r[k] for k in r.keys() if k != "ingested_at"}
        for r in con.execute("SELECT * FROM documents ORDER BY doc_id")
    ]
    chunks = [tuple(r) for r in con.execute("SELECT chunk_id, text_hash, text FROM chunks ORDER BY chunk_id")]
    sources = [tuple(r) for r in con.execute("SELECT source_key, doc_id, kind FROM document_sources ORDER BY 1")]
    con.close()
    kb = open_kb(data)
    vectors = sorted(kb.vectors.all_ids())
    kb.close()
    return {"documents": docs, "chunks": chunks, "sources": sources, "vectors": vectors}


@pytest.mark.shared_data
def test_pdf_then_bib_keeps_every_passage_and_takes_the_entry_metadata(okely_kb, tmp_path, shared_data):
    """Regression (issue 9): a BibTeX entry for a PDF already held replaced its 74 passages with one abstract."""
    data = copy_kb(okely_kb, tmp_path / "kb")
    kb = open_kb(data)
    (pdf_doc,) = kb.catalogue.documents()
    kb.close()
    n_passages = pdf_doc.n_chunks
    assert n_passages > 20

    bib = okely_bib(tmp_path / "refs")
    proc = run_kb(data, "ingest", str(bib), "--json", check=True)
    report = json.loads(proc.stdout)
    (fr,) = report["files"]
    assert fr["merged"] == [f"merged with: {pdf_doc.title} (same DOI)"]
    assert report["summary"]["duplicates_merged"] == 1

    listing = json.loads(run_kb(data, "docs", "--json", check=True).stdout)["documents"]
    assert len(listing) == 1
    (doc,) = listing
    assert doc["doc_id"] == f"doi:{OKELY_DOI}"
    assert doc["n_chunks"] == n_passages, "the reference entry must not replace the full text"
    assert doc["title"] == OKELY_TITLE and doc["authors"] == BIB_AUTHORS and doc["year"] == 2017
    assert doc["doc_type"] == "research", "a document with full text is not a mere reference"
    assert {doc["field_sources"][f] for f in ("title", "authors", "year", "doi")} == {"reference"}
    assert sorted(s["kind"] for s in doc["sources"]) == ["fulltext", "reference"]
    table = run_kb(data, "ingest", str(bib), check=True).stdout
    assert "unchanged" in table

    # Re-ingesting the PDF changes nothing and loses nothing.
    again = json.loads(run_kb(data, "ingest", str(shared_data / OKELY_PDF), "--json", check=True).stdout)
    assert again["files"][0]["status"] == "unchanged"

    merged = json.loads(run_kb(data, "docs", "--merged", "--json", check=True).stdout)["documents"]
    assert [d["doc_id"] for d in merged] == [f"doi:{OKELY_DOI}"]
    # A terminal wide enough that the table never wraps the reason (the temp path's length varies).
    assert "same DOI" in run_kb(data, "docs", "--merged", check=True, COLUMNS="400").stdout

    # Removing the .bib keeps the passages; what the entry gave goes with it.
    out = run_kb(data, "remove", str(bib), check=True).stdout
    assert "1 document(s) kept" in out
    kb = open_kb(data)
    (doc,) = kb.catalogue.documents()
    assert doc.n_chunks == n_passages and doc.authors != BIB_AUTHORS
    assert "reference" not in doc.field_sources.values()
    assert kb.check_consistency()["orphan_vectors"] == [] and kb.check_consistency()["missing_vectors"] == []
    kb.close()


@pytest.mark.shared_data
def test_removing_the_pdf_keeps_the_reference_and_the_pdf_comes_back(okely_kb, tmp_path, shared_data):
    data = copy_kb(okely_kb, tmp_path / "kb")
    bib = okely_bib(tmp_path / "refs")
    ingest(data, bib)
    pdf = shared_data / OKELY_PDF
    run_kb(data, "remove", str(pdf), check=True)
    kb = open_kb(data)
    (doc,) = kb.catalogue.documents()
    assert doc.doc_id == f"doi:{OKELY_DOI}" and doc.title == OKELY_TITLE and doc.doc_type == "reference"
    assert doc.n_chunks == 1 and "Physical activity declines" in kb.catalogue.chunks_of(doc.doc_id)[0].text
    kb.close()
    # Regression (issue 9): re-ingesting the PDF said "unchanged" and never brought its passages back.
    back = ingest(data, pdf)
    assert back.files[0].status == "ok" and back.files[0].merged
    kb = open_kb(data)
    (doc,) = kb.catalogue.documents()
    assert doc.n_chunks > 20 and doc.title == OKELY_TITLE
    kb.close()


@pytest.mark.shared_data
def test_ingestion_order_does_not_change_the_result(okely_kb, tmp_path, shared_data):
    bib = okely_bib(tmp_path / "refs")
    pdf = shared_data / OKELY_PDF
    first = copy_kb(okely_kb, tmp_path / "pdf-first")
    ingest(first, bib)
    other = tmp_path / "bib-first"
    seed_embed_cache(okely_kb, other)
    assert not ingest(other, bib).failed
    assert not ingest(other, pdf).failed
    a, b = state(first), state(other)
    assert a["documents"] == b["documents"]
    assert a["chunks"] == b["chunks"] and a["sources"] == b["sources"] and a["vectors"] == b["vectors"]
    assert len(a["documents"]) == 1 and a["documents"][0]["n_chunks"] > 20


@pytest.mark.shared_data
def test_a_reference_without_doi_merges_by_title_year_and_first_author(okely_kb, tmp_path, shared_data):
    data = copy_kb(okely_kb, tmp_path / "kb")
    bib = okely_bib(tmp_path / "refs", doi=False)
    # Same title, but another year and first author: another work (a namesake), which stays apart.
    namesake = tmp_path / "refs" / "namesake.bib"
    namesake.write_text(
        "@article{smith2005, title = {" + OKELY_TITLE + "}, author = {Smith, Jane}, year = {2005}}\n",
        encoding="utf-8",
    )
    report = ingest(data, bib, namesake)
    assert report.files[0].merged == [f"merged with: {OKELY_TITLE} (same title, year and first author)"]
    assert report.files[1].merged == []
    kb = open_kb(data)
    docs = {d.doc_id: d for d in kb.catalogue.documents()}
    kb.close()
    assert len(docs) == 2
    merged = docs[f"doi:{OKELY_DOI}"]
    assert merged.n_chunks > 20 and merged.authors == BIB_AUTHORS and merged.year == 2017
    assert merged.field_sources["year"] == "reference"


PAGE_BODY = [
    "Background. Serious violence among young people is shaped by school exclusion and by",
    "exploitation outside the home. Earlier work (https://doi.org/10.5555/cited.2019.001) found",
    "that mentoring by a trusted adult protects against weapon carrying.",
]


def _report_pdf(path: Path, title: str, district: str, metadata: dict | None = None, cites: bool = True) -> Path:
    body = PAGE_BODY if cites else [PAGE_BODY[0], "exploitation outside the home."]
    lines = [title, "", *body, f"This report covers {district} and the services that work there.", ""]
    lines += [f"In {district}, {n} young people were referred to the programme in its first year." for n in (12, 30)]
    return make_pdf(path, [lines], metadata={"/Title": title, **(metadata or {})})


def test_two_pdfs_citing_the_same_doi_on_page_1_stay_two_documents(tmp_path):
    """Regression (issue 9): two reports citing one paper on page 1 became one; the first silently vanished."""
    folder = tmp_path / "in"
    folder.mkdir()
    _report_pdf(folder / "a.pdf", "Knife crime in Bradford: a local needs assessment", "Bradford")
    _report_pdf(folder / "b.pdf", "Youth diversion in Wakefield: an evaluation of the first year", "Wakefield")
    proc = run_kb(tmp_path / "kb", "ingest", str(folder), "--json", check=True)
    report = json.loads(proc.stdout)
    assert report["summary"]["duplicates_merged"] == 0
    kb = open_kb(tmp_path / "kb")
    docs = kb.catalogue.documents()
    assert len(docs) == 2 and {len(kb.catalogue.chunks_of(d.doc_id)) > 0 for d in docs} == {True}
    assert {d.title for d in docs} == {
        "Knife crime in Bradford: a local needs assessment",
        "Youth diversion in Wakefield: an evaluation of the first year",
    }
    kb.close()
    if len({d.doi for d in docs}) == 1 and docs[0].doi:
        # A reader that still takes a cited DOI as each file's own: the pipeline keeps them apart and says so.
        assert any("kept apart" in p for f in report["files"] for p in f["problems"])


def test_two_works_claiming_one_doi_stay_apart_and_are_reported(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shared = {"/doi": "10.5555/vru.2024.017"}
    # The DOI in their metadata is each file's own by any reader's rules; page 1 cites no other.
    _report_pdf(folder / "a.pdf", "Knife crime in Bradford: a local needs assessment", "Bradford", shared, False)
    _report_pdf(
        folder / "b.pdf", "Youth diversion in Wakefield: an evaluation of the first year", "Wakefield", shared, False
    )
    report = ingest(tmp_path / "kb", folder)
    assert not report.failed
    notes = [p for f in report.files for p in f.problems]
    assert any("kept apart from “Knife crime in Bradford" in p and "10.5555/vru.2024.017" in p for p in notes), notes
    kb = open_kb(tmp_path / "kb")
    docs = kb.catalogue.documents()
    assert len(docs) == 2 and all(d.n_chunks for d in docs)
    # Neither is doi:X: which file came first must not decide which work a link to it names.
    assert sorted(d.doc_id.split(":")[0] for d in docs) == ["sha256", "sha256"]
    kb.close()
    listing = run_kb(tmp_path / "kb", "ingest", str(folder), check=True).stdout
    assert "unchanged" in listing


SCOPUS = """@article{scopus1,
  title = {Mentoring for young people at risk of violence: a systematic review},
  author = {Hughes, Karen and Bellis, Mark A.}, year = {2021}, doi = {10.5555/ment.2021.1},
  journal = {Journal of Youth Violence}}
@article{scopus2,
  title = {School exclusion and serious youth violence in England},
  author = {Timpson, Edward}, year = {2019}, journal = {Education Review}}
@article{scopus3,
  title = {Focused deterrence for gang violence: a meta-analysis},
  author = {Braga, Anthony A.}, year = {2018}, doi = {10.5555/fd.2018.3}}
"""
WOS = """@article{WOS:000111,
  title = {MENTORING FOR YOUNG PEOPLE AT RISK OF VIOLENCE - A SYSTEMATIC REVIEW},
  author = {Hughes, K and Bellis, MA}, year = {2021}, doi = {10.5555/MENT.2021.1}}
@article{WOS:000222,
  title = {School exclusion and serious youth violence in England.},
  author = {Timpson, E.}, year = {2019}}
@article{WOS:000333,
  title = {Hospital-based violence intervention programmes: outcomes at one year},
  author = {Goodall, Christine}, year = {2020}}
"""


def test_two_exports_of_one_search_give_one_document_per_work(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "scopus.bib").write_text(SCOPUS, encoding="utf-8")
    (folder / "wos.bib").write_text(WOS, encoding="utf-8")
    data = tmp_path / "kb"
    proc = run_kb(data, "ingest", str(folder), check=True)
    assert "2 duplicates merged" in proc.stdout.replace("\n", " ")
    report = json.loads(run_kb(data, "ingest", str(folder), "--json", check=True).stdout)
    assert report["summary"]["duplicates_merged"] == 0, "nothing new the second time"
    docs = json.loads(run_kb(data, "docs", "--json", check=True).stdout)["documents"]
    assert len(docs) == 4
    merged = json.loads(run_kb(data, "docs", "--merged", "--json", check=True).stdout)["documents"]
    how = {d["title"]: sorted(s["matched_by"] or "" for s in d["sources"]) for d in merged}
    assert how == {
        "Mentoring for young people at risk of violence: a systematic review": ["", "same DOI"],
        "School exclusion and serious youth violence in England": ["", "same title, year and first author"],
    }

    # A wrong merge is undone by splitting one source off; it stays apart on the next ingest.
    exclusion = next(d for d in merged if d["title"].startswith("School exclusion"))
    wos_entry = f"{(folder / 'wos.bib').resolve()}#WOS:000222"
    out = json.loads(run_kb(data, "edit", exclusion["doc_id"], "--split", wos_entry, "--json", check=True).stdout)
    assert len(out["documents"]) == 2
    (folder / "wos.bib").write_text(WOS + "\n% re-exported\n", encoding="utf-8")
    run_kb(data, "ingest", str(folder), check=True)
    docs = json.loads(run_kb(data, "docs", "--json", check=True).stdout)["documents"]
    assert len(docs) == 5
    assert run_kb(data, "edit", exclusion["doc_id"], "--split", "nope.bib").returncode != 0


# Schema 1 as it was written, before sources were recorded, with one ingested note.
V1_CATALOGUE = Path(__file__).parent / "data" / "catalogue_v1.sqlite"


def test_a_schema_1_catalogue_is_upgraded_in_place(tmp_path):
    """A catalogue written before sources were recorded opens with its documents, files and passages intact."""
    data = tmp_path / "kb"
    data.mkdir()
    shutil.copy(V1_CATALOGUE, data / "catalogue.sqlite3")
    kb = open_kb(data)
    cat = kb.catalogue
    (doc,) = cat.documents()
    assert doc.field_sources == {} and doc.study_design is None
    (src,) = cat.sources_of(doc.doc_id)
    assert src.path == "/data/notes/mentoring.md" and src.kind == "fulltext" and len(src.chunks) == 1
    assert cat.get_file("/data/notes/mentoring.md").doc_ids == [doc.doc_id]
    assert cat.get_meta("schema_version") == str(CURRENT)
    assert cat.query("SELECT COUNT(*) FROM scan_status")[0][0] == 0, "migration 3 made the feature tables"
    kb.close()
    # And it stays usable: an analyst's correction goes through the new tables.
    out = json.loads(run_kb(data, "edit", doc.doc_id, "--year", "2023", "--json", check=True).stdout)
    assert out["documents"][0]["year"] == 2023 and out["documents"][0]["field_sources"]["year"] == "analyst"


def _ref(key: str, title: str, year: int | None, authors: list[str], doi: str | None = None, kind="reference"):
    from kb.ids import content_hash
    from kb.models import Chunk, Document, SourceRecord
    from kb.same_work import front_text

    doc = Document(
        doc_id=f"doi:{doi}" if doi else f"sha256:{content_hash(key + title)[:32]}",
        title=title,
        doc_type="reference" if kind == "reference" else "research",
        source=key,
        authors=authors,
        year=year,
        doi=doi,
        content_hash=content_hash(key + title),
        ingested_at="2026-01-01T00:00:00+00:00",
    )
    chunk = Chunk("", "", 0, f"{title}. Text of {key}.", n_tokens=10)
    return SourceRecord(key, key.split("#")[0], "", kind, doc, [chunk], front=front_text([chunk.text]))


PUBLISHED = "School-based violence prevention for adolescents: a cluster randomised trial in Leeds"


@pytest.mark.parametrize(
    "a, b, expected",
    [
        # A preprint and its published version: two DOIs, one work.
        (
            _ref("medrxiv.bib#p", PUBLISHED, 2020, ["Khan, Amir"], "10.1101/2020.05.01.123"),
            _ref("scopus.bib#s", PUBLISHED, 2021, ["Khan, A."], "10.1136/bmj.n100"),
            "same title, year and first author",
        ),
        # Two published DOIs are two works, however alike the titles.
        (
            _ref("a.bib#1", PUBLISHED, 2021, ["Khan, Amir"], "10.1136/bmj.n100"),
            _ref("b.bib#2", PUBLISHED, 2021, ["Khan, Amir"], "10.1136/bmj.n999"),
            None,
        ),
        # A correction notice is not the work it corrects.
        (
            _ref("a.bib#1", PUBLISHED, 2021, ["Khan, Amir"]),
            _ref("b.bib#2", "Correction: " + PUBLISHED, 2021, ["Khan, Amir"]),
            None,
        ),
        # Same title, another first author: a namesake.
        (_ref("a.bib#1", PUBLISHED, 2021, ["Khan, Amir"]), _ref("b.bib#2", PUBLISHED, 2021, ["Smith, Jo"]), None),
        # Title case and punctuation do not matter.
        (
            _ref("a.bib#1", PUBLISHED, 2021, ["Khan, Amir"]),
            _ref("b.bib#2", PUBLISHED.upper().replace(":", " -"), 2021, ["Khan, A"]),
            "same title, year and first author",
        ),
        # Two full texts never merge on their titles alone.
        (
            _ref("a.pdf", PUBLISHED, 2021, ["Amir Khan"], kind="fulltext"),
            _ref("b.pdf", PUBLISHED, 2021, ["Amir Khan"], kind="fulltext"),
            None,
        ),
    ],
)
def test_same_work_rules(a, b, expected):
    from kb.same_work import same_work

    assert same_work(a, b) == expected and same_work(b, a) == expected


def test_derive_does_not_depend_on_the_order_of_sources():
    import itertools

    from kb.merge import derive
    from kb.models import Edit

    sources = [
        _ref("medrxiv.bib#p", PUBLISHED, 2020, ["Khan, Amir"], "10.1101/2020.05.01.123"),
        _ref("scopus.bib#s", PUBLISHED, 2021, ["Khan, A."], "10.1136/bmj.n100"),
        _ref("paper.pdf", "Abstract", 2011, ["Amir Khan PhD"], kind="fulltext"),
    ]
    sources[2].document.field_sources = {"title": "layout", "year": "file date"}
    edits = [Edit("year", 2021, "2026-02-01T00:00:00+00:00")]
    results = {repr(derive(list(order), edits)) for order in itertools.permutations(sources)}
    assert len(results) == 1
    doc, chunks, _ = derive(sources, edits)
    assert doc.doc_id == "doi:10.1136/bmj.n100" and doc.doi == "10.1136/bmj.n100", (
        "the published DOI, not the preprint's"
    )
    assert doc.title == PUBLISHED and doc.field_sources["title"] == "reference"
    assert doc.year == 2021 and doc.field_sources["year"] == "analyst"
    assert [c.text for c in chunks] == ["Abstract. Text of paper.pdf."], "the full text's passages, not the abstracts"
    assert [c.chunk_id for c in chunks] == ["doi:10.1136/bmj.n100:00000"]
