"""Words and patterns the PDF metadata readers share: dates, headings every document has, public bodies."""

from __future__ import annotations

import re

MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
YEAR = r"((?:19|20)\d{2})"
DATE = rf"(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{MONTHS},?\s+{YEAR}|{MONTHS}\s+(?:\d{{1,2}}(?:st|nd|rd|th)?,?\s+)?{YEAR})"
# A cover's date line: "June 2022", "March–April 2023", "Date: 5 June 2022".
DATE_LINE_RE = re.compile(
    rf"^(?:[^\W\d_][^\W\d_ ]*(?: [^\W\d_]+)?:\s*)?(?:{DATE}|{MONTHS}\s*[-–/]\s*{MONTHS}\s+{YEAR})\.?$", re.I
)

# Lines that sit large near the top of a first page but are never the title.
NOT_TITLES = frozenset(
    """article articles research researcharticle researcharticleopenaccess researchopenaccess openaccess
    originalarticle originalresearch originalinvestigation review reviewarticle focusedreview
    systematicreview shortreport shortcommunication brief briefreport letter editorial commentary
    abstract summary contents tableofcontents listoffigures listoftables introduction background foreword
    preface executivesummary keypoints keyfindings keywords acknowledgements acknowledgments methods
    results discussion conclusion conclusions references disclaimer correspondence glossary annex appendix
    anopenaccessjournal""".split()
)
# Public bodies that publish as themselves; named on a report's cover rather than its people.
CORPORATE = (
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


def fold(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def generic_heading(text: str) -> bool:
    """A heading every document has ("Abstract", "1 Introduction", "Contents"): never a title."""
    return fold(re.sub(r"^[\d.\s]+", "", text)) in NOT_TITLES
