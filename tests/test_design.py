"""Study design per document: rules on real abstracts (per class, the random-sample trap), storage and filters."""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path

import pytest
from kbfixtures import ingest_into, kb_env, open_kb, run_kb

from bench.design import evaluate, load_labels, load_texts
from ingest.design import DesignClassifier, spellings
from ingest.pipeline import Ingestor
from kb.taxonomy import DEFAULT_PATH, TaxonomyError, load_taxonomy

SCIFACT = "scifact/corpus.jsonl.gz"


@pytest.fixture(scope="module")
def clf() -> DesignClassifier:
    return DesignClassifier(load_taxonomy())


@pytest.fixture(scope="module")
def records() -> dict[str, object]:
    """Every hand-labelled record, with its title and abstract read from ../shared/data."""
    return {i.key: i for i in load_texts(load_labels())}


def _record(records, key: str):
    return records[key if "#" in key else f"{SCIFACT}#{key}"]


# (record, design): real abstracts, each a case the rules must get right and why it is hard.
CASES = [
    ("19052713", "systematic_review"),  # a review of RCTs: the trials it pools do not make it an RCT
    ("3150030", "systematic_review"),  # "meta-analysis of cross-sectional studies"
    ("46695481", "rct"),  # randomly assigned, in a population-based programme, with "randomly selected women"
    ("12209494", "rct"),
    ("12442311", "quasi_experimental"),  # interrupted time series of a drug withdrawal
    ("12258338", "quasi_experimental"),  # before-after with a control unit; its patients "randomly selected"
    ("22635278", "quasi_experimental"),  # historical controls
    ("20746604", "observational"),  # prospective cohort with a propensity score: not quasi-experimental
    ("ris/scopus.ris#3", "observational"),  # cross-sectional, from the Scopus export
    ("ris/embase.ris#3", "observational"),  # case report
    ("10854174", "qualitative"),
    ("17779800", "qualitative"),  # semi-structured interviews, content analysis
    ("20187433", "qualitative"),  # focus groups, no word "qualitative"
    ("ris/scopus.ris#1", "other"),  # "this review": a review that is not systematic
    ("53779698", "other"),  # "This review examines ...": review alone
    ("ris/pubmed_endnote.txt#2", "other"),  # a mouse model
    ("ris/scopus.ris#2", "other"),  # a hypothesis
    ("37578311", "other"),  # commentary that mentions "randomized, double-blind clinical studies to date"
]

# "Randomly selected survey respondents" / "a random sample" is sampling, not an RCT.
RANDOM_SAMPLE_TRAP = ["409280", "1946610", "27711043", "31834381", "29460384", "116556376", "28931537", "20526907"]


@pytest.mark.shared_data
@pytest.mark.parametrize(("key", "design"), CASES)
def test_design_of_real_abstracts(clf, records, key, design):
    item = _record(records, key)
    r = clf.classify(item.title, item.abstract)
    assert r.design == design, (key, r.phrase, r.scores)
    if r.phrase is not None:  # the deciding phrase is words of the record, as written
        assert r.phrase in f"{item.title}\n{item.abstract}"


@pytest.mark.shared_data
@pytest.mark.parametrize("key", RANDOM_SAMPLE_TRAP)
def test_random_sample_is_not_an_rct(clf, records, key):
    item = _record(records, key)
    assert "random" in item.abstract.lower()
    r = clf.classify(item.title, item.abstract)
    assert r.design == "observational", (key, r.phrase, r.scores)


def test_random_sample_sentence_alone_is_not_an_rct(clf):
    r = clf.classify("Attitudes to knife crime", "We asked 400 randomly selected survey respondents in Leeds.")
    assert (r.design, r.phrase) == ("observational", "survey")
    r = clf.classify("", "We drew a random sample of 2,000 households; adults were interviewed by telephone.")
    assert (r.design, r.phrase) == ("observational", "interviewed by telephone")


def test_review_alone_is_not_systematic(clf):
    r = clf.classify("Youth violence: a review", "This review summarises what is known about youth violence.")
    assert r.design == "other"
    r = clf.classify("Youth violence: a systematic review", "We searched five databases.")
    assert r.design == "systematic_review" and r.phrase == "systematic review"


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("key", "country"),
    [
        ("ris/scopus.ris#3", "Germany"),
        ("7111021", "South Africa"),  # "in South Africa" outweighs a "U.S." funding mention
        ("12442311", "United Kingdom"),  # England and Wales
        ("20526907", "Australia"),  # New South Wales is not Wales
        ("4810810", None),  # 13 countries: no single study country
        ("13906581", None),  # a systematic review pools countries
    ],
)
def test_country_where_stated(clf, records, key, country):
    item = _record(records, key)
    assert clf.classify(item.title, item.abstract).country == country


@pytest.mark.shared_data
def test_benchmark_macro_f1_meets_goal(clf):
    """The labelled set (docs/benchmarks.md, Study design): every class present, macro-F1 >= 0.80."""
    items = load_texts(load_labels())
    counts = {d: sum(i.design == d for i in items) for d in {i.design for i in items}}
    assert len(items) >= 60 and len(counts) == 6 and min(counts.values()) >= 6, counts
    report = evaluate(clf, items)
    assert report.macro_f1 >= 0.80, report.as_dict()["per_class"]


def test_spellings_cover_british_and_american():
    assert spellings("randomised controlled trial") == ["randomised controlled trial", "randomized controlled trial"]
    assert spellings("randomization") == ["randomization", "randomisation"]
    assert spellings("cohort study") == ["cohort study"]


def test_analysts_extend_the_vocabulary_in_the_taxonomy_file(tmp_path):
    text = "We ran a Delphi panel of 30 youth workers over three rounds."
    assert DesignClassifier(load_taxonomy()).classify("", text).design == "other"
    custom = tmp_path / "taxonomy.toml"
    custom.write_text(
        DEFAULT_PATH.read_text(encoding="utf-8").replace(
            '"key informant interviews",', '"key informant interviews", "Delphi panel",'
        ),
        encoding="utf-8",
    )
    r = DesignClassifier(load_taxonomy(custom)).classify("", text)
    assert (r.design, r.phrase) == ("qualitative", "Delphi panel")


def test_unknown_design_in_taxonomy_names_file_and_remedy(tmp_path):
    bad = tmp_path / "taxonomy.toml"
    bad.write_text(
        DEFAULT_PATH.read_text(encoding="utf-8") + '\n[designs.case_study]\nlabel = "Case"\nphrases = ["case"]\n',
        encoding="utf-8",
    )
    with pytest.raises(TaxonomyError, match=r"taxonomy\.toml.*designs\.case_study.*use one of"):
        load_taxonomy(bad)


def test_no_text_gives_no_design(clf):
    assert clf.classify("", "").design is None


# -- stored, shown and filtered --------------------------------------------------------------------------


def _write_abstract(folder: Path, name: str, item) -> Path:
    path = folder / f"{name}.md"
    path.write_text(f"# {item.title}\n\n{item.abstract}\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def design_kb(tmp_path_factory, records) -> Path:
    """A knowledge base of three real abstracts: a trial, a survey of randomly selected households, interviews."""
    root = tmp_path_factory.mktemp("design")
    src = root / "src"
    src.mkdir()
    for name, key in (("trial", "12209494"), ("survey", "1946610"), ("interviews", "10854174")):
        _write_abstract(src, name, _record(records, key))
    ingest_into(root / "kb", src)
    return root


@pytest.mark.shared_data
def test_design_stored_and_shown_in_kb_docs_json(design_kb, records):
    docs = json.loads(run_kb(design_kb / "kb", "docs", "--json", check=True).stdout)["documents"]
    by_title = {d["title"]: d for d in docs}
    assert {d["study_design"] for d in docs} == {"rct", "observational", "qualitative"}
    t = by_title[_record(records, "12209494").title]
    assert t["study_design"] == "rct" and t["study_design_evidence"].lower().startswith("random")
    s = by_title[_record(records, "1946610").title]
    assert (s["study_design"], s["country"]) == ("observational", "Tanzania")
    assert s["study_design_evidence"] in _record(records, "1946610").abstract
    table = run_kb(design_kb / "kb", "docs", check=True, COLUMNS="200").stdout
    assert "qualitative" in table and "observational" in table


@pytest.mark.shared_data
def test_kb_search_design_filters(design_kb, records):
    data = design_kb / "kb"
    docs = json.loads(run_kb(data, "docs", "--json", check=True).stdout)["documents"]
    rct_ids = {d["doc_id"] for d in docs if d["study_design"] == "rct"}
    out = json.loads(run_kb(data, "search", "treatment outcomes", "--design", "rct", "--json", check=True).stdout)
    assert out["results"] and {r["study_design"] for r in out["results"]} == {"rct"}
    assert {r["doc_id"] for r in out["results"]} == rct_ids
    unfiltered = json.loads(run_kb(data, "search", "treatment outcomes", "--json", check=True).stdout)
    assert len({r["doc_id"] for r in unfiltered["results"]}) == 3, "without --design every document can match"
    bad = run_kb(data, "search", "x", "--design", "cohort")
    assert bad.returncode != 0 and "rct" in bad.stderr


def _titles(at) -> list[str]:
    """Document titles of the Search page's results, best first."""
    return [html.unescape(m.value[5:]) for m in at.markdown if m.value.startswith("#### ")]


@pytest.mark.shared_data
def test_search_page_filters_by_study_design(design_kb, records, monkeypatch):
    from streamlit.testing.v1 import AppTest

    for k in [k for k in os.environ if k.startswith("KB_")]:
        monkeypatch.delenv(k)
    for k, v in kb_env(design_kb / "kb").items():
        monkeypatch.setenv(k, v)
    page = Path(__file__).resolve().parents[1] / "app" / "pages" / "1_Search.py"
    at = AppTest.from_file(str(page), default_timeout=180)
    at.query_params["q"] = "households and care"
    at.query_params["design"] = ["qualitative", "bogus"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="f_design").value == ["qualitative"], "unknown designs in a link are dropped"
    assert _titles(at) == [_record(records, "10854174").title]
    at.multiselect(key="f_design").set_value(["observational"]).run()
    assert _titles(at) == [_record(records, "1946610").title]
    assert dict(at.query_params)["design"] == "observational"


@pytest.mark.shared_data
def test_analyst_design_is_kept_when_the_file_is_read_again(design_kb, records, tmp_path):
    data = tmp_path / "kb"
    shutil.copytree(design_kb / "kb", data)
    survey_title = _record(records, "1946610").title
    kb = open_kb(data)
    try:
        doc = next(d for d in kb.catalogue.documents() if d.title == survey_title)
        kb.edit(doc.doc_id, {"study_design": "quasi_experimental"})  # as `kb edit --design` records it
        # A different --type changes what the files become, so both are read and prepared again.
        report = Ingestor(kb, doc_type="evaluation").run([design_kb / "src"])
        assert {f.status for f in report.files} == {"ok"}
        docs = {d.title: d for d in kb.catalogue.documents()}
    finally:
        kb.close()
    again = docs[survey_title]
    assert (again.study_design, again.field_sources.get("study_design")) == ("quasi_experimental", "analyst")
    assert again.country == "Tanzania", "fields the analyst did not set still come from the rules"
    assert docs[_record(records, "12209494").title].study_design == "rct"


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "design", "country"),
    [
        ("lancet2018_aldridge_inclusion_health_prisoners.pdf", "systematic_review", None),
        ("lancetrespmed2014_brown_stopadvisor_smoking_low_ses.pdf", "rct", "United Kingdom"),
        ("homeoffice2025_first_responder_guide_modern_slavery_OGL.pdf", "other", "United Kingdom"),
    ],
)
def test_design_of_real_pdfs_from_their_opening_and_methods(clf, shared_data, name, design, country):
    """PDFs carry no abstract field: the design is read from the document's opening and its methods sections."""
    from ingest.design import design_text
    from ingest.sources import ReadOptions, read_file

    (pd,) = read_file(shared_data / "real-pdfs" / name, ReadOptions()).documents
    r = clf.classify(*design_text(pd))
    assert (r.design, r.country) == (design, country), r.scores
