"""The library as a viewer sees it: counts and documents respect sensitivity; uploads cannot escape."""

from __future__ import annotations

from pathlib import Path

import pytest
from kbfixtures import open_kb

from kb.config import load_settings
from kb.library import (
    UploadError,
    document_tags,
    document_view,
    overview,
    safe_filename,
    save_upload,
    uploads_dir,
    visible_documents,
)

SUFFIXES = (".pdf", ".md", ".txt", ".bib", ".toolkit.yaml")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd.md", "passwd.md"),
        ("..\\..\\windows\\evil.txt", "evil.txt"),
        ("/abs/path/Needs Assessment (2024).PDF", "Needs Assessment (2024).pdf"),
        ("..hidden.md", "hidden.md"),
        ("semi;colon$and`tick`.md", "semi_colon_and_tick_.md"),
        ("mentoring.toolkit.yaml", "mentoring.toolkit.yaml"),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name, SUFFIXES) == expected


@pytest.mark.parametrize("name", ["evil.exe", "noext", "../..", "....md", "x.md/"])
def test_unusable_names_are_refused(name):
    with pytest.raises(UploadError):
        safe_filename(name, SUFFIXES)


def test_long_names_keep_their_suffix():
    assert safe_filename("a" * 500 + ".toolkit.yaml", SUFFIXES).endswith("a.toolkit.yaml")
    assert len(safe_filename("a" * 500 + ".toolkit.yaml", SUFFIXES)) == 120


def test_save_upload_stays_in_the_uploads_folder_and_is_keyed_by_content(tmp_path):
    s = load_settings(tmp_path, env={})
    p = save_upload(s, "../../outside.md", b"# one", SUFFIXES)
    assert p.parent == uploads_dir(s).resolve() and p.read_bytes() == b"# one"
    assert save_upload(s, "outside.md", b"# one", SUFFIXES) == p, "the same file again is the same file"
    other = save_upload(s, "outside.md", b"# two", SUFFIXES)
    assert other != p and other.parent == p.parent and other.name.startswith("outside-") and other.suffix == ".md"
    assert p.read_bytes() == b"# one" and other.read_bytes() == b"# two", "nothing is overwritten"
    assert save_upload(s, "outside.md", b"# two", SUFFIXES) == other
    assert not (tmp_path.parent / "outside.md").exists()
    assert sorted(x.name for x in uploads_dir(s).iterdir()) == sorted([p.name, other.name]), "no temporary files"


def test_two_uploads_named_report_pdf_are_two_documents(tmp_path):
    """Regression (issue 9): an upload replaced any earlier upload of the same name."""
    from pdfmaker import make_pdf

    from ingest.pipeline import Ingestor
    from ingest.sources import READERS

    kb = open_kb(tmp_path / "kb")
    made = []
    for district in ("Bradford", "Calderdale"):
        pdf = make_pdf(
            tmp_path / f"{district}.pdf",
            [[f"Youth violence in {district}", "", f"Referrals in {district} rose after the school programme."]],
            metadata={"/Title": f"Youth violence in {district}"},
        )
        made.append(pdf.read_bytes())
    paths = [save_upload(kb.settings, "report.pdf", data, READERS) for data in made]
    paths.append(save_upload(kb.settings, "report.pdf", made[0], READERS))
    assert paths[0] == paths[2] != paths[1]
    report = Ingestor(kb).run(paths)
    assert [f.status for f in report.files] == ["ok", "ok", "unchanged"]
    docs = kb.catalogue.documents()
    assert sorted(d.title for d in docs) == ["Youth violence in Bradford", "Youth violence in Calderdale"]
    assert all(d.n_chunks == 1 for d in docs)
    kb.close()


def test_save_upload_refuses_big_and_empty_files(tmp_path):
    s = load_settings(tmp_path, env={})
    with pytest.raises(UploadError, match="upload limit"):
        save_upload(s, "big.md", b"x" * 11, SUFFIXES, max_bytes=10)
    with pytest.raises(UploadError, match="empty"):
        save_upload(s, "empty.md", b"", SUFFIXES)


def test_counts_and_documents_hide_what_the_viewer_may_not_see(corpus_kb_copy):
    kb = open_kb(corpus_kb_copy)
    cat = kb.catalogue
    strategy = next(d for d in cat.documents() if d.doc_type == "strategy")
    everything = overview(cat, None)
    assert everything.documents == len(cat.documents())
    assert everything.passages == cat.stats()["passages"]
    assert everything.passages_by_priority == cat.stats()["passages_by_priority"]
    with cat.transaction() as c:
        c.execute("UPDATE documents SET sensitivity = 'official-sensitive' WHERE doc_id = ?", (strategy.doc_id,))
    public = overview(cat, ["official"])
    assert public.documents == everything.documents - 1
    assert public.documents_by_type.get("strategy", 0) == 0
    assert public.passages == everything.passages - strategy.n_chunks
    assert sum(public.passages_by_priority.values()) < sum(everything.passages_by_priority.values())
    assert strategy.doc_id not in {d.doc_id for d in visible_documents(cat, ["official"])}
    assert strategy.doc_id in {d.doc_id for d in visible_documents(cat, None)}
    assert overview(cat, []).documents == 0
    tags = document_tags(cat, [strategy.doc_id])
    assert 1 <= len(tags[strategy.doc_id]) <= 3
    kb.close()


def test_removing_an_uploaded_document_deletes_its_upload(corpus_kb_copy):
    from ingest.pipeline import Ingestor
    from ingest.sources import READERS
    from kb.library import remove_document

    kb = open_kb(corpus_kb_copy)
    path = save_upload(kb.settings, "note.md", b"# Upload note\n\nTrusted adults in Wakefield schools.\n", READERS)
    (doc_id,) = Ingestor(kb).run([path]).files[0].doc_ids
    kept = next(d for d in kb.catalogue.documents() if d.doc_type == "strategy")
    assert remove_document(kb, doc_id) >= 1
    assert not path.exists() and kb.catalogue.get_document(doc_id) is None
    remove_document(kb, kept.doc_id)
    assert Path(kept.source).is_file(), "files outside the uploads folder are never deleted"
    kb.close()


def test_document_view_cites_passages_in_order_and_hides_what_the_viewer_may_not_see(corpus_kb_copy):
    kb = open_kb(corpus_kb_copy)
    cat = kb.catalogue
    strategy = next(d for d in cat.documents() if d.doc_type == "strategy")
    view = document_view(cat, strategy.doc_id, None)
    assert view.document.doc_id == strategy.doc_id
    assert [p.chunk.index for p in view.passages] == list(range(strategy.n_chunks)), "every passage, in order"
    assert all(p.citation.startswith(f"{strategy.title} ({strategy.year})") for p in view.passages)
    assert view.factors and view.priorities
    assert view.factors[:3] == document_tags(cat, [strategy.doc_id])[strategy.doc_id], "most-tagged first"
    assert document_view(cat, strategy.doc_id, ["official"]) is not None
    with cat.transaction() as c:
        c.execute("UPDATE documents SET sensitivity = 'official-sensitive' WHERE doc_id = ?", (strategy.doc_id,))
    assert document_view(cat, strategy.doc_id, ["official"]) is None
    assert document_view(cat, strategy.doc_id, []) is None
    assert document_view(cat, strategy.doc_id, ["official", "official-sensitive"]) is not None
    assert document_view(cat, strategy.doc_id, None) is not None, "sign-in off: everything"
    assert document_view(cat, "no-such-document", None) is None
    kb.close()
