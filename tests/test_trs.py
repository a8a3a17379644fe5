"""TRS-1 ... TRS-8 on hand-built patients; every expected value is worked out in the comments."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.trs_cases import (
    BASE_ASSESSMENTS,
    BASE_DISPENSINGS,
    BASE_PRESCRIPTIONS,
    build,
    status,
    trials,
)
from trscohort.config import load_config

OLANZAPINE, RISPERIDONE = BASE_PRESCRIPTIONS


def with_second_trial(rx: tuple, dispensing: tuple | None, assessment: tuple) -> dict:
    """The base case with trial 2 (and its dispensing and failure assessment) replaced."""
    return {
        "prescriptions": [OLANZAPINE, rx],
        "dispensings": [BASE_DISPENSINGS[0]] + ([dispensing] if dispensing else []),
        "assessments": [BASE_ASSESSMENTS[0], assessment],
    }


def test_base_patient_meets_every_criterion(tmp_path):
    result = status(build(tmp_path))
    assert result["trs_status"] == "trs"
    assert (
        result["n_trials"],
        result["n_adequate_trials"],
        result["n_failed_adequate_trials"],
    ) == (
        2,
        2,
        2,
    )
    assert result["n_distinct_failed_drugs"] == 2
    # Trial 2 ended 2020-07-31; its failure was documented on 2020-08-03.
    assert result["trs_date"] == dt.date(2020, 8, 3)
    assert (result["latest_symptom_instrument"], result["latest_symptom_score"]) == ("PANSS", 90)
    assert result["symptoms_persistent"] is True
    assert result["functional_impairment"] is None  # TRS-8 not recorded: not required
    assert result["reasons"].startswith("all required criteria met")


@pytest.mark.parametrize(
    ("end", "days", "expected"),
    [
        ("2020-06-10", 41, "pseudo_resistant"),  # May 1 .. June 10 = 31 + 10 days
        ("2020-06-11", 42, "trs"),  # exactly 6 weeks
    ],
)
def test_trs3_duration_boundary(tmp_path, end, days, expected):
    case = with_second_trial(
        ("P1", "risperidone", "2020-05-01", end, 8, "oral"),
        ("P1", "risperidone", "2020-05-01", days),
        ("P1", "2020-06-15", "PANSS", 90),
    )
    con = build(tmp_path, **case)
    second = trials(con)[1]
    assert (second["days"], second["duration_ok"]) == (days, days >= 42)
    result = status(con)
    assert result["trs_status"] == expected
    if expected == "pseudo_resistant":
        assert "TRS-3: 41 days < 42" in result["reasons"]


@pytest.mark.parametrize(("dose", "expected"), [(599, "pseudo_resistant"), (600, "trs")])
def test_trs4_dose_boundary(tmp_path, dose, expected):
    # Chlorpromazine itself: the dose is its own CPZ equivalent.
    case = with_second_trial(
        ("P1", "chlorpromazine", "2020-05-01", "2020-07-31", dose, "oral"),
        ("P1", "chlorpromazine", "2020-05-01", 92),
        ("P1", "2020-08-03", "PANSS", 90),
    )
    con = build(tmp_path, **case)
    second = trials(con)[1]
    assert second["cpz_equivalent_mg"] == dose
    assert second["dose_ok"] is (dose >= 600)
    result = status(con)
    assert result["trs_status"] == expected
    if dose == 599:
        assert "TRS-4: mean 599 mg CPZ-eq < 600" in result["reasons"]


def test_cpz_equivalents_use_the_gardner_table(tmp_path):
    # Olanzapine 25 mg: 25 x 100 / 3.33 = 750.75 mg CPZ-eq; risperidone 8 mg: 8 x 100 / 1 = 800.
    first, second = trials(build(tmp_path))
    assert first["cpz_equivalent_mg"] == pytest.approx(750.750751)
    assert second["cpz_equivalent_mg"] == pytest.approx(800)


@pytest.mark.parametrize(("supplied", "expected"), [(79, "pseudo_resistant"), (80, "trs")])
def test_trs5_adherence_boundary(tmp_path, supplied, expected):
    # A 100-day trial (May 1 .. Aug 8) with one dispensing covering 79 or 80 of its days.
    case = with_second_trial(
        ("P1", "risperidone", "2020-05-01", "2020-08-08", 8, "oral"),
        ("P1", "risperidone", "2020-05-01", supplied),
        ("P1", "2020-08-10", "PANSS", 90),
    )
    con = build(tmp_path, **case)
    second = trials(con)[1]
    assert (second["days"], second["adherence_pct"]) == (100, supplied)
    assert second["adherence_source"] == "dispensings"
    assert status(con)["trs_status"] == expected


def test_trs5_unknown_adherence_is_not_verified(tmp_path):
    case = with_second_trial(RISPERIDONE, None, BASE_ASSESSMENTS[1])
    con = build(tmp_path, **case)
    second = trials(con)[1]
    assert (second["adherence_pct"], second["adherence_ok"], second["adequate"]) == (
        None,
        None,
        False,
    )
    result = status(con)
    assert result["trs_status"] == "pseudo_resistant"
    assert "TRS-5: adherence not verified (no dispensings, not long-acting)" in result["reasons"]


def test_trs5_long_acting_injectable_counts_as_verified(tmp_path):
    # Risperidone LAI 3.57 mg/day: 3.57 x 100 / 0.60 = 595 < 600, so use 4 mg/day (666.7).
    case = with_second_trial(
        ("P1", "Risperdal Consta", "2020-05-01", "2020-07-31", 4, "lai"),
        None,
        BASE_ASSESSMENTS[1],
    )
    con = build(tmp_path, **case)
    second = trials(con)[1]
    assert (second["route"], second["adherence_source"], second["adherence_pct"]) == (
        "lai",
        "lai",
        100,
    )
    assert status(con)["trs_status"] == "trs"


def test_trs6_two_trials_of_the_same_drug_are_not_two_drugs(tmp_path):
    case = with_second_trial(
        ("P1", "olanzapine", "2020-05-01", "2020-07-31", 25, "oral"),
        ("P1", "olanzapine", "2020-05-01", 92),
        BASE_ASSESSMENTS[1],
    )
    con = build(tmp_path, **case)
    assert [t["episode_id"] for t in trials(con)] == ["P1:olanzapine:1", "P1:olanzapine:2"]
    result = status(con)
    assert (result["n_failed_adequate_trials"], result["n_distinct_failed_drugs"]) == (2, 1)
    assert result["trs_status"] == "not_trs"
    assert "TRS-6: 1 adequate failed trial(s) of different drugs, need 2" in result["reasons"]


def test_trs6_different_classes_when_required(tmp_path, tmp_path_factory):
    # Olanzapine and risperidone are both SGAs: two drugs, one class.
    override = tmp_path_factory.mktemp("cfg") / "c.yaml"
    override.write_text("trs: {require_different_classes: true}\n")
    result = status(build(tmp_path, config=load_config(override)))
    assert result["trs_status"] == "not_trs"
    assert "adequate failed trial(s) of different classes" in result["reasons"]


@pytest.mark.parametrize(("second_start", "episodes"), [("2020-02-15", 1), ("2020-02-16", 2)])
def test_trs2_gap_of_14_days_merges_and_15_splits(tmp_path, second_start, episodes):
    # Olanzapine Jan 1-31, then again from Feb 15 (uncovered Feb 1..14 = 14 days) or Feb 16 (15).
    olanzapine = [
        ("P1", "olanzapine", "2020-01-01", "2020-01-31", 25, "oral"),
        ("P1", "olanzapine", second_start, "2020-03-31", 25, "oral"),
        RISPERIDONE,
    ]
    con = build(tmp_path, prescriptions=olanzapine)
    olanzapine_trials = [t for t in trials(con) if t["generic_name"] == "olanzapine"]
    assert len(olanzapine_trials) == episodes
    assert olanzapine_trials[0]["start_date"] == dt.date(2020, 1, 1)
    assert olanzapine_trials[-1]["end_date"] == dt.date(2020, 3, 31)


def test_trs2_a_switch_ends_the_episode(tmp_path):
    # A 7-day gap would merge, but risperidone was started inside it.
    prescriptions = [
        ("P1", "olanzapine", "2020-01-01", "2020-01-31", 25, "oral"),
        ("P1", "risperidone", "2020-02-03", "2020-02-05", 4, "oral"),
        ("P1", "olanzapine", "2020-02-08", "2020-03-31", 25, "oral"),
    ]
    con = build(tmp_path, prescriptions=prescriptions)
    assert [t["episode_id"] for t in trials(con)] == [
        "P1:olanzapine:1",
        "P1:risperidone:1",
        "P1:olanzapine:2",
    ]


def test_trial_still_running_at_the_as_of_date(tmp_path):
    case = with_second_trial(
        ("P1", "risperidone", "2020-05-01", None, 8, "oral"),
        ("P1", "risperidone", "2020-05-01", 92),
        ("P1", "2020-07-30", "PANSS", 90),
    )
    con = build(tmp_path, as_of=dt.date(2020, 7, 31), **case)
    second = trials(con)[1]
    assert (second["end_date"], second["days"], second["ongoing_at_as_of"]) == (
        dt.date(2020, 7, 31),
        92,
        True,
    )
    result = status(con)
    assert (result["trs_status"], result["trs_date"]) == ("trs", dt.date(2020, 7, 31))


def test_trs7_symptoms_that_improved_after_the_second_trial(tmp_path):
    assessments = [*BASE_ASSESSMENTS, ("P1", "2020-10-01", "PANSS", 50)]
    result = status(build(tmp_path, assessments=assessments))
    assert (result["trs_status"], result["latest_symptom_score"]) == ("not_trs", 50)
    assert result["symptoms_persistent"] is False
    assert (
        "TRS-7: latest PANSS 50 on 2020-10-01 below the persistent-symptom threshold"
        in (result["reasons"])
    )


def test_trs7_symptoms_measured_before_the_second_trial_ended(tmp_path):
    # 2020-06-15 is inside trial 2 (ends 07-31), outside its failure window (07-24 .. 08-30).
    assessments = [BASE_ASSESSMENTS[0], ("P1", "2020-06-15", "PANSS", 90)]
    con = build(tmp_path, assessments=assessments)
    assert trials(con)[1]["failed"] is False
    result = status(con)
    assert result["trs_status"] == "not_trs"
    assert "TRS-6: 1 adequate failed trial(s)" in result["reasons"]


@pytest.mark.parametrize(("bprs", "expected"), [(44, "not_trs"), (45, "trs")])
def test_trs7_bprs_threshold(tmp_path, bprs, expected):
    assessments = [BASE_ASSESSMENTS[0], ("P1", "2020-08-03", "BPRS", bprs)]
    assert status(build(tmp_path, assessments=assessments))["trs_status"] == expected


def test_patient_with_no_assessments(tmp_path):
    result = status(build(tmp_path, assessments=[]))
    assert result["trs_status"] == "not_trs"
    assert result["latest_symptom_score"] is None
    assert "TRS-7: no PANSS/BPRS recorded, so no trial can be judged failed" in result["reasons"]


@pytest.mark.parametrize(("cgi_s", "expected"), [(3, "not_trs"), (4, "trs")])
def test_trs8_functional_impairment_when_recorded(tmp_path, cgi_s, expected):
    assessments = [*BASE_ASSESSMENTS, ("P1", "2020-08-03", "CGI-S", cgi_s)]
    result = status(build(tmp_path, assessments=assessments))
    assert result["trs_status"] == expected
    assert result["functional_impairment"] is (cgi_s >= 4)


def test_trs1_schizoaffective_off_by_default_and_on_by_config(tmp_path, tmp_path_factory):
    diagnoses = [("P1", "F25.1", "2019-01-01")]
    result = status(build(tmp_path / "off", diagnoses=diagnoses))
    assert result["trs_status"] == "no_schizophrenia_diagnosis"
    assert result["schizoaffective_dx"] is True
    assert "schizoaffective (F25) not counted" in result["reasons"]
    override = tmp_path_factory.mktemp("cfg") / "c.yaml"
    override.write_text("trs: {include_schizoaffective: true}\n")
    included = status(build(tmp_path / "on", diagnoses=diagnoses, config=load_config(override)))
    assert included["trs_status"] == "trs"


def test_unknown_drug_is_an_other_drug_not_made_into_a_trial(tmp_path):
    # Issue 12: unknown is not invalid: staged as an other drug, never a trial (TRS-2).
    prescriptions = [*BASE_PRESCRIPTIONS, ("P1", "mysteryzine", "2020-09-01", None, 10, "oral")]
    con = build(tmp_path, prescriptions=prescriptions)
    assert len(trials(con)) == 2
    assert con.execute("SELECT count(*) FROM quarantine.prescriptions").fetchone() == (0,)
    assert con.execute(
        "SELECT is_antipsychotic, drug_concept_id FROM staging.prescriptions "
        "WHERE drug = 'mysteryzine'"
    ).fetchall() == [(False, None)]


@pytest.mark.parametrize(
    ("clozapine_start", "without_trs"),
    [
        ("2020-06-01", True),  # before TRS was documented (2020-08-03)
        ("2020-09-01", False),
    ],
)
def test_clozapine_started_without_documented_trs(tmp_path, clozapine_start, without_trs):
    prescriptions = (
        [
            OLANZAPINE,
            ("P1", "risperidone", "2020-05-01", "2020-05-31", 8, "oral"),
            ("P1", "clozapine", clozapine_start, None, 300, "oral"),
        ]
        if without_trs
        else [*BASE_PRESCRIPTIONS, ("P1", "clozapine", clozapine_start, None, 300, "oral")]
    )
    result = status(build(tmp_path, prescriptions=prescriptions))
    assert result["clozapine_start_date"] == dt.date.fromisoformat(clozapine_start)
    assert result["clozapine_without_documented_trs"] is without_trs


def test_funnel_counts_nested_steps(tmp_path):
    prescriptions = [*BASE_PRESCRIPTIONS, ("P1", "clozapine", "2020-09-01", None, 300, "oral")]
    con = build(tmp_path, prescriptions=prescriptions)
    assert con.execute(
        "SELECT step_order, kind, patients FROM marts.trs_funnel ORDER BY step_order"
    ).fetchall() == [
        (1, "funnel", 1),
        (2, "funnel", 1),
        (3, "funnel", 1),
        (4, "funnel", 1),
        (5, "funnel", 1),
        (6, "aside", 0),
        (7, "aside", 0),
    ]


def test_trs7_a_response_to_clozapine_does_not_undo_trs(tmp_path):
    # TRS documented 2020-08-03, clozapine from 2020-09-01, PANSS 50 on clozapine.
    prescriptions = [*BASE_PRESCRIPTIONS, ("P1", "clozapine", "2020-09-01", None, 300, "oral")]
    assessments = [*BASE_ASSESSMENTS, ("P1", "2020-12-01", "PANSS", 50)]
    result = status(build(tmp_path, prescriptions=prescriptions, assessments=assessments))
    assert (result["trs_status"], result["latest_symptom_score"]) == ("trs", 90)
