"""Exports of a search result read back by the libraries researchers' reference managers rely on."""

from __future__ import annotations

import csv
import io

import bibtexparser
import pytest
import rispy
from bibtexparser.middlewares import LatexDecodingMiddleware

from ingest.sources import ReadOptions
from ingest.sources import bibtex as bibtex_source
from kb.export import CSV_COLUMNS, citation_key, documents_of, to_bibtex, to_csv, to_ris
from kb.models import Chunk, Document, FactorTag, Tags
from kb.search import Hit


def _doc(doc_id: str, **kw) -> Document:
    base = dict(title="Serious violence in West Yorkshire", doc_type="research", source="x.pdf", year=2022)
    return Document(doc_id=doc_id, **{**base, **kw})


def _hit(doc: Document, idx: int, rank: int) -> Hit:
    chunk = Chunk(
        chunk_id=f"{doc.doc_id}:{idx:05d}",
        doc_id=doc.doc_id,
        index=idx,
        text='Trusted adults, "mentors" and youth workers; 50% fewer offences, with commas',
        section=["Findings", "Mentoring"],
        page_start="4",
        page_end="5",
        tags=Tags(factors=[FactorTag("trusted-adult", "protective")], priorities=[1, 2]),
    )
    return Hit(chunk, doc, score=1.0 / rank, rank=rank)


def test_csv_has_one_row_per_passage_with_citation_and_quoted_text():
    a = _doc("a", authors=["Smith, Jane"], doi="10.1000/xyz")
    b = _doc("b", title="Other")
    hits = [_hit(a, 0, 1), _hit(b, 3, 2), _hit(a, 1, 3)]
    rows = list(csv.DictReader(io.StringIO(to_csv(hits))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["chunk_id"] for r in rows] == ["a:00000", "b:00003", "a:00001"]
    assert rows[0]["citation"] == "Serious violence in West Yorkshire (2022), pp. 4-5, § Findings › Mentoring"
    assert rows[0]["text"].startswith('Trusted adults, "mentors"')
    assert rows[0]["factors"] == "trusted-adult (protective)"
    assert rows[0]["priorities"] == "1; 2"
    assert rows[0]["doi"] == "10.1000/xyz"


def test_documents_of_keeps_rank_order_and_drops_repeats():
    a, b = _doc("a"), _doc("b")
    assert [d.doc_id for d in documents_of([_hit(b, 0, 1), _hit(a, 0, 2), _hit(b, 1, 3)])] == ["b", "a"]


def test_bibtex_round_trips_through_bibtexparser():
    docs = [
        _doc("a", authors=["Smith, Jane", "Doe, John"], journal="Journal of Violence & Harm", doi="10.1/a_b"),
        _doc("b", authors=["Smith, Jane"], title="Serious {violence}: 100% of cases", publisher="WY VRU"),
        _doc("c", title="Mentoring", doc_type="toolkit", url="https://example.org/t?a=1&b=2", year=None),
    ]
    lib = bibtexparser.parse_string(to_bibtex(docs))
    assert not lib.failed_blocks
    entries = {e.key: e for e in lib.entries}
    assert len(entries) == 3, "keys must be unique even for the same author and year"
    art = next(e for e in lib.entries if e.entry_type == "article")
    assert art["author"] == "Smith, Jane and Doe, John"
    assert art["journal"] == r"Journal of Violence \& Harm"
    assert art["doi"] == "10.1/a_b"
    report = next(e for e in lib.entries if e.entry_type == "techreport")
    assert report["institution"] == "WY VRU"
    assert "{" not in report["title"] and r"100\%" in report["title"]
    misc = next(e for e in lib.entries if e.entry_type == "misc")
    assert misc["url"] == "https://example.org/t?a=1&b=2"
    assert "year" not in misc.fields_dict


def test_citation_keys_are_unique_and_ascii():
    taken: set[str] = set()
    d = _doc("a", authors=["Ó Súilleabháin, Aoife"], title="Knife crime")
    keys = [citation_key(d, taken) for _ in range(3)]
    assert keys == ["osuilleabhain2022knife", "osuilleabhain2022knifea", "osuilleabhain2022knifeb"]


def test_ris_round_trips_through_rispy():
    docs = [
        _doc("a", authors=["Smith, Jane"], journal="Journal X", doi="10.1/a", keywords=["knife crime"]),
        _doc("b", doc_type="strategy", url="https://example.org/s", year=None),
    ]
    back = rispy.loads(to_ris(docs))
    assert [e["type_of_reference"] for e in back] == ["JOUR", "GOVDOC"]
    assert back[0]["authors"] == ["Smith, Jane"]
    assert back[0]["year"] == "2022"
    assert back[0]["doi"] == "10.1/a"
    assert back[0]["keywords"] == ["knife crime"]
    assert back[1]["urls"] == ["https://example.org/s"]
    assert "year" not in back[1]


def test_empty_result_exports_are_valid_and_empty():
    assert to_csv([]).strip() == ",".join(CSV_COLUMNS)
    assert not bibtexparser.parse_string(to_bibtex([])).entries
    assert rispy.loads(to_ris([])) == []


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["encoding.bib", "crossref_entries.bib", "article_with_strings.bib", "traps.bib"])
def test_bibtex_export_of_real_entries_decodes_back_to_the_same_text(shared_data, name):
    # Entries written by others (accents, @string macros, crossref): what a reference manager decodes from our
    # export is what we read in, because pylatexenc encodes every accent and LaTeX special.
    read = bibtex_source.read(shared_data / "bibtex" / name, ReadOptions())
    docs = [p.document for p in read.documents]
    assert docs, read.problems
    back = bibtexparser.parse_string(to_bibtex(docs), append_middleware=[LatexDecodingMiddleware()])
    assert not back.failed_blocks
    for doc, entry in zip(docs, back.entries, strict=True):
        assert entry["title"] == doc.title.replace("{", "").replace("}", "")
        if doc.authors:
            assert entry["author"] == " and ".join(doc.authors)
        if doc.abstract:
            assert " ".join(entry["abstract"].split()) == " ".join(doc.abstract.split())


def test_bibtex_export_escapes_latex_specials_and_accents():
    doc = _doc("a", authors=["Ó Súilleabháin, Aoife"], title="Café & 50% of x_1 #2 \\ back — $5 {stray")
    entry = bibtexparser.parse_string(to_bibtex([doc])).entries[0]
    assert entry["author"] == r"\'O S\'uilleabh\'ain, Aoife"
    assert entry["title"] == r"Caf\'e \& 50\% of x\_1 \#2 {\textbackslash} back {\textemdash} \$5 stray"
