"""Clozapine status (CLZ-1..6): therapeutic level, dose stand-in, adequate trial, resistance.

Every scenario uses `titrated()` unless it says otherwise: 25 mg/day on days 0-6, 150 on days
7-13 and the maintenance dose from day 14, so the last dose change is on day 14.
"""

from __future__ import annotations

import functools

import pytest

from tests import test_clozapine_helpers
from tests.test_clozapine_helpers import (
    assessment,
    d,
    level,
    rx,
    status,
    titrated,
)

# The tables these cases read: only they and the models they read are built.
TABLES = (
    "marts.patient_clozapine_status",
    "intermediate.clozapine_levels",
)
build = functools.partial(test_clozapine_helpers.build, targets=TABLES)


def test_patient_without_clozapine_is_not_on_clozapine(tmp_path):
    con = build(tmp_path, as_of=60, prescriptions=titrated("P1"))
    row = status(con, "P2")
    assert row["clozapine_status"] == "not_on_clozapine"
    assert row["clozapine_start_date"] is None and row["titration_ok"] is None
    assert row["reasons"] == "no clozapine prescription or dispensing up to the as-of date"
    assert status(con, "P1")["clozapine_start_date"] == d(0)


@pytest.mark.parametrize(
    ("second_value", "expected_basis", "expected_date"),
    [(349, None, None), (350, "levels", 40)],
)
def test_therapeutic_level_needs_350_ng_ml(tmp_path, second_value, expected_basis, expected_date):
    con = build(
        tmp_path,
        as_of=60,
        prescriptions=titrated("P1"),
        labs=[level("P1", 30, 400), level("P1", 40, second_value)],
    )
    row = status(con)
    assert row["level_basis"] == expected_basis
    assert row["therapeutic_level_date"] == (d(expected_date) if expected_date else None)
    assert row["n_levels"] == 2
    assert row["n_levels_ge_350"] == (2 if second_value >= 350 else 1)
    if expected_basis is None:
        # on clozapine for 60 days (> titrating_max_days 26) without a basis
        assert row["clozapine_status"] == "inadequate_trial"
        assert "CLZ-3: level(s) >= 350 ng/mL at a stable dose only on 2024-01-31" in row["reasons"]
        assert "CLZ-5: no therapeutic basis after 60 days on clozapine" in row["reasons"]
    else:
        assert row["clozapine_status"] == "trial_in_progress"
        assert "CLZ-5: 20 of 90 days since the therapeutic basis (2024-02-10)" in row["reasons"]


@pytest.mark.parametrize(("days_apart", "expected_date"), [(6, None), (7, 37)])
def test_two_levels_must_be_seven_days_apart(tmp_path, days_apart, expected_date):
    con = build(
        tmp_path,
        as_of=60,
        prescriptions=titrated("P1"),
        labs=[level("P1", 30, 400), level("P1", 30 + days_apart, 420)],
    )
    row = status(con)
    assert row["therapeutic_level_date"] == (d(expected_date) if expected_date else None)
    assert row["n_qualifying_levels"] == 2


def test_the_second_occasion_is_the_first_level_seven_days_after_the_first(tmp_path):
    con = build(
        tmp_path,
        as_of=60,
        prescriptions=titrated("P1"),
        labs=[
            level("P1", 30, 400),
            level("P1", 33, 400),
            level("P1", 37, 400),
            level("P1", 45, 400),
        ],
    )
    assert status(con)["therapeutic_level_date"] == d(37)


@pytest.mark.parametrize(
    ("first_level_day", "counted"),
    [(31, False), (32, False), (33, True)],  # the dose changes to 400 mg/day on day 28
)
def test_levels_count_only_at_a_stable_dose(tmp_path, first_level_day, counted):
    con = build(
        tmp_path,
        as_of=60,
        prescriptions=[*titrated("P1", until=27), rx("P1", 28, None, 400)],
        labs=[level("P1", first_level_day, 500), level("P1", 45, 500)],
    )
    row = status(con)
    stable = con.execute(
        "SELECT collected_date, days_at_dose, is_stable_dose, is_qualifying "
        "FROM intermediate.clozapine_levels ORDER BY collected_date"
    ).fetchall()
    assert stable[0] == (d(first_level_day), first_level_day - 28, counted, counted)
    assert row["n_levels_ge_350"] == 2
    assert row["n_qualifying_levels"] == (2 if counted else 1)
    assert row["therapeutic_level_date"] == (d(45) if counted else None)
    if not counted:
        assert (
            f"CLZ-3: level(s) >= 350 ng/mL not counted, dose changed fewer than 5 days before "
            f"({d(first_level_day)})" in row["reasons"]
        )


@pytest.mark.parametrize(
    ("as_of", "panss", "expected"),
    [
        (37 + 89, None, "trial_in_progress"),
        (37 + 90, 69, "responder"),
        (37 + 90, 70, "clozapine_resistant"),
    ],
)
def test_adequate_trial_is_90_days_after_the_therapeutic_level(tmp_path, as_of, panss, expected):
    assessments = [assessment("P1", 20, "PANSS", 95)]  # before the trial: never used for CLZ-6
    if panss is not None:
        assessments.append(assessment("P1", as_of, "PANSS", panss))
    con = build(
        tmp_path,
        as_of=as_of,
        prescriptions=titrated("P1"),
        labs=[level("P1", 30, 400), level("P1", 37, 400)],
        assessments=assessments,
    )
    row = status(con)
    assert row["therapeutic_level_date"] == d(37)
    assert row["clozapine_status"] == expected
    if expected == "trial_in_progress":
        assert row["adequate_trial_date"] == d(127)  # due, not yet reached
        assert row["adequate_trial_reached"] is False
        assert "CLZ-5: 89 of 90 days since the therapeutic basis" in row["reasons"]
    else:
        assert row["adequate_trial_date"] == d(127)
        assert row["adequate_trial_reached"] is True
        assert row["latest_symptom_score"] == panss
        assert row["reasons"].startswith(f"CLZ-6: PANSS {panss} on {d(127)}")


def test_bprs_threshold_and_no_assessment_after_the_trial(tmp_path):
    labs = [level("P1", 30, 400), level("P1", 37, 400), level("P3", 30, 400), level("P3", 37, 400)]
    con = build(
        tmp_path,
        as_of=200,
        prescriptions=[*titrated("P1"), *titrated("P3")],
        labs=labs,
        # P1: BPRS 45 after the trial (persistent); P3: only an assessment before day 127
        assessments=[assessment("P1", 150, "BPRS", 45), assessment("P3", 120, "PANSS", 90)],
    )
    assert status(con, "P1")["clozapine_status"] == "clozapine_resistant"
    p3 = status(con, "P3")
    assert p3["clozapine_status"] == "responder"  # clozapine.status_without_assessment
    assert "CLZ-6: no PANSS/BPRS on or after the adequate trial date (2024-05-07)" in p3["reasons"]


@pytest.mark.parametrize(("dose", "basis"), [(499, None), (500, "dose_500")])
def test_without_levels_500_mg_stands_in(tmp_path, dose, basis):
    prescriptions = [*titrated("P1", until=19), rx("P1", 20, None, dose)]
    con = build(tmp_path, as_of=60, prescriptions=prescriptions)
    row = status(con)
    assert row["level_basis"] == basis
    if basis:
        assert row["therapeutic_level_date"] == d(20)
        assert row["clozapine_status"] == "trial_in_progress"
        assert "CLZ-4: no levels; 500 mg/day first reached 2024-01-21" in row["reasons"]
    else:
        assert row["clozapine_status"] == "inadequate_trial"
        assert (
            "CLZ-4: no levels and the dose never reached 500 mg/day (highest 499 mg/day)"
            in (row["reasons"])
        )


def test_dose_stands_in_only_when_there_are_no_levels(tmp_path):
    prescriptions = [*titrated("P1", until=19), rx("P1", 20, None, 600)]
    con = build(tmp_path, as_of=60, prescriptions=prescriptions, labs=[level("P1", 40, 200)])
    row = status(con)
    assert (row["level_basis"], row["clozapine_status"]) == (None, "inadequate_trial")
    assert "CLZ-3: no level >= 350 ng/mL (highest 200 ng/mL)" in row["reasons"]


@pytest.mark.parametrize(
    ("as_of", "expected"), [(10, "titrating"), (26, "titrating"), (27, "inadequate_trial")]
)
def test_titrating_until_day_26_without_a_basis(tmp_path, as_of, expected):
    con = build(tmp_path, as_of=as_of, prescriptions=titrated("P1"))
    row = status(con)
    assert row["clozapine_status"] == expected
    assert row["on_clozapine_at_as_of"] is True


def test_stopping_before_the_adequate_trial_is_inadequate(tmp_path):
    con = build(
        tmp_path,
        as_of=200,
        prescriptions=titrated("P1", until=100),
        labs=[level("P1", 30, 400), level("P1", 37, 400)],
    )
    row = status(con)
    assert row["clozapine_status"] == "inadequate_trial"
    assert row["end_reason"] == "stopped" and row["follow_up_end"] == d(100)
    assert (
        "CLZ-5: clozapine stopped 2024-04-10, 63 days after the therapeutic basis "
        "(2024-02-07; needs 90)" in row["reasons"]
    )


def test_stopping_during_titration_is_inadequate(tmp_path):
    con = build(tmp_path, as_of=60, prescriptions=titrated("P1", until=20))
    row = status(con)
    assert row["clozapine_status"] == "inadequate_trial"
    assert "CLZ-5: clozapine stopped 2024-01-21 before a therapeutic basis" in row["reasons"]


def test_titration_check(tmp_path):
    fast = [rx("P3", 0, 1, 50), rx("P3", 2, 13, 200), rx("P3", 14, None, 500)]
    con = build(tmp_path, as_of=30, prescriptions=[*titrated("P1"), *fast])
    assert status(con, "P1")["titration_ok"] is True
    p3 = status(con, "P3")
    assert p3["titration_ok"] is False
    assert "CLZ-1: clozapine started 2024-01-01 at 50 mg/day (more than 25)" in p3["reasons"]
    assert (
        "CLZ-1: +150 mg/day in 2 day(s) on 2024-01-03 (more than 50 mg/day per day)"
        in (p3["reasons"])
    )
    assert "CLZ-1: 500 mg/day on day 14 (2024-01-15), more than 450" in p3["reasons"]


# --- CLZ-5 per course, levels maintained (issue 13) -------------------------------------------


def test_clz5_the_90_days_must_be_in_one_course(tmp_path):
    # Basis on day 37 (levels 30, 37), stopped on day 66 (29 days at level), seven months off,
    # restarted on day 280 and still on at day 400: the new course has no basis of its own.
    prescriptions = [
        *titrated("P1", until=66),
        *(rx("P1", 280 + o, e, v) for o, e, v in ((0, 286, 25), (7, 293, 150), (14, None, 350))),
    ]
    labs = [level("P1", 30, 400), level("P1", 37, 400)]
    assessments = [assessment("P1", 390, "PANSS", 95)]
    con = build(
        tmp_path, as_of=400, prescriptions=prescriptions, labs=labs, assessments=assessments
    )
    row = status(con)
    assert (row["n_courses"], row["course_number"], row["course_start"]) == (2, 2, d(280))
    assert row["clozapine_status"] == "inadequate_trial"  # not clozapine_resistant
    assert row["therapeutic_level_date"] is None and row["adequate_trial_reached"] is False
    assert "CLZ-5: course 2 of 2 (from 2024-10-07) judged" in row["reasons"]
    assert "CLZ-3: no clozapine levels" in row["reasons"]


@pytest.mark.parametrize(
    ("restart_day", "courses", "expected"),
    [(69, 1, "clozapine_resistant"), (70, 2, "inadequate_trial")],
)
def test_clz5_a_gap_up_to_the_retitration_threshold_stays_in_the_course(
    tmp_path, restart_day, courses, expected
):
    # Clozapine to day 66, again from restart_day: 2 days off (67, 68) bridge, 3 days start a new
    # course (clozapine.course_max_gap_days = 2, the 48-hour re-titration threshold).
    prescriptions = [*titrated("P1", until=66), rx("P1", restart_day, None, 350)]
    labs = [level("P1", 30, 400), level("P1", 37, 400)]
    assessments = [assessment("P1", 140, "PANSS", 95)]
    con = build(
        tmp_path, as_of=150, prescriptions=prescriptions, labs=labs, assessments=assessments
    )
    row = status(con)
    assert (row["n_courses"], row["clozapine_status"]) == (courses, expected)


@pytest.mark.parametrize(
    ("later_level", "later_dose", "maintained"),
    [
        (349, 350, False),  # below 350 at the unchanged basis dose
        (350, 350, True),
        (300, 250, True),  # below 350 after a dose reduction: not a loss at the same dose
    ],
)
def test_clz5_levels_maintained_is_reported(tmp_path, later_level, later_dose, maintained):
    # Basis on day 37 at 350 mg/day; a level on day 80 (within the 90 days) at later_dose.
    prescriptions = [*titrated("P1", until=69), rx("P1", 70, None, later_dose)]
    if later_dose == 350:
        prescriptions = titrated("P1")
    labs = [level("P1", 30, 400), level("P1", 37, 400), level("P1", 80, later_level)]
    assessments = [assessment("P1", 140, "PANSS", 95)]
    con = build(
        tmp_path, as_of=150, prescriptions=prescriptions, labs=labs, assessments=assessments
    )
    row = status(con)
    assert row["levels_maintained"] is maintained
    assert row["clozapine_status"] == "clozapine_resistant"  # reported only, by default
    if not maintained:
        assert (
            f"CLZ-5: levels not maintained: 349 ng/mL on {d(80)} at 350 mg/day, below 350 within "
            "90 days of the basis (reported; clozapine.require_levels_maintained is false)"
            in row["reasons"]
        )
    strict = status(
        build(
            tmp_path / "strict",
            as_of=150,
            prescriptions=prescriptions,
            labs=labs,
            assessments=assessments,
            config={"clozapine": {"require_levels_maintained": True}},
        )
    )
    assert strict["clozapine_status"] == (
        "clozapine_resistant" if maintained else "inadequate_trial"
    )


def test_levels_maintained_is_null_without_a_level_basis(tmp_path):
    prescriptions = [*titrated("P1", until=19), rx("P1", 20, None, 500)]
    row = status(build(tmp_path, as_of=60, prescriptions=prescriptions))
    assert (row["level_basis"], row["levels_maintained"]) == ("dose_500", None)
