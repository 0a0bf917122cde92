"""PDF metadata from the file itself: title, first author, year, own DOI and marking, on real and made PDFs."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fpdf import FPDF
from pypdf import PdfReader
from rapidfuzz import fuzz

from ingest.sources import ReadOptions, pdf_authors, pdf_layout, pdf_meta, pdf_title
from ingest.sources.pdf import read
from kb.models import Document

DATA = Path(__file__).parent / "data" / "real-pdfs"

# The table in ../shared/data/README.md: file, title as printed, first author, year, own DOI.
TRUTH = [
    (
        "lancet2018_aldridge_inclusion_health_prisoners.pdf",
        "Morbidity and mortality in homeless individuals, prisoners, sex workers, and individuals with substance "
        "use disorders in high-income countries: a systematic review and meta-analysis",
        "Aldridge",
        2018,
        "10.1016/S0140-6736(17)31869-X",
    ),
    (
        "lancetrespmed2014_brown_stopadvisor_smoking_low_ses.pdf",
        "Internet-based intervention for smoking cessation (StopAdvisor) in people with low and high "
        "socioeconomic status: a randomised controlled trial",
        "Brown",
        2014,
        "10.1016/S2213-2600(14)70195-X",
    ),
    (
        "bmjopen2016_corder_goactive_adolescents.pdf",
        "Feasibility study and pilot cluster-randomised controlled trial of the GoActive intervention aiming to "
        "promote physical activity among adolescents: outcomes and lessons learnt",
        "Corder",
        2016,
        "10.1136/bmjopen-2016-012335",
    ),
    (
        "bmcpublichealth2014_epton_uatuni_students.pdf",
        "A theory-based online health behaviour intervention for new university students (U@Uni): results from "
        "a randomised controlled trial",
        "Epton",
        2014,
        "10.1186/1471-2458-14-563",
    ),
    (
        "ijbnpa2017_okely_girls_in_sport.pdf",
        "Promoting physical activity among adolescent girls: the Girls in Sport group randomized trial",
        "Okely",
        2017,
        "10.1186/s12966-017-0535-6",
    ),
    (
        "hpbm2016_peach_adolescent_healthy_eating_tandf_coverpage.pdf",
        "Utilising implementation intentions to promote healthy eating in adolescents",
        "Peach",
        2016,
        "10.1080/21642850.2016.1256211",
    ),
    (
        "plosone2014_iskandar_fanged_frog.pdf",
        "A Novel Reproductive Mode in Frogs: A New Species of Fanged Frog with Internal Fertilization and Birth "
        "of Tadpoles",
        "Iskandar",
        2014,
        "10.1371/journal.pone.0115884",
    ),
    (
        "frontiers2015_range_canine_cooperation.pdf",
        'Tracking the evolutionary origins of dog-human cooperation: the "Canine Cooperation Hypothesis"',
        "Range",
        2015,
        "10.3389/fpsyg.2014.01582",
    ),
    (
        "homeoffice2025_first_responder_guide_modern_slavery_OGL.pdf",
        "First responder guide for England and Wales: Referring victims of modern slavery and human trafficking",
        "Home Office",
        2025,
        None,
    ),
    (
        "hmrc2015_research_report_361_risk_triggers.pdf",
        "Research into the Behavioural Effects of building in Risk Triggers to Third Party Software",
        "HM Revenue and Customs",
        2015,
        None,
    ),
]
CITED_ON_BROWN_PAGE_1 = "10.1016/s2213-2600(14)70214-0"


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text)).casefold()
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w\s]|_", "", text).split())


def _title_ok(got: str, want: str) -> bool:
    return fuzz.ratio(_norm(got), _norm(want)) >= 90


def _author_ok(authors: list[str], want: str) -> bool:
    if not authors:
        return False
    if " " in want:  # a corporate author is matched whole
        return _norm(authors[0]) == _norm(want)
    return _norm(authors[0]).split()[-1] == _norm(want)


def _score(rows: list[tuple[str, Document]]) -> tuple[dict[str, int], str]:
    score = {"title": 0, "author": 0, "year": 0, "doi": 0}
    table = [f"{'file':<34} {'title':^5} {'author':^6} {'year':^4} {'doi':^3}  got"]
    truth = {t[0]: t for t in TRUTH}
    for name, doc in rows:
        _, title, author, year, doi = truth[name]
        marks = {
            "title": _title_ok(doc.title, title),
            "author": _author_ok(doc.authors, author),
            "year": doc.year == year,
            "doi": doc.doi == (doi.lower() if doi else None),
        }
        for key, ok in marks.items():
            score[key] += ok
        flags = " ".join(f"{'ok' if marks[k] else 'NO':^{w}}" for k, w in (("title", 5), ("author", 6), ("year", 4)))
        got = f"{doc.title[:50]!r} / {doc.authors[:1]} / {doc.year} / {doc.doi}"
        table.append(f"{name[:34]:<34} {flags} {'ok' if marks['doi'] else 'NO':^3}  {got}")
    table.append("score: " + ", ".join(f"{k} {v}/{len(rows)}" for k, v in score.items()))
    return score, "\n".join(table)


@pytest.mark.shared_data
def test_real_pdfs_title_author_year_and_own_doi(shared_data: Path, capsys: pytest.CaptureFixture) -> None:
    rows = []
    for name, *_ in TRUTH:
        [parsed] = read(shared_data / "real-pdfs" / name, ReadOptions()).documents
        rows.append((name, parsed.document))
    score, table = _score(rows)
    with capsys.disabled():
        print("\nreal-pdfs metadata (file as read):\n" + table)
    assert score["title"] >= 9 and score["author"] >= 9 and score["year"] >= 9, table
    assert score["doi"] == len(TRUTH), table
    docs = dict(rows)
    for name, *_, doi in TRUTH:
        expected = f"doi:{doi.lower()}" if doi else "sha256:"
        assert docs[name].doc_id.startswith(expected), (name, docs[name].doc_id)
    assert all(set(d.field_sources) >= {"title", "authors", "year"} for d in docs.values())


@pytest.mark.shared_data
def test_real_pdfs_layout_alone_never_takes_a_cited_doi(shared_data: Path, capsys: pytest.CaptureFixture) -> None:
    # The same files with their metadata withheld: only what the pages print is evidence.
    rows = []
    for name, *_ in TRUTH:
        reader = PdfReader(shared_data / "real-pdfs" / name)
        pages = sorted(pdf_layout.pages_to_read(len(reader.pages)))
        document = Document(doc_id="", title="", doc_type="research", source=name)
        pdf_meta.describe(document, {}, "", [pdf_layout.page_layout(reader.pages[i]) for i in pages], Path(name))
        rows.append((name, document))
    score, table = _score(rows)
    with capsys.disabled():
        print("\nreal-pdfs metadata (layout only, metadata withheld):\n" + table)
    assert score["doi"] == len(TRUTH), table  # right DOI, or none for the two government reports
    docs = dict(rows)
    assert docs["lancetrespmed2014_brown_stopadvisor_smoking_low_ses.pdf"].doi == "10.1016/s2213-2600(14)70195-x"
    assert docs["bmcpublichealth2014_epton_uatuni_students.pdf"].doi == "10.1186/1471-2458-14-563"
    assert score["title"] >= 9 and score["author"] >= 9 and score["year"] >= 9, table


def test_brown_regression_file_takes_its_own_doi_not_the_linked_comment() -> None:
    [parsed] = read(DATA / "lancetrespmed2014_brown_stopadvisor_smoking_low_ses.pdf", ReadOptions()).documents
    document = parsed.document
    assert document.doi == "10.1016/s2213-2600(14)70195-x" != CITED_ON_BROWN_PAGE_1
    assert document.doc_id == "doi:10.1016/s2213-2600(14)70195-x"
    assert document.authors[:2] == ["Jamie Brown", "Susan Michie"]  # not "Dr Jamie Brown PhD"
    assert document.year == 2014
    assert document.field_sources["year"] == "layout"


def test_metadata_pages_are_the_first_three_and_the_last() -> None:
    assert pdf_layout.pages_to_read(32) == {0, 1, 2, 31}
    assert pdf_layout.pages_to_read(2) == {0, 1}
    assert pdf_layout.pages_to_read(1) == {0}


# -- PDFs made here (fpdf2): one thing each -------------------------------------------------------------


class _Pdf(FPDF):
    def __init__(self, header: str | None = None, footer: str | None = None):
        super().__init__()
        self.core_fonts_encoding = "windows-1252"  # en dashes, as Word writes them
        self.running_header, self.running_footer = header, footer

    def header(self) -> None:
        if self.running_header:
            self.set_font("Helvetica", size=9)
            self.cell(0, 6, self.running_header, align="C", new_x="LMARGIN", new_y="NEXT")

    def footer(self) -> None:
        if self.running_footer:
            self.set_y(-15)
            self.set_font("Helvetica", size=9)
            self.cell(0, 6, self.running_footer, align="C")

    def lines(self, size: float, *texts: str) -> None:
        self.set_font("Helvetica", size=size)
        for text in texts:
            self.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")


BODY = [f"Paragraph {i}: youth workers met young people in the evening and recorded what happened." for i in range(8)]


def _make(path: Path, pages: list[list[tuple[float, str]]], metadata: dict[str, str] | None = None, **bands) -> Path:
    pdf = _Pdf(**bands)
    for meta_key, value in (metadata or {}).items():
        setattr(pdf, meta_key, value)
    for page in pages:
        pdf.add_page()
        for size, text in page:
            pdf.lines(size, text)
    pdf.output(str(path))
    return path


@pytest.mark.parametrize(
    ("band", "marking"),
    [
        ("header", "OFFICIAL-SENSITIVE"),
        ("header", "Official \u2013 Sensitive"),
        ("footer", "official sensitive"),
    ],
)
def test_marking_in_header_or_footer_makes_the_pdf_official_sensitive(tmp_path: Path, band: str, marking: str) -> None:
    pages = [[(20, "Serious Violence Problem Profile"), *[(11, t) for t in BODY]] for _ in range(3)]
    pdf = _make(tmp_path / "profile.pdf", pages, **{band: marking})
    [parsed] = read(pdf, ReadOptions(sensitivity="official")).documents
    assert parsed.document.sensitivity == "official-sensitive"
    # It was read before the running lines went: the passages do not carry it.
    assert not any("sensitive" in b.text.lower() for b in parsed.blocks)


def test_marking_alone_on_a_line_mid_page_still_marks(tmp_path: Path) -> None:
    # Two-column extraction can put a header between the columns: a bare marking line is never body text.
    body = [*BODY[:4], "OFFICIAL-SENSITIVE: PERSONAL", *BODY[4:]]
    pdf = _make(tmp_path / "case.pdf", [[(20, "Case Review"), *[(11, t) for t in body]]])
    assert read(pdf, ReadOptions()).documents[0].document.sensitivity == "official-sensitive"


def test_marking_mentioned_in_body_text_does_not_mark(tmp_path: Path) -> None:
    body = [*BODY[:4], "Documents marked OFFICIAL-SENSITIVE are handled by the analysts.", *BODY[4:]]
    pdf = _make(tmp_path / "handling.pdf", [[(20, "Information Handling Guide"), *[(11, t) for t in body]]])
    assert read(pdf, ReadOptions()).documents[0].document.sensitivity == "official"


def test_cover_date_beats_the_file_creation_date(tmp_path: Path) -> None:
    # The issue's report dated June 2022 got 2021, the year its file was made.
    cover = [(24, "Leeds Serious Violence Strategy"), (14, "Community Safety Partnership"), (14, "June 2022")]
    pdf = _make(
        tmp_path / "strategy.pdf",
        [cover, [(11, "Data for this strategy were collected in 2021 in five districts."), *[(11, t) for t in BODY]]],
        metadata={"creation_date": datetime(2021, 11, 3, tzinfo=UTC)},
    )
    document = read(pdf, ReadOptions()).documents[0].document
    assert (document.year, document.field_sources["year"]) == (2022, "layout")
    assert document.title == "Leeds Serious Violence Strategy"


def test_creation_date_is_the_last_resort_and_says_so(tmp_path: Path) -> None:
    pdf = _make(
        tmp_path / "notes.pdf",
        [[(18, "Notes From The Partnership Meeting"), *[(11, t) for t in BODY]]],
        metadata={"creation_date": datetime(2019, 5, 1, tzinfo=UTC)},
    )
    document = read(pdf, ReadOptions()).documents[0].document
    assert (document.year, document.field_sources["year"]) == (2019, "file date")


MIME_SPEC = Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf")  # Debian's shared-mime-info


def test_a_version_date_beats_the_file_date(tmp_path: Path) -> None:
    """The freedesktop.org MIME specification prints "last updated 2 October 2018" and no other date; it was
    filed under 2022, the day its PDF was built."""
    intro = "This is version 0.21 of the Shared MIME-info Database specification, last updated 2 October 2018."
    pdf = _make(
        tmp_path / "spec.pdf",
        [[(18, "Shared MIME-info Database"), (11, "1.1. Version"), (11, intro), *[(11, t) for t in BODY]]],
        metadata={"creation_date": datetime(2022, 4, 29, tzinfo=UTC)},
    )
    document = read(pdf, ReadOptions()).documents[0].document
    assert (document.year, document.field_sources["year"]) == (2018, "layout")


@pytest.mark.skipif(not MIME_SPEC.exists(), reason=f"{MIME_SPEC} is not installed (Debian package shared-mime-info)")
def test_the_real_mime_specification_is_dated_as_printed() -> None:
    document = read(MIME_SPEC, ReadOptions()).documents[0].document
    assert (document.title, document.year) == ("Shared MIME-info Database", 2018)


LIBTASN1 = Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf")  # Debian's libtasn1-doc


def test_authors_under_a_subtitle_in_other_type_are_found(tmp_path: Path) -> None:
    """The GNU libtasn1 manual sets a subtitle and a version line under its title, then one author a line, the
    last with an address: no author was found."""
    cover = [
        (20.7, "Libtasn1"),
        (10.9, "Abstract Syntax Notation One (ASN.1) library for the GNU system"),
        (10.9, "for version 4.19.0, 18 August 2022"),
        (14.3, "Fabio Fiorina"),
        (14.3, "Simon Josefsson"),
        (14.3, "Nikos Mavrogiannopoulos (help-libtasn1@gnu.org)"),
    ]
    pdf = _make(tmp_path / "manual.pdf", [cover, [(11, t) for t in BODY]])
    document = read(pdf, ReadOptions()).documents[0].document
    assert document.authors == ["Fabio Fiorina", "Simon Josefsson", "Nikos Mavrogiannopoulos"]
    assert document.field_sources["authors"] == "layout"
    # A subtitle over a paragraph names no one.
    prose = [(20.7, "Libtasn1"), (10.9, "A library for the GNU system"), (14.3, "Installation And Use Notes")]
    pdf = _make(tmp_path / "notes.pdf", [prose, [(11, t) for t in BODY]])
    assert read(pdf, ReadOptions()).documents[0].document.authors == []


@pytest.mark.skipif(not LIBTASN1.exists(), reason=f"{LIBTASN1} is not installed (Debian package libtasn1-doc)")
def test_the_real_libtasn1_manual_names_its_three_authors() -> None:
    document = read(LIBTASN1, ReadOptions()).documents[0].document
    assert document.authors == ["Fabio Fiorina", "Simon Josefsson", "Nikos Mavrogiannopoulos"]


def test_title_from_largest_type_skips_masthead_and_authors_lose_degrees(tmp_path: Path) -> None:
    page = [
        (9, "RESEARCH ARTICLE"),
        (22, "Mentoring and Knife Crime Among"),
        (22, "Young People in West Yorkshire"),
        (11, "Jane Smith PhD1, Omar Khan MSc2* and Dr Aisha Patel3"),
        (8, "1 University of Leeds, Leeds, UK; 2 University of Bradford, Bradford, UK"),
        (12, "Abstract"),
        *[(10, t) for t in BODY],
    ]
    pdf = _make(
        tmp_path / "paper.pdf", [page, [(10, t) for t in BODY]], metadata={"title": "Microsoft Word - draft3.docx"}
    )
    document = read(pdf, ReadOptions()).documents[0].document
    assert document.title == "Mentoring and Knife Crime Among Young People in West Yorkshire"
    assert document.authors == ["Jane Smith", "Omar Khan", "Aisha Patel"]
    assert document.field_sources["title"] == document.field_sources["authors"] == "layout"


@pytest.mark.parametrize(
    "title",
    [
        "Microsoft Word - x.docx",
        "Home Office document template",
        "RiskTriggersReport361",
        "pone.0115884 1..14",
        "untitled",
        "Abstract",
        "report_final_v2",
        "7225547",
        "[Title of document]",
    ],
)
def test_junk_metadata_titles_are_refused(title: str) -> None:
    assert pdf_title.plausible_title(title, Path("report_final_v2.pdf"), "") is None


def test_metadata_title_that_the_pages_never_print_is_refused() -> None:
    printed = "Knife crime in Bradford fell after the first year of the mentoring programme."
    assert pdf_title.plausible_title("Quarterly Finance Return Summary", Path("x.pdf"), printed) is None
    assert pdf_title.plausible_title("Knife Crime in Bradford", Path("x.pdf"), printed) == "Knife Crime in Bradford"


def test_two_pdfs_citing_the_same_doi_in_body_text_stay_two(tmp_path: Path) -> None:
    cited = "Earlier work (https://doi.org/10.1016/j.avb.2020.101234) found mentoring reduced reoffending."
    docs = []
    for name, title in (("a.pdf", "Mentoring in Leeds Schools"), ("b.pdf", "Detached Youth Work in Wakefield")):
        pdf = _make(tmp_path / name, [[(20, title), (11, cited), *[(11, f"{title}: {t}") for t in BODY]]])
        docs.append(read(pdf, ReadOptions()).documents[0].document)
    assert [d.doi for d in docs] == [None, None]
    assert docs[0].doc_id != docs[1].doc_id and all(d.doc_id.startswith("sha256:") for d in docs)
    assert all("doi" not in d.field_sources for d in docs)


def test_doi_split_in_the_title_block_is_rejoined(tmp_path: Path) -> None:
    page = [(20, "Street Outreach and Violent Injury"), (9, "doi:10.1136/bmjopen-2016-"), (9, "012335")]
    pdf = _make(tmp_path / "outreach.pdf", [[*page, (12, "Abstract"), *[(10, t) for t in BODY]]])
    document = read(pdf, ReadOptions()).documents[0].document
    assert (document.doi, document.field_sources["doi"]) == ("10.1136/bmjopen-2016-012335", "layout")


def test_doi_cut_short_in_the_title_block_gives_the_content_hash(tmp_path: Path) -> None:
    page = [(20, "Street Outreach and Violent Injury"), (9, "doi:10.1136/bmjopen-2016-"), (12, "Abstract")]
    pdf = _make(tmp_path / "outreach.pdf", [[*page, *[(10, t) for t in BODY]]])
    document = read(pdf, ReadOptions()).documents[0].document
    assert document.doi is None and document.doc_id.startswith("sha256:")


def _with_references(tmp_path: Path, cite_box: bool) -> Document:
    references = [
        "1. Smith J. Mentoring outcomes. J Youth Stud 2019. doi:10.1080/13676261.2019.1234567.",
        "2. Khan O. Detached youth work. Child Soc 2020. doi: 10.1111/chso.12345.",
    ]
    box = ["doi:10.1186/1471-2458-14-999", "Cite this article as: Patel et al.: Youth work. BMC Public Health 2014."]
    pages = [
        [(20, "Youth Work and Serious Violence"), (11, "Aisha Patel, Omar Khan"), *[(10, t) for t in BODY]],
        [(10, t) for t in BODY],
        [(10, "References"), *[(9, r) for r in references], *[(9, b) for b in (box if cite_box else [])]],
    ]
    return read(_make(tmp_path / f"bmc{cite_box}.pdf", pages), ReadOptions()).documents[0].document


def test_own_doi_in_a_cite_box_on_the_last_page_beside_reference_dois(tmp_path: Path) -> None:
    assert _with_references(tmp_path, cite_box=True).doi == "10.1186/1471-2458-14-999"


def test_reference_dois_alone_are_never_identity(tmp_path: Path) -> None:
    document = _with_references(tmp_path, cite_box=False)
    assert document.doi is None and document.doc_id.startswith("sha256:")


def test_running_head_in_large_type_is_skipped_but_a_title_repeated_small_is_kept(tmp_path: Path) -> None:
    masthead = (18, "Leeds Community Safety Partnership")
    pages = [
        [masthead, (16, "Knife Crime Problem Profile"), *[(11, t) for t in BODY]],
        [masthead, *[(11, t) for t in BODY]],
        [masthead, *[(11, t) for t in BODY]],
    ]
    assert read(_make(tmp_path / "a.pdf", pages), ReadOptions()).documents[0].document.title == (
        "Knife Crime Problem Profile"
    )
    pages = [
        [(20, "Knife Crime Problem Profile"), *[(11, t) for t in BODY]],
        [(8, "Knife Crime Problem Profile"), *[(11, t) for t in BODY]],
        [(8, "Knife Crime Problem Profile"), *[(11, t) for t in BODY]],
    ]
    assert read(_make(tmp_path / "b.pdf", pages), ReadOptions()).documents[0].document.title == (
        "Knife Crime Problem Profile"
    )


def test_a_reference_published_on_the_last_page_does_not_date_the_document(tmp_path: Path) -> None:
    pages = [
        [(20, "Youth Work and Serious Violence"), *[(11, t) for t in BODY]],
        [(11, t) for t in BODY],
        [(11, t) for t in BODY],
        [(10, "References"), (9, "1. Youth Endowment Fund. Toolkit [Internet]. Published 2019 [cited 2024].")],
    ]
    pdf = _make(tmp_path / "yw.pdf", pages, metadata={"creation_date": datetime(2024, 2, 1, tzinfo=UTC)})
    document = read(pdf, ReadOptions()).documents[0].document
    assert (document.year, document.field_sources["year"]) == (2024, "file date")


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("Smith, Jane; Doe, J.", ["Jane Smith", "J. Doe"]),
        ("van Sluijs, Esther M F", ["Esther M F van Sluijs"]),
        ("Jamie Brown, Susan Michie and Robert West", ["Jamie Brown", "Susan Michie", "Robert West"]),
        ("Dr Jamie Brown PhD", ["Jamie Brown"]),
        ("Prof Stephen W Hwang MD", ["Stephen W Hwang"]),
        ("7225547", []),
    ],
)
def test_metadata_author_strings(value: str, names: list[str]) -> None:
    assert pdf_authors.split_authors(value) == names


def test_government_cover_gives_corporate_author_over_template_metadata(tmp_path: Path) -> None:
    cover = [(28, "Home Office"), (22, "Serious Violence Duty"), (22, "Statutory Guidance"), (14, "Date: 5 June 2022")]
    pages = [cover, [(11, "© Crown copyright 2021"), *[(11, t) for t in BODY]], [(11, t) for t in BODY]]
    pdf = _make(tmp_path / "duty.pdf", pages, metadata={"author": "Laura Anderton", "title": "Home Office template"})
    document = read(pdf, ReadOptions()).documents[0].document
    assert document.title == "Serious Violence Duty Statutory Guidance"
    assert document.authors == ["Home Office"]
    assert document.year == 2022  # the cover's date, not the © line
    assert document.doi is None and document.doc_id.startswith("sha256:")
