"""The app-pages benchmark (bench/pages.py) at its smallest: one run on the sample corpus gives a time per page."""

from __future__ import annotations

import math

import pytest

from bench import pages

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not pages.CHROMIUM.exists(),
        reason="needs /usr/bin/chromium: apt-get install chromium fonts-dejavu-core (.ci/run)",
    ),
]


def test_one_run_times_every_page_and_a_search(corpus_data_dir):
    t = pages.measure(corpus_data_dir, "sample corpus", ["trusted adult mentoring"], runs=1)

    assert set(t.render_s) == set(pages.pages()) >= {"Home", "Search", "What works", "Evidence map", "Library"}
    figures = [t.cold_s, *t.search_s] + [x for xs in t.render_s.values() for x in xs]
    assert len(t.search_s) == 1 and all(math.isfinite(x) and 0 < x < pages.TIMEOUT_MS / 1000 for x in figures)
    assert t.passages > 0 and t.documents > 0

    section = pages.Section("App pages in a browser", pages.markdown([t], 1), {"kbs": [t.as_dict()]})
    for name in t.render_s:
        assert f"| {name} | " in section.markdown
    rows = pages.goal_rows(section.data)
    assert [r[2] in ("yes", "no") for r in rows] == [True, True]
