"""The tagger finds factors with the right polarity, districts and priorities, and keeps its measured quality."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.tag import Tagger
from kb.models import FactorTag

ROOT = Path(__file__).resolve().parent.parent
MIN_MICRO_F1 = 0.85
MIN_HELDOUT_F1 = 0.85
MIN_HELDOUT_PRECISION = 0.929


@pytest.fixture(scope="module")
def tagger():
    return Tagger()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Alcohol misuse increases the risk of violence.", [("substance-misuse", "risk")]),
        ("A trusted adult mentor protects young people.", [("trusted-adult", "protective")]),
        (
            "Engagement in full time, quality education is a strong protective factor against a young person "
            "becoming involved in serious violence",
            [("engagement-in-education", "protective")],
        ),
        (
            "Care leavers are vulnerable to child criminal exploitation.",
            [("children-in-care", "risk"), ("exploitation", "risk")],
        ),
        ("Lack of a trusted adult was associated with increased offending.", [("trusted-adult", "risk")]),
        (
            "Mentoring protects young people against exploitation.",
            [("trusted-adult", "protective"), ("exploitation", "risk")],
        ),
        ("Low levels of neighbourhood deprivation were protective against violence.", [("deprivation", "protective")]),
        ("Tackling drug use in the community reduces the risk of violence.", [("substance-misuse", "risk")]),
        (
            "Online spaces including the emerging metaverse and online gambling",
            [("online-spaces", "risk"), ("gambling", "risk")],
        ),
        ("Access to mental health support improved outcomes.", [("mental-health-support", "protective")]),
        ("The trial recruited 1,200 participants from 40 secondary schools.", []),
        ("We will embed a trauma informed approach across services.", []),
    ],
)
def test_known_sentences(tagger, text, expected):
    assert [(f.factor, f.polarity) for f in tagger.tag(text).factors] == expected


def test_capitalised_and_inflected_forms_match(tagger):
    assert tagger.tag("CARE LEAVERS Carried Knives.").factors == [
        FactorTag("children-in-care", "risk", ["CARE LEAVERS"]),
        FactorTag("weapon-carrying", "risk", ["Carried Knives"]),
    ]


def test_districts_and_county_are_found(tagger):
    tags = tagger.tag("Rates rose in Leeds, Bradford, Calderdale, Kirklees and Wakefield, across West Yorkshire.")
    assert tags.places == ["bradford", "calderdale", "kirklees", "leeds", "wakefield", "west-yorkshire"]
    assert tagger.tag("A pilot in Huddersfield and Halifax.").places == ["calderdale", "kirklees"]


def test_priorities_and_who_levels_are_the_union_of_factors_plus_explicit_mentions(tagger):
    tags = tagger.tag("Young carers and county lines exploitation are covered under Priority 6.")
    assert tags.priorities == [2, 3, 6]
    assert tags.who_levels == ["relationship", "community"]


def test_crime_types_and_cohorts(tagger):
    tags = tagger.tag("Knife crime and personal robbery against young people and women and girls.")
    assert tags.crime_types == ["knife-crime", "personal-robbery"]
    assert {"young-people", "women-and-girls"} <= set(tags.cohorts)


def test_tag_many_equals_tag(tagger):
    texts = [
        "Alcohol misuse increases the risk of violence.",
        "",
        "Engagement in education is a protective factor. Exclusion from school is a risk factor.",
        "Leeds and Wakefield NEET rates rose.",
    ]
    assert tagger.tag_many(texts) == [tagger.tag(t) for t in texts]


def test_one_factor_can_carry_both_polarities_in_a_passage(tagger):
    text = "Poor school engagement predicts violence. School engagement is a protective factor."
    assert tagger.tag(text).factors == [
        FactorTag("engagement-in-education", "risk", ["school engagement"], "Poor"),
        FactorTag("engagement-in-education", "protective", ["School engagement"], "protective factor"),
    ]


def test_spacy_is_loaded_lazily_and_once():
    code = (
        "import sys; from ingest.tag import Tagger; t = Tagger(); assert 'spacy' not in sys.modules; "
        "t.tag('alcohol'); nlp = t._nlp; t.tag_many(['drugs', 'gangs']); assert t._nlp is nlp"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_benchmark_micro_f1_does_not_regress():
    out = subprocess.run(
        [sys.executable, "-m", "bench.tagging", "--json", "--no-speed"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    report = json.loads(out)
    assert report["n_items"] >= 120
    assert report["micro"]["f1"] >= MIN_MICRO_F1, report["failures"]
    assert report["polarity_accuracy"] >= 0.9
    # The estimate for unseen text, on passages never tuned on (written and real): above 0.85 F1, and
    # no less precise than before the real passages were added (0.929).
    heldout = report["by_source"]["heldout"]
    assert heldout["f1"] >= MIN_HELDOUT_F1 and heldout["precision"] >= MIN_HELDOUT_PRECISION, report["failures"]


@pytest.mark.parametrize(
    ("text", "factor", "polarity", "matched", "cue"),
    [
        (
            "Young people who drink heavily are more likely to carry a knife.",
            "weapon-carrying",
            "risk",
            ["carry a knife"],
            "more likely",
        ),
        (
            "Low levels of deprivation were protective against violence.",
            "deprivation",
            "protective",
            ["deprivation"],
            "Low levels of … protective",
        ),
        (
            "Lack of a trusted adult was associated with increased offending.",
            "trusted-adult",
            "risk",
            ["trusted adult"],
            "Lack of a",
        ),
        (
            "Alcohol abstinence was a protective factor.",
            "substance-misuse",
            "protective",
            ["Alcohol"],
            "protective factor",
        ),
        ("Care leavers were often homeless.", "children-in-care", "risk", ["Care leavers"], None),
    ],
)
def test_each_tag_says_which_words_triggered_it_and_which_cue_set_its_polarity(
    tagger, text, factor, polarity, matched, cue
):
    tag = next(f for f in tagger.tag(text).factors if f.factor == factor)
    assert (tag.polarity, tag.matched, tag.cue) == (polarity, matched, cue)


def test_kb_tag_json_trigger_words_occur_in_the_text(tmp_path):
    """Every factor tag of `kb tag --json` on real strategy bullets names words that are in that text."""
    lines = [json.loads(line)["text"] for line in (ROOT / "tests/data/tagging/strategy.jsonl").open()]
    (tmp_path / "lines.txt").write_text("\n".join(lines), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "kb.cli", "tag", "--lines", str(tmp_path / "lines.txt"), "--json"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    items = json.loads(out)
    assert len(items) == len(lines)
    tags = [(item["text"], f) for item in items for f in item["factors"]]
    assert len(tags) > 40
    for text, f in tags:
        assert f["matched"], f
        for words in f["matched"]:
            assert words in text, (words, text)
        for part in (f["cue"] or "").split(" … "):
            assert part in text, (f["cue"], text)
    assert any(f["cue"] for _, f in tags)


@pytest.mark.parametrize(
    ("text", "online"),
    [
        # "online" as the way a form, a service or a study is delivered: no venue of violence.
        ("First responders complete the online referral form.", False),
        ("We did this online randomised controlled trial between Dec 6, 2011, and Oct 11, 2013.", False),
        ("The interactive internet-based intervention helped smokers to quit.", False),
        ("Published online: 18 Nov 2016.", False),
        ("See Online for appendix.", False),
        # online as a place where harm happens
        ("Girls who experienced misogynistic abuse online changed how they used public spaces.", True),
        ("Sexual harassment of schoolgirls on the street and online is widespread.", True),
        ("Children are increasingly groomed online by older men.", True),
        ("Online harassment of young women has risen.", True),
    ],
)
def test_online_is_a_space_only_where_harm_happens_there(tagger, text, online):
    """Regression: the StopAdvisor trial (an online quit-smoking intervention) had 34 of its passages tagged "online
    spaces and social media", the Home Office guide its online referral form, journals their "Published online"
    line: 78 passages of the real PDFs, docx and RIS files in ../shared/data, against 5 now."""
    assert any(f.factor == "online-spaces" for f in tagger.tag(text).factors) is online


@pytest.mark.shared_data
def test_a_real_online_intervention_trial_is_not_filed_under_online_spaces(shared_data, tagger):
    from ingest.sources import ReadOptions, read_file

    pdf = shared_data / "real-pdfs" / "lancetrespmed2014_brown_stopadvisor_smoking_low_ses.pdf"
    blocks = read_file(pdf, ReadOptions()).documents[0].blocks
    online = [
        b
        for b, t in zip(blocks, tagger.tag_many([b.text for b in blocks]), strict=True)
        if any(f.factor == "online-spaces" for f in t.factors)
    ]
    assert len(blocks) > 50 and len(online) <= 3, [b.text[:80] for b in online]


@pytest.mark.parametrize(
    ("text", "factor", "found"),
    [
        # An acronym that is also a word is matched in its own case only.
        ("Pupils with SEND are over-represented among those excluded from school.", "neurodiversity", True),
        ("We will send out invitation emails earlier.", "neurodiversity", False),
        ("SOC groups recruit children to move drugs.", "organised-crime", True),
        ("Marmot M. Social determinants of health inequalities. Soc Sci Med 2005.", "organised-crime", False),
        # "counselling" is a therapy; its lemma "counsel" is also a lawyer, and credit counselling is debt advice.
        ("Victims were offered counselling and legal advice.", "mental-health-support", True),
        ("The trustee's counsel filed the motion.", "mental-health-support", False),
        ("The debtor must complete credit counseling before filing.", "mental-health-support", False),
        # A study that excludes participants is not a school that excludes pupils.
        ("We excluded studies with only one participant.", "education-exclusions", False),
        ("Pupils permanently excluded from school were followed up.", "education-exclusions", True),
        ("Girls who were permanently excluded had higher rates of victimisation.", "education-exclusions", True),
    ],
)
def test_words_with_a_second_meaning_are_not_the_factor(tagger, text, factor, found):
    """Regression, on the real files in ../shared/data: the verb "send" was SEND (10 passages), "Soc" in journal
    names serious organised crime (8), a bankruptcy handbook's "counsel" and "credit counseling" mental health
    support (23), and studies' "excluded"/"excluding" school exclusion (19)."""
    assert any(f.factor == factor for f in tagger.tag(text).factors) is found
