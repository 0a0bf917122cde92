"""Mailing-list subscribers: addresses masked on screen, unsubscribing from a link by token only."""

from __future__ import annotations

import pytest
from kbfixtures import open_kb

from kb.config import MailingList
from kb.subscribers import UnsubscribeError, mask_email, recipients, unsubscribe_by_link


@pytest.mark.parametrize(
    "email, masked",
    [("jo@example.org", "j***@example.org"), ("a@b.example", "a***@b.example"), ("nobody", "***"), ("@x.org", "***")],
)
def test_mask_email(email, masked):
    assert mask_email(email) == masked


def test_unsubscribe_by_link_takes_a_token_never_an_address(tmp_path):
    kb = open_kb(tmp_path / "kb")
    mlist = MailingList("partners", recipients=["jo@example.org", "sam@example.org"])
    tokens = dict(recipients(kb, mlist))
    for bad in ("sam@example.org", "", "short", "has space in it"):
        with pytest.raises(UnsubscribeError, match="incomplete or altered"):
            unsubscribe_by_link(kb, "partners", bad)
    with pytest.raises(UnsubscribeError, match="incomplete or altered"):
        unsubscribe_by_link(kb, "", tokens["jo@example.org"])
    with pytest.raises(UnsubscribeError, match="no subscriber of list 'hub'"):
        unsubscribe_by_link(kb, "hub", tokens["jo@example.org"])
    assert unsubscribe_by_link(kb, "partners", tokens["jo@example.org"]) == "jo@example.org"
    assert [e for e, _ in recipients(kb, mlist)] == ["sam@example.org"]
    kb.close()
