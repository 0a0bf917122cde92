"""Two different works that claim one DOI: kept apart, and which was ingested first never decides which of
them a link to `doi:X` names (neither is filed as `doi:X` while both claim it); edits stay with their work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from kbfixtures import OKELY_PDF, run_kb, seed_embed_cache
from pypdf import PdfReader, PdfWriter

OKELY_DOI = "10.1186/s12966-017-0535-6"
RANGE_PDF = "real-pdfs/frontiers2015_range_canine_cooperation.pdf"
ANALYST_TITLE = "Girls in Sport: a group randomised trial (analyst's title)"


def mis_stamped(src: Path, dst: Path, doi: str) -> Path:
    """A real article re-saved with another paper's DOI in its Info dictionary, as a repository that stamped
    the wrong DOI on a download leaves it: its metadata claims that DOI as its own."""
    writer = PdfWriter(clone_from=PdfReader(src))
    writer.add_metadata({"/doi": doi})
    dst.parent.mkdir(parents=True, exist_ok=True)
    with dst.open("wb") as fh:
        writer.write(fh)
    return dst


def listing(data: Path) -> dict:
    """`kb docs --json` as a user reads it, without when each document was (re-)ingested."""
    out = json.loads(run_kb(data, "docs", "--json", check=True).stdout)
    for d in out["documents"]:
        d.pop("ingested_at")
    return out


def ingest(data: Path, path: Path) -> dict:
    return json.loads(run_kb(data, "ingest", str(path), "--json", check=True).stdout)


@pytest.mark.shared_data
def test_two_works_claiming_one_doi_get_the_same_ids_whatever_the_order(okely_kb, tmp_path, shared_data):
    okely = (shared_data / OKELY_PDF).resolve()
    other = mis_stamped(shared_data / RANGE_PDF, tmp_path / "in" / "range-canine.pdf", OKELY_DOI)

    # Okely first (the session's knowledge base), with an analyst's correction made while it was doi:X.
    first = tmp_path / "okely-first"
    shutil.copytree(okely_kb, first)
    run_kb(first, "edit", f"doi:{OKELY_DOI}", "--title", ANALYST_TITLE, check=True)
    report = ingest(first, other)
    (fr,) = report["files"]
    assert fr["merged"] == [] and any(
        "kept apart from" in p and OKELY_DOI in p and f"neither is filed as doi:{OKELY_DOI}" in p
        for p in fr["problems"]
    ), fr["problems"]

    # The other order, into a second data dir; the correction is made on the id the work has there.
    second = tmp_path / "range-first"
    seed_embed_cache(first, second)
    ingest(second, other)
    ingest(second, okely)
    by_source = {Path(d["source"]).name: d for d in listing(second)["documents"]}
    run_kb(second, "edit", by_source[okely.name]["doc_id"], "--title", ANALYST_TITLE, check=True)

    a, b = listing(first), listing(second)
    assert a == b, "the documents depend on which file was ingested first"
    docs = {Path(d["source"]).name: d for d in a["documents"]}
    assert len(docs) == 2 and all(d["n_chunks"] > 20 for d in docs.values())
    assert {d["doi"] for d in docs.values()} == {OKELY_DOI}, "both still say which DOI they claim"
    assert all(d["doc_id"].startswith("sha256:") for d in docs.values()), [d["doc_id"] for d in docs.values()]
    # The correction stays with the work it was made on, never with the other claimant.
    assert docs[okely.name]["title"] == ANALYST_TITLE and docs[okely.name]["field_sources"]["title"] == "analyst"
    assert docs[other.name]["title"] != ANALYST_TITLE and "analyst" not in docs[other.name]["field_sources"].values()

    # `kb edit doi:X` no longer names one of them at random: it says which works claim it.
    proc = run_kb(first, "edit", f"doi:{OKELY_DOI}", "--year", "2017")
    assert proc.returncode != 0
    msg = " ".join(proc.stderr.split())
    assert "claimed by 2 different works" in msg and all(d["doc_id"] in msg for d in docs.values()), msg
    proc = run_kb(first, "remove", f"doi:{OKELY_DOI}")
    assert proc.returncode != 0 and "claimed by 2 different works" in " ".join(proc.stderr.split())

    # Once the mis-stamped copy goes, the DOI is one work's again: doi:X, with the correction kept.
    run_kb(first, "remove", str(other), check=True)
    (doc,) = listing(first)["documents"]
    assert doc["doc_id"] == f"doi:{OKELY_DOI}" and doc["title"] == ANALYST_TITLE and doc["n_chunks"] > 20
    # And removing it by its document id gives the same.
    run_kb(second, "remove", docs[other.name]["doc_id"], check=True)
    assert listing(second) == listing(first)
