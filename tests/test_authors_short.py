"""Search results name a work's authors as a text citation does: 'Peach and Martin (2016)', 'Brown et al.'."""

from __future__ import annotations

import pytest

from kb.models import Document
from kb.results import authors_short


@pytest.mark.parametrize(
    ("authors", "want"),
    [
        # As the readers record them from the real files in ../shared/data and corpus/.
        (["Emily Peach", "Jilly Martin"], "Peach and Martin"),
        (["Jamie Brown", "Susan Michie", "Adam WA Geraghty"], "Brown et al."),
        (["Okely, Anthony D.", "Cotton, Wayne G."], "Okely and Cotton"),
        (["Esther M F van Sluijs"], "van Sluijs"),
        (["J Brown PhD"], "Brown"),
        (["DJ Smith", "Jones AB", "van der Berg M"], "Smith et al."),  # initials before or after (Vancouver)
        (["Jones AB", "van der Berg M"], "Jones and van der Berg"),
        (["UK Parliament"], "UK Parliament"),
        (["HM Revenue and Customs"], "HM Revenue and Customs"),
        (["Home Office"], "Home Office"),
        (["Mayor of West Yorkshire"], "Mayor of West Yorkshire"),
        (["Youth Endowment Fund", "Home Office"], "Youth Endowment Fund and Home Office"),
        ([], None),
    ],
)
def test_authors_as_a_text_citation_names_them(authors: list[str], want: str | None) -> None:
    assert authors_short(Document("d", "A title", "research", "x.pdf", authors=authors)) == want
