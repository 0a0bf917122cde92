"""The taxonomy file loads, carries the strategy's priorities and districts, and explains its own errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kb.taxonomy import DEFAULT_PATH, TaxonomyError, load_taxonomy, taxonomy_markdown

ROOT = Path(__file__).resolve().parent.parent
STRATEGY_LABELS = ROOT / "tests" / "data" / "tagging" / "strategy.jsonl"

# The focus areas the strategy lists under each priority, as taxonomy factor ids.
FOCUS_AREAS = {
    1: ["substance-misuse", "children-in-care", "education-exclusions", "mental-health", "neurodiversity"],
    2: [
        "deprivation",
        "homelessness",
        "vawg",
        "child-to-parent-violence",
        "sexual-violence",
        "domestic-abuse",
        "young-carers",
    ],
    3: [
        "asb",
        "county-lines",
        "organised-crime",
        "weapon-carrying",
        "unemployment",
        "lack-of-services",
        "online-spaces",
        "gambling",
        "sporting-violence",
        "neet",
    ],
    4: ["neet", "deprivation", "homelessness", "social-norms"],
}


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


def test_packaged_file_loads(taxonomy):
    assert taxonomy.path == DEFAULT_PATH
    assert len(taxonomy.factors) >= 40
    assert sorted(taxonomy.priorities) == [1, 2, 3, 4, 5, 6]
    assert list(taxonomy.who_levels) == ["individual", "relationship", "community", "societal"]
    assert {"homicide", "knife-crime", "personal-robbery", "gun-crime", "vawg", "organised-crime"} <= set(
        taxonomy.crime_types
    )
    assert {"young-people", "women-and-girls", "care-leavers", "young-carers"} <= set(taxonomy.cohorts)


def test_both_polarities_are_represented(taxonomy):
    protective = {f.id for f in taxonomy.factors.values() if f.polarity == "protective"}
    assert {"engagement-in-education", "trusted-adult", "positive-activities", "family-support"} <= protective


@pytest.mark.parametrize("priority", sorted(FOCUS_AREAS))
def test_every_focus_area_is_a_factor_with_its_priority(taxonomy, priority):
    for factor_id in FOCUS_AREAS[priority]:
        assert priority in taxonomy.factor(factor_id).priorities, factor_id


def test_labelled_focus_area_bullets_agree_with_the_taxonomy(taxonomy):
    # The benchmark's strategy bullets listed under "Priority N" must point at factors carrying N.
    for line in STRATEGY_LABELS.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["theme"].startswith("Priority "):
            number = int(item["theme"].split()[1].rstrip(":"))
            for f in item["factors"]:
                assert number in taxonomy.factor(f["factor"]).priorities, (item["text"], f["factor"])


def test_all_five_districts_and_the_county(taxonomy):
    assert {d.label for d in taxonomy.districts()} == {"Bradford", "Calderdale", "Kirklees", "Leeds", "Wakefield"}
    assert taxonomy.places["west-yorkshire"].kind == "county"


def test_resolve_factor_accepts_ids_labels_and_synonyms(taxonomy):
    assert taxonomy.resolve_factor("substance-misuse") == "substance-misuse"
    assert taxonomy.resolve_factor("Care leaver") == "children-in-care"
    assert taxonomy.resolve_factor("NEET") == "neet"
    assert taxonomy.resolve_factor("no such thing") is None


GOOD_FACTOR = """
[[who_levels]]
id = "individual"
label = "Individual"
description = "d"

[[priorities]]
number = 1
name = "Individual"
who_level = "individual"
description = "d"

[polarity_cues]
protective = ["protective factor"]
risk = ["risk factor"]

[factors.alcohol]
label = "Alcohol"
polarity = "risk"
priorities = [1]
who_level = "individual"
description = "d"
synonyms = ["alcohol"]
"""


def _load(tmp_path: Path, text: str):
    path = tmp_path / "taxonomy.toml"
    path.write_text(text, encoding="utf-8")
    return path, lambda: load_taxonomy(path)


def test_a_minimal_file_loads(tmp_path):
    _, load = _load(tmp_path, GOOD_FACTOR)
    assert list(load().factors) == ["alcohol"]


@pytest.mark.parametrize(
    ("broken", "entry", "field"),
    [
        (GOOD_FACTOR.replace('polarity = "risk"', 'polarity = "bad"'), "factors.alcohol", "polarity"),
        (GOOD_FACTOR.replace("priorities = [1]", "priorities = [9]"), "factors.alcohol", "priorities"),
        (GOOD_FACTOR.replace('synonyms = ["alcohol"]', "synonyms = []"), "factors.alcohol", "synonyms"),
        (
            GOOD_FACTOR.replace('who_level = "individual"\ndescription = "d"\nsyn', 'description = "d"\nsyn'),
            "factors.alcohol",
            "who_level",
        ),
        (GOOD_FACTOR.replace('label = "Alcohol"\n', ""), "factors.alcohol", "label"),
        (GOOD_FACTOR.replace("[factors.alcohol]", "[factors.Alcohol_Use]"), "factors.Alcohol_Use", "id"),
    ],
)
def test_malformed_entry_is_named_with_file_and_field(tmp_path, broken, entry, field):
    path, load = _load(tmp_path, broken)
    with pytest.raises(TaxonomyError) as err:
        load()
    message = str(err.value)
    assert str(path) in message and f"[{entry}]" in message and f"'{field}'" in message


def test_invalid_toml_names_the_file(tmp_path):
    path, load = _load(tmp_path, GOOD_FACTOR + "\n[factors.oops\n")
    with pytest.raises(TaxonomyError, match="not valid TOML") as err:
        load()
    assert str(path) in str(err.value)


def test_importing_the_taxonomy_does_not_import_spacy():
    code = "import sys, kb.taxonomy; kb.taxonomy.load_taxonomy(); assert 'spacy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_docs_taxonomy_page_is_generated_from_the_file():
    page = Path(__file__).resolve().parents[1] / "docs" / "taxonomy.md"
    assert page.read_text(encoding="utf-8") == taxonomy_markdown(load_taxonomy()), (
        "docs/taxonomy.md is stale: run `python -m kb.taxonomy > docs/taxonomy.md`"
    )
