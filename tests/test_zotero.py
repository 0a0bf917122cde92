"""Zotero libraries: a .bib's `file` fields bring in the attached PDFs as their entries' full text."""

from __future__ import annotations

import json
import shutil

import pytest
from kbfixtures import OKELY_PDF, run_kb, seed_embed_cache
from pdfmaker import make_pdf

from ingest.sources.bibtex import file_field

OKELY_TITLE = "Promoting physical activity among adolescent girls: the Girls in Sport group randomized trial"


@pytest.mark.parametrize(
    "value, paths",
    [
        # Zotero's own export: description:path:mime, several attachments separated by ;
        (
            "Full Text PDF:files/12/Okely 2017.pdf:application/pdf;Snapshot:files/13/s12966.html:text/html",
            ["files/12/Okely 2017.pdf", "files/13/s12966.html"],
        ),
        # Better BibTeX: a bare absolute path, or description:path:mime with an escaped Windows drive.
        ("/home/u/Zotero/storage/ABCD1234/paper.pdf", ["/home/u/Zotero/storage/ABCD1234/paper.pdf"]),
        (
            r"Okely.pdf:C\:\\Users\\me\\Zotero\\storage\\ABCD\\Okely.pdf:application/pdf",
            [r"C:\Users\me\Zotero\storage\ABCD\Okely.pdf"],
        ),
        ("paper.pdf:application/pdf", ["paper.pdf"]),
        ("", []),
    ],
)
def test_file_field_forms(value, paths):
    assert file_field(value) == paths


ZOTERO_BIB = r"""@article{okely2017,
  title = {Promoting physical activity among adolescent girls: the {Girls} in {Sport} group randomized trial},
  author = {Okely, Anthony D. and Lubans, David R.},
  year = {2017},
  file = {Full Text PDF:files/12/Okely et al. - 2017.pdf:application/pdf;Snapshot:files/13/s12966.html:text/html},
}
@report{knife2023,
  title = {Knife crime among young people in Kirklees: a rapid evidence review},
  author = {Patel, Asha}, year = {2023},
  file = {/home/someone/Zotero/storage/QX7Z2M9B/knife review.pdf},
}
@article{lost2020,
  title = {Youth workers in hospital emergency departments: a process evaluation},
  author = {Jones, Rhys}, year = {2020},
  file = {Full Text:files/99/Jones 2020.pdf:application/pdf},
}
"""


@pytest.mark.shared_data
def test_attached_pdfs_become_their_entries_full_text(okely_kb, tmp_path, shared_data):
    lib = tmp_path / "zotero-export"
    (lib / "files" / "12").mkdir(parents=True)
    shutil.copy(shared_data / OKELY_PDF, lib / "files" / "12" / "Okely et al. - 2017.pdf")
    (lib / "export.bib").write_text(ZOTERO_BIB, encoding="utf-8")
    # An absolute path from the machine that exported it, found again in this machine's storage folder.
    storage = tmp_path / "Zotero" / "storage"
    (storage / "QX7Z2M9B").mkdir(parents=True)
    make_pdf(
        storage / "QX7Z2M9B" / "knife review.pdf",
        [["Knife crime among young people in Kirklees", "", "Carrying a knife is associated with exclusion."]],
    )
    data = tmp_path / "kb"
    seed_embed_cache(okely_kb, data)

    proc = run_kb(data, "ingest", str(lib / "export.bib"), "--json", KB_ZOTERO_STORAGE=str(storage))
    assert proc.returncode == 0, proc.stderr
    (fr,) = json.loads(proc.stdout)["files"]
    assert fr["status"] == "ok" and fr["documents"] == 5
    missing = [p for p in fr["problems"] if "files/99/Jones 2020.pdf not found" in p]
    assert len(missing) == 1 and "entry is kept" in missing[0] and "lost2020" in missing[0]

    docs = {d["title"]: d for d in json.loads(run_kb(data, "docs", "--json", check=True).stdout)["documents"]}
    assert len(docs) == 3, list(docs)
    okely = docs[OKELY_TITLE]
    assert okely["n_chunks"] > 20 and okely["doc_type"] == "research"
    assert okely["authors"] == ["Okely, Anthony D.", "Lubans, David R."] and okely["year"] == 2017
    assert sorted((s["kind"], s["matched_by"]) for s in okely["sources"]) == [
        ("fulltext", "attached full text"),
        ("reference", None),
    ]
    knife = docs["Knife crime among young people in Kirklees: a rapid evidence review"]
    assert knife["n_chunks"] == 1 and knife["authors"] == ["Patel, Asha"]
    assert {s["kind"] for s in knife["sources"]} == {"fulltext", "reference"}
    lost = docs["Youth workers in hospital emergency departments: a process evaluation"]
    assert lost["doc_type"] == "reference" and lost["n_chunks"] == 1

    # Without the storage setting the absolute path cannot be found, and the report says what to set.
    again = run_kb(tmp_path / "kb2", "ingest", str(lib / "export.bib"), "--json")
    problems = json.loads(again.stdout)["files"][0]["problems"]
    assert any("knife review.pdf not found" in p and "KB_ZOTERO_STORAGE" in p for p in problems), problems


CHANGING_BIB = r"""@article{okely2017,
  title = {Promoting physical activity among adolescent girls: the {Girls} in {Sport} group randomized trial},
  author = {Okely, Anthony D. and Lubans, David R.},
  year = {2017},
  file = {Full Text PDF:files/12/Okely et al. - 2017.pdf:application/pdf},
}
@article{lost2020,
  title = {Youth workers in hospital emergency departments: a process evaluation},
  author = {Jones, Rhys}, year = {2020},
  file = {Full Text:files/99/Jones 2020.pdf:application/pdf},
}
"""


def _first_pages(src, dst, n: int) -> None:
    """The real article cut to its first pages: a changed copy of the attachment (a corrected download, say)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(src).pages[:n]:
        writer.add_page(page)
    with dst.open("wb") as fh:
        writer.write(fh)


@pytest.mark.shared_data
def test_a_changed_or_found_attachment_is_read_again_though_the_bib_is_unchanged(okely_kb, tmp_path, shared_data):
    """Regression: a changed Zotero attachment went unnoticed until its .bib changed ("unchanged")."""
    lib = tmp_path / "zotero-export"
    attachment = lib / "files" / "12" / "Okely et al. - 2017.pdf"
    attachment.parent.mkdir(parents=True)
    shutil.copy(shared_data / OKELY_PDF, attachment)
    bib = lib / "export.bib"
    bib.write_text(CHANGING_BIB, encoding="utf-8")
    data = tmp_path / "kb"
    seed_embed_cache(okely_kb, data)

    def ingest() -> dict:
        (fr,) = json.loads(run_kb(data, "ingest", str(bib), "--json", check=True).stdout)["files"]
        return fr

    def docs() -> dict:
        return {d["title"]: d for d in json.loads(run_kb(data, "docs", "--json", check=True).stdout)["documents"]}

    assert ingest()["status"] == "ok"
    whole = docs()[OKELY_TITLE]["n_chunks"]
    assert whole > 20
    assert ingest()["status"] == "unchanged"

    _first_pages(shared_data / OKELY_PDF, attachment, 2)
    fr = ingest()
    assert fr["status"] == "ok", "the changed attachment was not read again"
    cut = docs()[OKELY_TITLE]
    assert 0 < cut["n_chunks"] < whole, (cut["n_chunks"], whole)
    assert ingest()["status"] == "unchanged"

    # An attachment that was missing and is now there is read too.
    lost = lib / "files" / "99" / "Jones 2020.pdf"
    lost.parent.mkdir(parents=True)
    make_pdf(lost, [["Youth workers in hospital emergency departments", "", "Nurses referred 40 young people."]])
    fr = ingest()
    assert fr["status"] == "ok" and not any("Jones 2020.pdf not found" in p for p in fr["problems"])
    jones = docs()["Youth workers in hospital emergency departments: a process evaluation"]
    assert jones["doc_type"] == "research" and {s["kind"] for s in jones["sources"]} == {"fulltext", "reference"}
    assert docs()[OKELY_TITLE]["n_chunks"] == cut["n_chunks"]


@pytest.mark.shared_data
def test_the_fingerprint_scan_finds_the_file_fields_the_reader_reads(tmp_path, shared_data):
    """The .bib fingerprint scans for `file` fields instead of parsing: on real .bib files (LaTeX traps,
    @string macros, crossrefs, encodings) and Zotero's forms it finds what the parser gives, no more."""
    from ingest.sources.bibtex import _entries
    from ingest.sources.bibtex_files import file_values

    zotero = tmp_path / "zotero.bib"
    zotero.write_text(ZOTERO_BIB + '@misc{q, title = "Quoted", file = "Q:files/{1}/q.pdf:application/pdf"}\n')
    for bib in [zotero, *sorted((shared_data / "bibtex").glob("*.bib"))]:
        parsed = [e["file"] for e in _entries(bib, []) if "file" in e]
        assert file_values(bib.read_bytes().decode("utf-8", "replace")) == parsed, bib.name
    assert len(file_values(zotero.read_text())) == 4
