"""What a PDF says about itself: own DOI, title, authors, year and marking, from its metadata and its layout.

Only the first pages and the last page are looked at (`pdf_layout.pages_to_read`), as lines with their font
sizes, so a title is the largest type near the top, not the first line.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from pathlib import Path

from ingest.sources.pdf_layout import EDGE, FIRST_PAGES, PageLayout, band_lines, edges
from kb.ids import citing_context, find_dois
from kb.models import Document

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_YEAR = r"((?:19|20)\d{2})"
_DATE = rf"(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS},?\s+{_YEAR}|{_MONTHS}\s+(?:\d{{1,2}}(?:st|nd|rd|th)?,?\s+)?{_YEAR})"
# How journals print the issue a page belongs to, in running heads and footers.
_ISSUE_RES = (
    re.compile(rf"\b{_YEAR}\s*[;,]\s*\d+\s*[:(,]", re.I),  # "Lancet 2018; 391:", "BMC Public Health 2014, 14:563"
    re.compile(rf"\({_YEAR}\)\s*\d+\s*[:(]", re.I),  # "(2017) 14:81"
    re.compile(rf"\b{_YEAR},?\s+vol\.?\s*\d", re.I),  # "2016 VOL. 5"
    re.compile(rf"\b{_DATE}", re.I),  # "January 20, 2018", "December 31, 2014"
)
# Dates that are not the publication's: when it was downloaded, received or looked at.
_OTHER_DATE_RE = re.compile(r"download|accessed|retrieved|printed|received|accepted|revised|submitted|viewed", re.I)
_PUBLISHED_RE = re.compile(rf"\b(?:first\s+)?published(?:\s+online)?\s*(?:in|on)?\s*:?\s*{_DATE}", re.I)
_PUBLISHED_YEAR_RE = re.compile(rf"\b(?:first\s+)?published(?:\s+online)?\s*(?:in)?\s*:?\s*{_YEAR}\b", re.I)
_COPYRIGHT_RE = re.compile(rf"(?:©|\(c\)|\bcopyright\b)[^\n\d]{{0,30}}?\[?{_YEAR}\b", re.I)
# A cover's date line: "June 2022", "March–April 2023", "Date: 5 June 2022".
_DATE_LINE_RE = re.compile(
    rf"^(?:[^\W\d_][^\W\d_ ]*(?: [^\W\d_]+)?:\s*)?(?:{_DATE}|{_MONTHS}\s*[-–/]\s*{_MONTHS}\s+{_YEAR})\.?$", re.I
)

# Lines that sit large near the top of a first page but are never the title.
_NOT_TITLES = frozenset(
    """article articles research researcharticle researcharticleopenaccess researchopenaccess openaccess
    originalarticle originalresearch originalinvestigation review reviewarticle focusedreview
    systematicreview shortreport shortcommunication brief briefreport letter editorial commentary
    abstract summary contents tableofcontents listoffigures listoftables introduction background foreword
    preface executivesummary keypoints keyfindings keywords acknowledgements acknowledgments methods
    results discussion conclusion conclusions references disclaimer correspondence glossary annex appendix
    anopenaccessjournal""".split()
)
_COVER_CUES = (
    "to cite this article",
    "download by",
    "downloaded by",
    "full terms & conditions",
    "submit your article to this journal",
    "view related articles",
    "view crossmark data",
    "article views",
    "this content downloaded from",
)
_CITE_CUE_RE = re.compile(
    r"\b(?:to cite(?: this (?:article|paper|report))?|cite this (?:article|paper|report)|please cite|how to cite)\b"
    r"|^\s*citation\s*:",
    re.I | re.M,
)
_REFERENCE_ENTRY_RE = re.compile(r"^\s*\[?\d{1,3}[.\]]\s")  # "27. Julious SJ", "[12] Smith J": a reference list
# A line that is a DOI statement ("doi: 10...", "DOI 10...", "https://doi.org/10..."), not a DOI inside a sentence.
_DOI_LINE_RE = re.compile(r"^\s*(?:doi\s*:?\s*(?:10\.|$)|https?://(?:dx\.)?doi\.org/10\.)", re.I)

_DEGREES = frozenset(
    """phd ph.d ph.d. dphil md mbbs mbchb msc ma ba bsc bs ms mph mfph ffph frcp frcpsych mrcp mrcpsych
    fmedsci dmsc dsc rn ceng prof prof. professor dr dr. mr mr. mrs mrs. ms. miss sir""".split()
)
_PARTICLES = frozenset("van von der den de del della da di du dos le la bin al el ter ten".split())
_NOT_NAME_WORDS = re.compile(
    r"\b(?:university|department|school|institute|centre|center|college|faculty|hospital|report|research"
    r"|guide|office|council|ministry|unit|trust|foundation|journal|abstract|background|published|copyright"
    r"|the|for|of|with|from|this|that|is|are|was|study|trial|review)\b",
    re.I,
)
# Public bodies that publish as themselves; named on a report's cover rather than its people.
_CORPORATE = (
    "Home Office",
    "HM Revenue and Customs",
    "HM Revenue & Customs",
    "HM Treasury",
    "HM Inspectorate of Constabulary and Fire & Rescue Services",
    "HM Inspectorate of Probation",
    "HM Prison and Probation Service",
    "Ministry of Justice",
    "Cabinet Office",
    "Department for Education",
    "Department of Health and Social Care",
    "Department for Work and Pensions",
    "Department for Levelling Up, Housing and Communities",
    "College of Policing",
    "Youth Endowment Fund",
    "Early Intervention Foundation",
    "Office for National Statistics",
    "Public Health England",
    "UK Health Security Agency",
    "National Crime Agency",
    "Crown Prosecution Service",
    "Local Government Association",
    "NHS England",
    "Public Health Scotland",
    "Scottish Government",
    "Welsh Government",
)
_PUBLISHED_BY_RE = re.compile(r"\bpublished by (?:the )?([A-Z][\w&'’]*(?: (?:[A-Z][\w&'’]*|and|of|for|&))*)")


def _key(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def generic_heading(text: str) -> bool:
    """A heading every document has ("Abstract", "1 Introduction", "Contents"): never a title."""
    return _key(re.sub(r"^[\d.\s]+", "", text)) in _NOT_TITLES


def is_cover_sheet(layout: PageLayout) -> bool:
    """A publisher's download sheet (Taylor & Francis, JSTOR): it repeats the title but is not the paper."""
    text = " ".join(line.text.lower() for line in layout.lines)
    return sum(cue in text for cue in _COVER_CUES) >= 2


# -- title ----------------------------------------------------------------------------------------------

_TEMPLATE_RE = re.compile(
    r"template|\[.*\]|^(?:insert|type|enter|click)\b.*\btitle|^untitled\b|^microsoft (?:word|powerpoint) document$",
    re.I,
)


def _words(text: str) -> set[str]:
    text = re.sub(r"(\w)-\s*\n\s*(\w)", r"\1\2", text)
    return set(re.findall(r"[^\W\d_]{3,}", unicodedata.normalize("NFKC", text).lower()))


def plausible_title(title: str | None, path: Path, printed: str) -> str | None:
    """A metadata title worth keeping; None for file names, template and word-processor defaults, ids."""
    if not title:
        return None
    title = re.sub(r"^Microsoft (?:Word|PowerPoint|Excel) - ", "", title).strip()
    title = re.sub(r"\.(?:pdf|docx?|odt|pptx?|indd|tex|rtf)$", "", title, flags=re.I).strip()
    alpha_words = re.findall(r"[^\W\d_]{2,}", title)
    if (
        len(title) < 4
        or len(alpha_words) < 2  # "pone.0115884 1..14", "RiskTriggersReport361", "7225547"
        or _key(title) in _NOT_TITLES | {"untitled", "title", "document", "slide", "powerpointpresentation"}
        or _TEMPLATE_RE.search(title)
        or _key(title) == _key(path.stem)
        or (" " not in title and re.search(r"[_\d]|[a-z][A-Z]", title))
    ):
        return None
    # A title the pages never print is a leftover from another document (or a template).
    words = {w.lower() for w in re.findall(r"[^\W\d_]{3,}", title)}
    printed_words = _words(printed)
    if printed_words and words and len(words & printed_words) < 0.5 * len(words):
        return None
    return title


def _running_sizes(layouts: list[PageLayout], page_no: int) -> dict[str, float]:
    """Lines at the edges of the other pages read, with the largest size each is set in there."""
    sizes: dict[str, float] = {}
    for other, layout in enumerate(layouts):
        if other == page_no:
            continue
        for line in layout.lines[:EDGE] + layout.lines[EDGE:][-EDGE:]:
            key = _key(line.text)
            sizes[key] = max(sizes.get(key, 0.0), line.size)
    return sizes


def _candidates(layouts: list[PageLayout], page_no: int) -> list[int]:
    layout = layouts[page_no]
    running = _running_sizes(layouts, page_no)
    keep = []
    for i, line in enumerate(layout.lines):
        text = line.main or line.text
        key = _key(re.sub(r"^[\d.\s]+", "", text))
        if (
            len(key) < 3
            or generic_heading(text)
            # A running head is set as small here as elsewhere; a title repeated small in later heads is not one.
            or (key in running and line.size <= running[key] + 0.5)
            or len(text) > 250
            or re.search(r"https?://|www\.|[\w.+-]+@[\w-]+\.\w|\bdoi\b|10\.\d{4,9}/", text, re.I)
            or _DATE_LINE_RE.match(text)
            or text in _CORPORATE  # "Home Office" set large above a report's title is its author
        ):
            continue
        keep.append(i)
    return keep


def _body_size(layouts: list[PageLayout]) -> float:
    # Over all pages read: a cover page can be mostly title.
    weights: Counter[float] = Counter()
    for line in (line for layout in layouts for line in layout.lines):
        weights[line.size] += len(line.text)
    return weights.most_common(1)[0][0] if weights else 0.0


def _join_title(parts: list[str]) -> str:
    text = ""
    for part in parts:
        # "cluster-" + "randomised": a title keeps its hyphen and loses the line break.
        text = text + part if text.endswith("-") else f"{text} {part}".strip()
    return text


def layout_title(layouts: list[PageLayout]) -> tuple[str, int, int] | None:
    """(title, page, index of the line after it): the largest type on the first page that is the paper's."""
    body = _body_size(layouts)
    for page_no, layout in enumerate(layouts[:FIRST_PAGES]):
        if is_cover_sheet(layout):
            continue
        keep = _candidates(layouts, page_no)
        if not keep:
            continue
        top = max(layout.lines[i].size for i in keep)
        if top < 1.15 * body:
            return None  # one size throughout: the reader falls back to the first heading or line
        start = next(i for i in keep if abs(layout.lines[i].size - top) <= 0.6)
        end = start + 1
        while end < len(layout.lines) and end - start < 6 and end in keep and abs(layout.lines[end].size - top) <= 0.6:
            end += 1
        title = _join_title([layout.lines[i].main or layout.lines[i].text for i in range(start, end)])
        return title, page_no, end
    return None


# -- authors --------------------------------------------------------------------------------------------


def _name(raw: str) -> str | None:
    if re.search(r"[:/@()\[\]|]", raw) or re.search(rf"\b{_DATE}", raw, re.I):
        return None  # "Date: 5 June 2022", "(http://...)": a label or a date, not a person
    tokens = [t for t in re.sub(r"[\d*†‡§¶#]+", " ", raw).replace("’", "'").split() if t.lower() not in _DEGREES]
    name = " ".join(tokens).strip(" ,.;")
    tokens = name.split()
    if not (2 <= len(tokens) <= 6) or _NOT_NAME_WORDS.search(name):
        return None
    if not (tokens[0][:1].isupper() and tokens[-1][:1].isupper() and len(tokens[-1].strip(".")) >= 2):
        return None
    if not all(t[:1].isupper() or t.lower() in _PARTICLES for t in tokens):
        return None
    return name


def _surname_first(part: str) -> str | None:
    """ "Smith, Jane" or "van Sluijs, Esther M F" -> the name in reading order; None for "Jamie Brown, Susan"."""
    if part.count(",") != 1:
        return None
    left, right = (side.split() for side in part.split(","))
    if not right or not left or any(t.lower() not in _PARTICLES for t in left[:-1]):
        return None
    return " ".join([*right, *left])


def split_authors(value: str) -> list[str]:
    """ "A. Analyst; B. Writer", "Smith, Jane; Doe, J.", "Jamie Brown, Susan Michie and Robert West" -> names."""
    names = []
    for part in re.split(r"\s*;\s*|\s+and\s+|\s*&\s*", value):
        pieces = [flipped] if (flipped := _surname_first(part)) else re.split(r"\s*,\s*", part)
        names += [n for p in pieces if p.strip() and (n := _name(p)) is not None]
    return names


def _strip_markers(names: list[str], following: list[str]) -> list[str]:
    # "Emily Peacha and Jilly Martinb" over "aSchool of ...; bDepartment of ...": letters as markers.
    markers = set()
    for line in following:
        markers |= set(re.findall(r"(?:^|[;,]\s*)([a-z])(?=[A-Z][a-z])", line))
    if markers and all(n[-1] in markers for n in names):
        return [n[:-1] for n in names]
    return names


def layout_authors(layout: PageLayout, after: int) -> list[str]:
    """Names in the lines under the title: mostly names, or nothing."""
    lines = layout.lines[after : after + 6]
    if not lines:
        return []
    size = lines[0].size
    taken = []
    for line in lines:
        if (
            abs(line.size - size) > 0.6
            or generic_heading(line.text)
            or _DATE_LINE_RE.match(line.text)
            or len(taken) == 4
        ):
            break
        taken.append(line.main or line.text)
    parts = [p for p in re.split(r"\s*;\s*|\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*", ", ".join(taken)) if p.strip()]
    parts = [p for p in parts if re.search(r"[^\W\d_]{2}", p)]  # "1,2*" markers split off
    names = [n for p in parts if (n := _name(p)) is not None]
    if not names or len(names) < 0.6 * len(parts) or _name(parts[0]) is None:
        return []
    rest = [ln.text for ln in layout.lines[after + len(taken) : after + len(taken) + 3]]
    return _strip_markers(names, rest)


def surname(name: str) -> str:
    return _key(name.split()[-1]) if name.split() else ""


def corporate_author(texts: list[str]) -> str | None:
    """The public body that published the document, when it names itself in the pages read."""
    for text in texts:
        flat = " ".join(text.split())
        # "Published by HM Revenue and Customs" names the publisher even after other bodies are mentioned.
        published_by = m.group(1) if (m := _PUBLISHED_BY_RE.search(flat)) else ""
        if body := next((c for c in _CORPORATE if published_by.startswith(c)), None):
            return body
        if body := next((c for c in _CORPORATE if re.search(rf"\b{re.escape(c)}\b", flat)), None):
            return body
    return None


# -- year -----------------------------------------------------------------------------------------------


def printed_year(layouts: list[PageLayout], first: int) -> int | None:
    """The publication year the pages print: issue line in a running head, 'Published', a cover date, ©."""
    for line in band_lines(layouts, first):
        if _OTHER_DATE_RE.search(line):
            continue
        for pattern in _ISSUE_RES:
            if m := pattern.search(line):
                return int(next(g for g in m.groups() if g))
    texts = [unicodedata.normalize("NFKC", layout.text) for layout in layouts]
    for page_no, text in enumerate(texts):
        if page_no >= FIRST_PAGES:
            # On the last page only a line that starts "Published": references there say "published 2019".
            text = "\n".join(ln for ln in text.split("\n") if re.match(r"\s*published\b", ln, re.I))
        if m := _PUBLISHED_RE.search(text) or _PUBLISHED_YEAR_RE.search(text):
            return int(next(g for g in m.groups() if g))
    title_page = layouts[first] if first < len(layouts) else None
    for line in title_page.lines if title_page else []:
        if _DATE_LINE_RE.match(line.text) and not _OTHER_DATE_RE.search(line.text):
            return int(next(g for g in _DATE_LINE_RE.match(line.text).groups() if g))
    for text in texts:
        if m := _COPYRIGHT_RE.search(text):
            return int(m.group(1))
    return None


# -- DOI ------------------------------------------------------------------------------------------------


def _own(text: str) -> str | None:
    for match in find_dois(text):
        if not citing_context(text[: match.start]):
            return match.doi
    return None


def _title_block_doi(title_page: PageLayout) -> str | None:
    # A DOI statement among the title page's edges or in its title block (before the abstract starts).
    statements = [t for t in edges([ln.text for ln in title_page.lines]) if _DOI_LINE_RE.search(t)]
    if doi := _own("\n".join(statements)):
        return doi
    block = []
    for line in title_page.lines[:40]:
        if _key(line.text) in {"abstract", "summary", "introduction", "background"}:
            break
        block.append(line.text)
    for i, line in enumerate(block):
        if _DOI_LINE_RE.search(line) and (doi := _own("\n".join(block[i : i + 2]))):
            return doi
    # Elsevier's sidebar: "Published Online" / "November 11, 2017" / "http://dx.doi.org/10.1016/" / "S0140-...".
    lines = [ln.text for ln in title_page.lines]
    for i, line in enumerate(lines):
        if not re.match(r"\s*published online\b", line, re.I):
            continue
        for j in range(i, min(i + 3, len(lines))):
            if _DOI_LINE_RE.search(lines[j]) and (doi := _own("\n".join(lines[j : j + 2]))):
                return doi
    return None


def _cite_box_doi(layout: PageLayout) -> str | None:
    lines = [ln.text for ln in layout.lines]
    for i, line in enumerate(lines):
        if not (cue := _CITE_CUE_RE.search(line)):
            continue
        box = [line[cue.start() :]]
        for following in lines[i + 1 : i + 12]:  # BMJ's box runs to eleven narrow lines
            if _REFERENCE_ENTRY_RE.match(following):
                break  # a reference list starts: its DOIs are citations
            box.append(following)
        if doi := _own("\n".join(box)):
            return doi
        # BMC prints "doi:10.1186/..." alone on the line just above "Cite this article as".
        if i and re.fullmatch(r"(?:doi:?\s*|https?://(?:dx\.)?doi\.org/)\S+", lines[i - 1], re.I):
            if doi := _own(lines[i - 1]):
                return doi
    return None


def layout_doi(layouts: list[PageLayout], first: int) -> str | None:
    """The document's own DOI from where journals print it: running band, title-block line, cite box."""
    if doi := _own("\n".join(band_lines(layouts, None))):
        return doi
    if first < len(layouts) and (doi := _title_block_doi(layouts[first])):
        return doi
    return next((doi for layout in layouts if (doi := _cite_box_doi(layout))), None)


# -- metadata -------------------------------------------------------------------------------------------


def xmp_text(reader: object) -> str:
    """The raw XMP packet as text ('' when there is none or it cannot be read)."""
    try:
        stream = reader.root_object.get("/Metadata")
        data = stream.get_object().get_data() if stream is not None else b""
    except Exception:  # noqa: BLE001 - a broken XMP stream only costs the XMP fields
        return ""
    return data[:500_000].decode("utf-8", "replace")


def _xmp_items(xmp: str, tag: str) -> list[str]:
    m = re.search(rf"<{tag}\b[^>]*>(.*?)</{tag}>", xmp, re.S)
    if m:
        items = re.findall(r"<rdf:li\b[^>]*>(.*?)</rdf:li>", m.group(1), re.S) or [m.group(1)]
    else:
        items = re.findall(rf'\b{tag}="([^"]*)"', xmp)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", i)).split()) for i in items if i.strip()]


def metadata_doi(info: dict[str, str | None], xmp: str) -> str | None:
    """A DOI the file's metadata gives as its own: /doi, 'doi:' in /Subject or /Keywords, XMP prism:doi."""
    for value in (info.get("/doi"), info.get("/DOI"), *_xmp_items(xmp, "prism:doi")):
        if value and (found := find_dois(value)):
            return found[0].doi
    for value in (info.get("/Subject"), info.get("/Keywords"), *_xmp_items(xmp, "dc:identifier")):
        if value and re.search(r"\bdoi\b|10\.\d{4,9}/", value, re.I) and (found := find_dois(value)):
            if len({f.doi for f in found}) == 1:  # several DOIs in one field: a list of citations
                return found[0].doi
    return None


def metadata_authors(info: dict[str, str | None], xmp: str) -> list[str]:
    creators = [n for c in _xmp_items(xmp, "dc:creator") if (n := _name(c)) is not None]
    return creators or split_authors(info.get("/Author") or "")


def metadata_titles(info: dict[str, str | None], xmp: str) -> list[str]:
    return [t for t in (info.get("/Title"), *_xmp_items(xmp, "dc:title")[:1]) if t]


def metadata_year(info: dict[str, str | None], xmp: str) -> int | None:
    for tag in ("prism:coverDate", "prism:publicationDate", "prism:coverDisplayDate"):
        for value in _xmp_items(xmp, tag):
            if m := re.search(rf"\b{_YEAR}\b", value):
                return int(m.group(1))
    subject = info.get("/Subject") or ""
    if re.search(r"\bdoi\b", subject, re.I) and (m := re.search(rf"\(?\b{_YEAR}\b\)?", subject)):
        return int(m.group(1))
    return None


def creation_year(info: dict[str, str | None]) -> int | None:
    match = re.match(r"(?:D:)?((?:19|20)\d{2})", info.get("/CreationDate") or "")
    return int(match.group(1)) if match else None


# -- putting it together --------------------------------------------------------------------------------


def _authors(
    document: Document, info: dict[str, str | None], xmp: str, layouts: list[PageLayout], found: tuple | None
) -> None:
    sources = document.field_sources
    printed_names = layout_authors(layouts[found[1]], found[2]) if found else []
    meta_names = metadata_authors(info, xmp)
    # A metadata author the pages never print is a template's or a typist's ("Laura Anderton").
    printed_words = {_key(w) for w in re.findall(r"[^\W\d_]{2,}", "\n".join(lay.text for lay in layouts))}
    verified = bool(meta_names) and surname(meta_names[0]) in printed_words
    if verified and printed_names and surname(printed_names[0]) == surname(meta_names[0]):
        # Metadata often names the first author only; the title page names them all.
        longer = printed_names if len(printed_names) > len(meta_names) else meta_names
        document.authors, sources["authors"] = longer, "layout" if longer is printed_names else "metadata"
    elif verified:
        document.authors, sources["authors"] = meta_names, "metadata"
    elif printed_names:
        document.authors, sources["authors"] = printed_names, "layout"
    elif not document.doi and (corporate := corporate_author([lay.text for lay in layouts])):
        # Only for a document without a DOI: a journal article that mentions the Home Office is not by it.
        document.authors, sources["authors"] = [corporate], "layout"
    elif meta_names:
        document.authors, sources["authors"] = meta_names, "metadata"


def describe(document: Document, info: dict[str, str | None], xmp: str, layouts: list[PageLayout], path: Path) -> str:
    """Fill the document's own DOI, title, authors and year, recording each field's source.

    `layouts` are the pages of `pages_to_read` in order (first pages, then the last). Returns the first
    line that could serve as a title when neither metadata nor layout gives one ('' when none).
    """
    sources = document.field_sources
    first = next((i for i, lay in enumerate(layouts[:FIRST_PAGES]) if not is_cover_sheet(lay)), 0)

    if doi := metadata_doi(info, xmp):
        document.doi, sources["doi"] = doi, "metadata"
    elif doi := layout_doi(layouts, first):
        document.doi, sources["doi"] = doi, "layout"

    found = layout_title(layouts)
    printed = "\n".join(lay.text for lay in layouts)
    meta_title = next((t for v in metadata_titles(info, xmp) if (t := plausible_title(v, path, printed))), None)
    if meta_title:
        document.title, sources["title"] = meta_title, "metadata"
    elif found:
        document.title, sources["title"] = found[0], "layout"

    _authors(document, info, xmp, layouts, found)

    if (year := printed_year(layouts, first)) is not None:
        document.year, sources["year"] = year, "layout"
    elif (year := metadata_year(info, xmp)) is not None:
        document.year, sources["year"] = year, "metadata"
    elif (year := creation_year(info)) is not None:
        document.year, sources["year"] = year, "file date"

    keep = _candidates(layouts, first) if first < len(layouts) else []
    return layouts[first].lines[keep[0]].text if keep else ""
