"""TRS-1 ... TRS-8 on hand-built patients; every expected value is worked out in the comments."""

from __future__ import annotations

import datetime as dt
import functools

import pytest

from tests import trs_cases
from tests.trs_cases import (
    BASE_ASSESSMENTS,
    BASE_DISPENSINGS,
    BASE_PRESCRIPTIONS,
    status,
    trials,
)
from trscohort.config import load_config

OLANZAPINE, RISPERIDONE = BASE_PRESCRIPTIONS
# The tables these cases read: only they and the models they read are built (about a fifth of
# the transform; a table left out fails the test that reads it, it is never silently empty).
TRS_TABLES = (
    "marts.patient_trs_status",
    "marts.trs_funnel",
    "intermediate.antipsychotic_trials",
    "intermediate.antipsychotic_episodes",
    "intermediate.antipsychotic_polypharmacy",
    "intermediate.qi_hdat",
)
build = functools.partial(trs_cases.build, targets=TRS_TABLES)


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
    # Gardner 2010 median doses == 600 mg CPZ, unrounded (issue 13): olanzapine 25 mg =
    # 25 x 600 / 20 = 750 mg CPZ-eq (750.75 with the old rounded factor 3.33); risperidone 8 mg =
    # 8 x 600 / 6 = 800.
    first, second = trials(build(tmp_path))
    assert first["cpz_equivalent_mg"] == 750
    assert second["cpz_equivalent_mg"] == 800
    assert (first["dose_basis"], second["dose_basis"]) == ("cpz_equivalent", "cpz_equivalent")


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
    assert (
        "TRS-5: adherence not verified (no dispensings, not long-acting, no level)"
        in (result["reasons"])
    )


def test_trs5_long_acting_injectable_counts_as_verified(tmp_path):
    # Risperidone LAI 4 mg/day: 4 x 600 x 14 / 50 = 672 mg CPZ-eq (G10 50 mg / 14 days == 600).
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
    diagnoses = [("P1", "F25.1", "2019-01-01", "ICD10")]
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


# --- issue 13: monotherapy trials, polypharmacy, split doses (TRS-2, TRS-4) -------------------


def polypharmacy(con) -> list[dict]:
    cursor = con.execute(
        "SELECT * FROM intermediate.antipsychotic_polypharmacy WHERE patient_id = 'P1' "
        "ORDER BY start_date"
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# Two drugs only ever taken together for 120 days (Jan 1 .. Apr 29), both dispensed, PANSS high.
TOGETHER = {
    "prescriptions": [
        ("P1", "olanzapine", "2020-01-01", "2020-04-29", 25, "oral"),
        ("P1", "risperidone", "2020-01-01", "2020-04-29", 8, "oral"),
    ],
    "dispensings": [
        ("P1", "olanzapine", "2020-01-01", 120),
        ("P1", "risperidone", "2020-01-01", 120),
    ],
    "assessments": [("P1", "2020-05-03", "PANSS", 90)],
}


def test_trs2_polypharmacy_is_not_two_trials(tmp_path):
    con = build(tmp_path, **TOGETHER)
    assert trials(con) == []
    (period,) = polypharmacy(con)
    assert (period["start_date"], period["end_date"], period["days"]) == (
        dt.date(2020, 1, 1),
        dt.date(2020, 4, 29),
        120,
    )
    assert (period["drugs"], period["max_antipsychotics"], period["includes_clozapine"]) == (
        "olanzapine + risperidone",
        2,
        False,
    )
    result = status(con)
    assert (result["trs_status"], result["n_polypharmacy_episodes"]) == ("not_trs", 1)
    assert result["longest_polypharmacy_days"] == 120
    assert (
        "TRS-2: 1 period(s) on two or more antipsychotics together not counted as trials "
        "(longest: olanzapine + risperidone 2020-01-01 to 2020-04-29, 120 days)"
        in result["reasons"]
    )


def test_trs2_counting_polypharmacy_trials_is_a_site_choice(tmp_path, tmp_path_factory):
    override = tmp_path_factory.mktemp("cfg") / "c.yaml"
    override.write_text("trs: {count_polypharmacy_trials: true}\n")
    con = build(tmp_path, config=load_config(override), **TOGETHER)
    got = sorted((t["generic_name"], t["days"], t["polypharmacy_days"]) for t in trials(con))
    assert got == [
        ("olanzapine", 120, 120),
        ("risperidone", 120, 120),
    ]
    assert status(con)["trs_status"] == "trs"


@pytest.mark.parametrize(
    ("overlap_start", "olanzapine_days"), [("2020-02-11", 41), ("2020-02-12", 42)]
)
def test_trs2_a_cross_taper_ends_the_monotherapy_trial(tmp_path, overlap_start, olanzapine_days):
    # Olanzapine from Jan 1; risperidone added on overlap_start, olanzapine stopped Feb 20. The
    # olanzapine trial is its days alone: Jan 1 .. the day before the overlap (TRS-3 boundary).
    prescriptions = [
        ("P1", "olanzapine", "2020-01-01", "2020-02-20", 25, "oral"),
        ("P1", "risperidone", overlap_start, "2020-07-31", 8, "oral"),
    ]
    dispensings = [
        ("P1", "olanzapine", "2020-01-01", 51),
        ("P1", "risperidone", overlap_start, 180),
    ]
    assessments = [("P1", "2020-02-25", "PANSS", 85), BASE_ASSESSMENTS[1]]
    con = build(
        tmp_path, prescriptions=prescriptions, dispensings=dispensings, assessments=assessments
    )
    olanzapine, risperidone = trials(con)
    assert (olanzapine["days"], olanzapine["duration_ok"]) == (
        olanzapine_days,
        olanzapine_days >= 42,
    )
    assert (risperidone["start_date"], risperidone["end_date"]) == (
        dt.date(2020, 2, 21),
        dt.date(2020, 7, 31),
    )
    (period,) = polypharmacy(con)
    assert period["end_date"] == dt.date(2020, 2, 20)
    assert status(con)["trs_status"] == ("trs" if olanzapine_days >= 42 else "pseudo_resistant")


def test_trs2_a_short_gap_on_another_drug_splits_the_trial(tmp_path):
    # Olanzapine Jan 1-31 and from Feb 8; haloperidol alone Feb 2-5 inside the 7-day gap.
    prescriptions = [
        ("P1", "olanzapine", "2020-01-01", "2020-01-31", 25, "oral"),
        ("P1", "haloperidol", "2020-02-02", "2020-02-05", 10, "oral"),
        ("P1", "olanzapine", "2020-02-08", "2020-03-31", 25, "oral"),
    ]
    con = build(tmp_path, prescriptions=prescriptions)
    assert [t["episode_id"] for t in trials(con)] == [
        "P1:olanzapine:1",
        "P1:haloperidol:1",
        "P1:olanzapine:2",
    ]
    assert polypharmacy(con) == []


@pytest.mark.parametrize(("second_dose", "cpz", "met"), [(449, 599.2, False), (450, 600, True)])
def test_trs4_split_doses_of_one_drug_add_up(tmp_path, second_dose, cpz, met):
    # Quetiapine 300 mg + 450 mg (two lines, same days) = 750 mg/day = 600 mg CPZ-eq (G10 median
    # 750 == 600). Averaging the lines (375 mg/day, 300 mg CPZ-eq) was the old defect.
    case = with_second_trial(
        ("P1", "quetiapine", "2020-05-01", "2020-07-31", 300, "oral"),
        ("P1", "quetiapine", "2020-05-01", 92),
        ("P1", "2020-08-03", "PANSS", 90),
    )
    case["prescriptions"].append(
        ("P1", "quetiapine", "2020-05-01", "2020-07-31", second_dose, "oral")
    )
    con = build(tmp_path, **case)
    second = trials(con)[1]
    assert (second["mean_daily_dose_mg"], second["n_levels"]) == (300 + second_dose, 0)
    assert (second["cpz_equivalent_mg"], second["dose_ok"]) == (pytest.approx(cpz), met)
    assert polypharmacy(con) == []  # one drug, not polypharmacy
    assert status(con)["trs_status"] == ("trs" if met else "pseudo_resistant")


@pytest.mark.parametrize(("overlap_days", "mean_dose"), [(0, 8 + 8 / 92), (1, 8)])
def test_trs4_a_renewal_written_one_day_early_is_not_a_split_dose(
    tmp_path, tmp_path_factory, overlap_days, mean_dose
):
    # Risperidone 8 mg May 1 - Jun 15, renewed 8 mg Jun 15 - Jul 31 (Jun 15 on both lines).
    # trs.renewal_overlap_days 1 (default): a renewal; 0: Jun 15 counts 16 mg.
    override = tmp_path_factory.mktemp("cfg") / "c.yaml"
    override.write_text(f"trs: {{renewal_overlap_days: {overlap_days}}}\n")
    prescriptions = [
        OLANZAPINE,
        ("P1", "risperidone", "2020-05-01", "2020-06-15", 8, "oral"),
        ("P1", "risperidone", "2020-06-15", "2020-07-31", 8, "oral"),
    ]
    con = build(tmp_path, prescriptions=prescriptions, config=load_config(override))
    (episode,) = con.execute(
        "SELECT days, n_prescriptions, mean_daily_dose_mg FROM intermediate.antipsychotic_episodes "
        "WHERE generic_name = 'risperidone'"
    ).fetchall()
    assert episode == (92, 2, pytest.approx(mean_dose))


# --- TRS-5 blood levels, TRS-9 ---------------------------------------------------------------


def olanzapine_level(day: str, value: str) -> tuple:
    return ("P1", day, "", "Olanzapine level", value, "ng/mL")


@pytest.mark.parametrize(
    ("value", "day", "verified"),
    [
        ("19", "2020-02-15", False),  # below the lower limit 20 ng/mL (AGNP, reference)
        ("20", "2020-02-15", True),
        ("<25", "2020-02-15", False),  # a bound below 25 does not prove >= 20
        (">20", "2020-02-15", True),
        ("35", "2020-04-15", None),  # after the trial (ended Mar 31): not its level
    ],
)
def test_trs5_an_antipsychotic_level_in_range_verifies_adherence(tmp_path, value, day, verified):
    # The olanzapine trial has no dispensings and is oral: only the level can verify adherence.
    case = {
        "dispensings": [BASE_DISPENSINGS[1]],
        "labs": [olanzapine_level(day, value)],
    }
    con = build(tmp_path, **case)
    first = trials(con)[0]
    assert first["adherence_ok"] is verified
    assert first["adherence_source"] == ("level" if verified else "unknown")
    assert status(con)["trs_status"] == ("trs" if verified else "pseudo_resistant")
    if verified is False:
        assert "TRS-5: level" in first["reasons"]


def test_trs9_optimum_criteria_are_reported_not_required(tmp_path):
    # Trial 1 confirmed by an olanzapine level in range, trial 2 a long-acting injectable.
    prescriptions = [OLANZAPINE, ("P1", "Risperdal Consta", "2020-05-01", "2020-07-31", 4, "lai")]
    labs = [olanzapine_level("2020-02-15", "40")]
    con = build(tmp_path, prescriptions=prescriptions, labs=labs)
    result = status(con)
    assert result["trs_status"] == "trs"
    assert (result["trs9_level_confirmed"], result["trs9_supervised_trial"]) == (True, True)
    assert result["trs9_optimum_criteria"] is True
    assert "TRS-9 optimum criteria met" in result["reasons"]
    base = status(build(tmp_path / "base"))
    assert (base["trs_status"], base["trs9_optimum_criteria"]) == ("trs", False)
    assert (
        "TRS-9 optimum criteria not met (no antipsychotic level in range, no long-acting"
        in (base["reasons"])
    )


# --- TRS-1 code systems ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "system", "schizophrenia"),
    [
        ("F20.0", "ICD10", True),
        ("F20.89", "ICD-10-CM", True),
        ("F20.81", "ICD-10-CM", False),  # schizophreniform disorder
        ("F20.81", "ICD10", False),  # a CM code labelled ICD10
        ("F20.8", "ICD10", True),  # WHO other schizophrenia
        ("295.30", "ICD-9-CM", True),
        ("295.40", "ICD-9-CM", False),  # schizophreniform
        ("295.70", "ICD-9-CM", False),  # schizoaffective
        ("58214004", "SNOMED CT", True),
        ("68890003", "SNOMED", False),  # schizoaffective
        ("295.30", "ICD10", False),  # an ICD-9 code is not read as ICD-10 (quarantined)
    ],
)
def test_trs1_code_groups_per_code_system(tmp_path, code, system, schizophrenia):
    con = build(tmp_path, diagnoses=[("P1", code, "2019-01-01", system)])
    result = status(con)
    assert result["schizophrenia_dx"] is schizophrenia
    assert (result["trs_status"] == "no_schizophrenia_diagnosis") is not schizophrenia


def test_trs1_diagnosis_after_the_as_of_date_is_not_yet_known(tmp_path):
    con = build(tmp_path, diagnoses=[("P1", "F20.0", "2021-01-01", "ICD10")])
    assert status(con)["trs_status"] == "no_schizophrenia_diagnosis"


def test_trs2_clozapine_counts_in_polypharmacy(tmp_path):
    # Risperidone May 1 - Jul 31; clozapine from Jul 20 (a cross-taper onto clozapine): the
    # risperidone trial ends on Jul 19 and Jul 20-31 is polypharmacy including clozapine.
    prescriptions = [*BASE_PRESCRIPTIONS, ("P1", "clozapine", "2020-07-20", None, 300, "oral")]
    con = build(tmp_path, prescriptions=prescriptions)
    risperidone = trials(con)[1]
    assert (risperidone["end_date"], risperidone["days"]) == (dt.date(2020, 7, 19), 80)
    (period,) = polypharmacy(con)
    assert (period["drugs"], period["includes_clozapine"], period["days"]) == (
        "clozapine + risperidone",
        True,
        12,
    )


@pytest.mark.parametrize(("second_dose", "met"), [(1099, False), (1100, True)])
def test_trs4_a_mean_of_exactly_600_is_adequate_whatever_the_float_sum(tmp_path, second_dose, met):
    # Amisulpride (G10 median 700 mg == 600 mg CPZ): 300 mg for 42 days = 257.142857 mg CPZ-eq,
    # then 1100 mg for 42 days = 942.857143; the mean over 84 days is exactly 600.000000. Summed
    # as binary doubles it is 599.9999999999999, which read as "< 600" (and, summed in parallel
    # at scale, could differ between runs). 1099 mg = 942.0 gives a mean of 599.571429: not met.
    case = with_second_trial(
        ("P1", "amisulpride", "2020-05-01", "2020-06-11", 300, "oral"),
        ("P1", "amisulpride", "2020-05-01", 42),
        ("P1", "2020-07-25", "PANSS", 90),
    )
    case["prescriptions"].append(
        ("P1", "amisulpride", "2020-06-12", "2020-07-23", second_dose, "oral")
    )
    case["dispensings"].append(("P1", "amisulpride", "2020-06-12", 42))
    con = build(tmp_path, **case)
    second = trials(con)[1]
    assert second["days"] == 84
    expected = 600 if met else (257.142857 * 42 + 942.0 * 42) / 84
    assert second["cpz_equivalent_mg"] == pytest.approx(expected, abs=1e-6)
    assert second["dose_ok"] is met
    assert status(con)["trs_status"] == ("trs" if met else "pseudo_resistant")


def test_an_absurd_but_finite_dose_is_judged_not_a_crash(tmp_path):
    # 1e300 mg/day of olanzapine passes staging (a positive number): the models must still build.
    # It is an adequate dose by any reading (>= 600 mg CPZ-eq), so the base patient stays TRS,
    # and the high-dose indicator's evidence prints the number instead of failing to format it.
    rx = [("P1", "olanzapine", "2020-01-01", "2020-03-31", 1e300, "oral"), BASE_PRESCRIPTIONS[1]]
    con = build(tmp_path, prescriptions=rx)
    first = trials(con)[0]
    assert first["mean_daily_dose_mg"] == 1e300 and first["dose_ok"] is True
    assert status(con)["trs_status"] == "trs"
    (evidence,) = con.execute(
        "SELECT evidence FROM intermediate.qi_hdat WHERE evidence LIKE '%olanzapine%' LIMIT 1"
    ).fetchone()
    assert "olanzapine 1e+300 mg/day" in evidence


def test_building_only_the_tables_read_gives_the_same_status(tmp_path):
    """The cases above build TRS_TABLES and the models they read; the status is the one a whole
    transform gives, and every model built has its inputs built before it."""
    from trscohort.models import build_order, model_refs, transform_context

    context = transform_context(load_config())
    full = [m.table for m in build_order(context)]
    subset = build_order(context, TRS_TABLES)
    built: set[str] = set()
    for model in subset:
        assert model_refs(model, context) & set(full) <= built, model.table
        built.add(model.table)
    assert set(TRS_TABLES) <= built and len(built) < len(full) / 2
    assert [t for t in full if t in built] == [m.table for m in subset]
    with pytest.raises(ValueError, match="no transform model builds marts.nothing"):
        build_order(context, ["marts.nothing"])
    whole = status(trs_cases.build(tmp_path / "whole"))
    assert status(build(tmp_path / "targets")) == whole
    assert whole["trs_status"] == "trs"
