"""Monitoring windows and adherence (MON-*): schedule changes, window edges, follow-up end,
interruptions, profiles. Day 0 is the first clozapine dose."""

from __future__ import annotations

import functools

import pytest

from tests import test_clozapine_helpers
from tests.test_clozapine_helpers import anc, d, lab, level, rx, titrated

# The tables these cases read: only they and the models they read are built.
TABLES = (
    "intermediate.clozapine_exposure",
    "intermediate.monitoring_schedules",
    "intermediate.monitoring_windows",
    "marts.anc_results",
    "marts.monitoring_adherence",
    "marts.monitoring_gaps",
    "marts.patient_clozapine_status",
)
build = functools.partial(test_clozapine_helpers.build, targets=TABLES)


def adherence(con, pid="P1") -> dict[str, tuple[int, int]]:
    found = con.execute(
        "SELECT rule_id, expected_tests, observed_tests FROM marts.monitoring_adherence "
        "WHERE patient_id = ?",
        [pid],
    ).fetchall()
    return {rule: (expected, observed) for rule, expected, observed in found}


def windows(con, rule, pid="P1") -> list[tuple]:
    return con.execute(
        "SELECT start_day, end_day, is_observed FROM intermediate.monitoring_windows "
        "WHERE patient_id = ? AND rule_id = ? ORDER BY window_number",
        [pid, rule],
    ).fetchall()


def test_schedule_changes_after_week_26_and_week_52(tmp_path):
    # An ANC on every window centre: weekly 7..182, every 2 weeks 196..364, then every 4 weeks
    # 392.. (one in each calendar month from January 2025, day 366).
    centres = [*range(7, 183, 7), *range(196, 365, 14), *range(392, 500, 28)]
    labs = [anc("P1", -1, 2000), *(anc("P1", c, 2000) for c in centres)]
    labs.append(anc("P1", 189, 2000))  # week 28 (day 189) falls between windows: counts nowhere
    con = build(tmp_path, as_of=500, prescriptions=titrated("P1"), labs=labs)
    got = adherence(con)
    # monthly windows are calendar months (issue 13): Jan-Apr 2025 end by day 485 <= 500 (May 15)
    assert got["MON-ANC-0"] == (1, 1)
    assert got["MON-ANC-1"] == (26, 26)
    assert got["MON-ANC-2"] == (13, 13)
    assert got["MON-ANC-3"] == (4, 4)
    assert windows(con, "MON-ANC-1")[-1] == (179, 185, True)  # week 26, +/- 3
    assert windows(con, "MON-ANC-2")[0] == (192, 200, True)  # week 28, +/- 4
    assert windows(con, "MON-ANC-2")[-1] == (360, 368, True)  # week 52
    assert windows(con, "MON-ANC-3")[0] == (366, 396, True)  # January 2025
    assert con.execute(
        "SELECT count(*) FROM marts.monitoring_gaps WHERE rule_id LIKE 'MON-ANC%'"
    ).fetchone() == (0,)


@pytest.mark.parametrize(("as_of", "weekly_expected"), [(184, 25), (185, 26)])
def test_a_window_is_expected_once_its_last_day_is_in_follow_up(tmp_path, as_of, weekly_expected):
    con = build(tmp_path, as_of=as_of, prescriptions=titrated("P1"))
    assert adherence(con)["MON-ANC-1"] == (weekly_expected, 0)
    assert adherence(con)["MON-ANC-2"] == (0, 0)


@pytest.mark.parametrize(
    ("day", "window_1", "window_2"),
    [(4, True, False), (10, True, False), (11, False, True), (3, False, False)],
)
def test_a_test_on_the_edge_of_its_window(tmp_path, day, window_1, window_2):
    con = build(tmp_path, as_of=30, prescriptions=titrated("P1"), labs=[anc("P1", day, 2000)])
    got = windows(con, "MON-ANC-1")
    assert got[0] == (4, 10, window_1) and got[1] == (11, 17, window_2)


@pytest.mark.parametrize(
    ("pid", "day", "value", "observed"),
    [
        ("P1", -7, 1500, True),
        ("P1", -8, 1500, False),  # outside days -7..0
        ("P1", 0, 1500, True),
        ("P1", -2, 1499, False),  # present but below 1500
        ("P2", -2, 1000, True),  # BEN minimum 1000
        ("P2", -2, 999, False),
    ],
)
def test_baseline_anc(tmp_path, pid, day, value, observed):
    con = build(tmp_path, as_of=30, prescriptions=titrated(pid), labs=[anc(pid, day, value)])
    assert adherence(con, pid)["MON-ANC-0"] == (1, int(observed))
    gaps = con.execute(
        "SELECT missing_detail FROM marts.monitoring_gaps WHERE rule_id = 'MON-ANC-0'"
    ).fetchall()
    if observed:
        assert gaps == []
    elif day == -8:
        assert gaps == [("no result for anc",)]
    else:
        assert gaps == [(f"ANC {value}/uL, below the baseline minimum",)]


def test_follow_up_ends_when_clozapine_stops(tmp_path):
    # stopped on day 30: weekly windows ending by day 30 are centres 7, 14, 21 (end 24); 28 ends 31
    con = build(tmp_path, as_of=200, prescriptions=titrated("P1", until=30))
    assert adherence(con)["MON-ANC-1"] == (3, 0)
    assert adherence(con)["MON-CV-2"] == (3, 0)


def test_follow_up_ends_at_death(tmp_path):
    patients = """
    patient_id,birth_date,sex,benign_ethnic_neutropenia,site,death_date
    P1,1990-01-02,F,false,north,2024-01-31
    """
    con = build(tmp_path, as_of=200, prescriptions=titrated("P1"), patients=patients)
    # death on day 30
    assert adherence(con)["MON-ANC-1"] == (3, 0)
    status = con.execute("SELECT end_reason FROM intermediate.clozapine_exposure").fetchall()
    assert status == [("died",)]


@pytest.mark.parametrize(("restart_day", "episodes"), [(43, 1), (44, 2)])
def test_an_interruption_is_a_gap_of_more_than_two_days(tmp_path, restart_day, episodes):
    # clozapine to day 40, again from restart_day: 2 or 3 days without clozapine
    prescriptions = [*titrated("P1", until=40), rx("P1", restart_day, None, 350)]
    con = build(tmp_path, as_of=100, prescriptions=prescriptions)
    got = con.execute(
        "SELECT episode_number, episode_start, episode_end, gap_before_days "
        "FROM intermediate.clozapine_exposure ORDER BY episode_number"
    ).fetchall()
    if episodes == 1:
        assert got == [(1, d(0), d(100), None)]
    else:
        assert got == [(1, d(0), d(40), None), (2, d(44), d(100), 3)]
    # By default the schedule runs from the first dose through the interruption.
    assert adherence(con)["MON-ANC-1"] == (13, 0)  # centres 7..91 (end 94 <= 100)


def test_schedule_restarts_after_an_interruption_when_configured(tmp_path):
    prescriptions = [*titrated("P1", until=40), rx("P1", 60, None, 350)]
    labs = [anc("P1", 58, 2000)]  # baseline of the second episode (days -7..0 from day 60)
    con = build(
        tmp_path,
        as_of=100,
        prescriptions=prescriptions,
        labs=labs,
        config={"monitoring": {"restart_schedule_after_interruption": True}},
    )
    schedules = con.execute(
        "SELECT schedule_number, anchor_date, follow_up_end FROM intermediate.monitoring_schedules "
        "ORDER BY 1"
    ).fetchall()
    assert schedules == [(1, d(0), d(40)), (2, d(60), d(100))]
    # episode 1: centres 7..35 (end 38 <= 40): 5; episode 2: centres 67..95 (end 98 <= 100): 5
    assert adherence(con)["MON-ANC-1"] == (10, 0)
    assert adherence(con)["MON-ANC-0"] == (2, 1)
    gap = con.execute(
        "SELECT treatment_week, clozapine_start_date FROM marts.anc_results"
    ).fetchall()
    assert gap == [(0, d(60))]


def test_uk_profile_and_a_custom_profile(tmp_path):
    con = build(
        tmp_path, as_of=200, prescriptions=titrated("P1"), config={"monitoring": {"profile": "uk"}}
    )
    # weekly to week 18 (centres 7..126); then every 2 weeks from 140 while centre + 4 <= 200
    assert adherence(con)["MON-ANC-1"] == (18, 0)
    assert adherence(con)["MON-ANC-2"] == (5, 0)
    custom = [
        {"rule_id": "MON-ANC-1", "every_days": 7, "until_week": 4, "tolerance": "weekly"},
        {"rule_id": "MON-ANC-3", "every_days": 28, "until_week": None, "tolerance": "monthly"},
    ]
    con = build(
        tmp_path,
        as_of=200,
        prescriptions=titrated("P1"),
        config={"monitoring": {"profile": "custom", "profiles": {"custom": custom}}},
    )
    got = adherence(con)
    # weekly centres 7..28, then every 4 weeks from day 56: 56..168 (+7 <= 200), 196 + 7 > 200
    assert got["MON-ANC-1"] == (4, 0) and got["MON-ANC-3"] == (5, 0)
    assert "MON-ANC-2" not in got


def test_cardiac_metabolic_level_and_liver_rules(tmp_path):
    labs = [
        # MON-CV-1 baseline: QTc and pulse but no blood pressure
        lab("P1", -10, "QTc", 420, "ms"),
        lab("P1", -10, "Pulse", 80, "/min"),
        # MON-CV-2 weeks 1-4: troponin + CRP in weeks 1 and 2, troponin only in week 3
        *(lab("P1", day, "Troponin I", 5, "ng/L") for day in (7, 14, 21)),
        *(lab("P1", day, "CRP", 3, "mg/L") for day in (7, 14)),
        # MON-MET-1 weight at baseline and week 4; MON-MET-2 baseline HbA1c + cholesterol
        lab("P1", -5, "Weight", 80, "kg"),
        lab("P1", 30, "Weight", 81, "kg"),
        lab("P1", -5, "HbA1c", 40, "mmol/mol"),
        lab("P1", -5, "Cholesterol", 180, "mg/dL"),
        # MON-LFT-1 baseline ALT
        lab("P1", -5, "ALT", 20, "U/L"),
        # MON-LVL-1: steady state after titration = days 19..47
        level("P1", 25, 300),
    ]
    con = build(tmp_path, as_of=70, prescriptions=titrated("P1"), labs=labs)
    got = adherence(con)
    assert got["MON-CV-1"] == (1, 0)
    assert got["MON-CV-2"] == (4, 2)
    assert got["MON-MET-1"] == (3, 2)  # baseline, week 4 (21..35), week 8 (49..63)
    assert got["MON-MET-2"] == (1, 1)  # the 3-month window (77..105) is not due by day 70
    assert got["MON-LFT-1"] == (1, 1)
    assert got["MON-LVL-1"] == (1, 1)
    details = dict(
        con.execute(
            "SELECT rule_id || ' ' || window_number, missing_detail FROM marts.monitoring_gaps"
        ).fetchall()
    )
    assert details["MON-CV-1 1"] == "no result for blood_pressure"
    assert details["MON-CV-2 3"] == "no result for crp"
    assert details["MON-CV-2 4"] == "no result for crp, troponin"
    row = con.execute(
        "SELECT adherence_pct, fully_adherent, first_missed_window_start "
        "FROM marts.monitoring_adherence WHERE rule_id = 'MON-CV-2'"
    ).fetchone()
    assert row == (50.0, False, d(18))


def test_level_window_after_a_dose_change(tmp_path):
    prescriptions = [*titrated("P1", until=39), rx("P1", 40, None, 450)]
    con = build(tmp_path, as_of=100, prescriptions=prescriptions, labs=[level("P1", 50, 400)])
    got = con.execute(
        "SELECT trigger, start_day, end_day, is_observed FROM intermediate.monitoring_windows "
        "WHERE rule_id = 'MON-LVL-1' ORDER BY window_number"
    ).fetchall()
    assert got == [
        ("steady state after titration", 19, 47, False),
        (f"dose change to 450.0 mg/day on {d(40)}", 45, 73, True),
    ]


# --- issue 13: calendar months, windows off clozapine, restart after 30 days off ---------------


def first_of_each_month(first_day: int, last_day: int) -> list[int]:
    """Day offsets of the 1st of every month between two offsets (DAY0 is 2024-01-01)."""
    return [o for o in range(first_day, last_day + 1) if d(o).day == 1]


@pytest.mark.parametrize(
    ("calendar_month", "expected"),
    [(True, (7, 7)), (False, (8, 2))],  # the 28-day grid scored this patient 25 %
)
def test_mon_anc_3_monthly_means_one_anc_per_calendar_month(tmp_path, calendar_month, expected):
    # An ANC on the 1st of every month after week 52 (Jan 1 2025 = day 366 .. Aug 1 = day 578);
    # as-of day 600 (2025-08-23): January to July are due; August ends after the as-of date.
    labs = [anc("P1", o, 2000) for o in first_of_each_month(366, 600)]
    profile = [
        {"rule_id": "MON-ANC-1", "every_days": 7, "until_week": 26, "tolerance": "weekly"},
        {"rule_id": "MON-ANC-2", "every_days": 14, "until_week": 52, "tolerance": "biweekly"},
        {
            "rule_id": "MON-ANC-3",
            "every_days": 28,
            "until_week": None,
            "tolerance": "monthly",
            "calendar_month": calendar_month,
        },
    ]
    config = {"monitoring": {"profiles": {"us_rems_2015": profile}}}
    con = build(tmp_path, as_of=600, prescriptions=titrated("P1"), labs=labs, config=config)
    assert adherence(con)["MON-ANC-3"] == expected


@pytest.mark.parametrize(("as_of", "due"), [(395, 0), (396, 1)])
def test_mon_anc_3_a_calendar_month_is_due_once_it_ends_in_follow_up(tmp_path, as_of, due):
    # January 2025 = days 366..396.
    con = build(tmp_path, as_of=as_of, prescriptions=titrated("P1"))
    assert adherence(con)["MON-ANC-3"] == (due, 0)


def test_windows_while_off_clozapine_are_not_due(tmp_path):
    # Clozapine to day 40, restarted on day 60 (19 days off, fewer than 30: same schedule).
    # Weekly windows 46-52 and 53-59 lie entirely in the interruption: not due; 39-45 (on days
    # 39, 40) and 60-66 are. Centres 7..91 end by day 94 <= 100: 13 windows, 11 due.
    prescriptions = [*titrated("P1", until=40), rx("P1", 60, None, 350)]
    con = build(tmp_path, as_of=100, prescriptions=prescriptions)
    assert adherence(con)["MON-ANC-1"] == (11, 0)
    starts = [w[0] for w in windows(con, "MON-ANC-1")]
    assert 39 in starts and 60 in starts and 46 not in starts and 53 not in starts


@pytest.mark.parametrize(("restart_day", "schedules"), [(70, 1), (71, 2)])
def test_a_restart_after_30_days_off_restarts_the_weekly_schedule(tmp_path, restart_day, schedules):
    # Clozapine to day 40; 29 days off (restart day 70) keep the schedule, 30 days (day 71) start a
    # new one anchored on the restart: baseline ANC and weekly windows again (US REMS).
    prescriptions = [*titrated("P1", until=40), rx("P1", restart_day, None, 350)]
    con = build(tmp_path, as_of=120, prescriptions=prescriptions)
    got = con.execute(
        "SELECT schedule_number, anchor_date FROM intermediate.monitoring_schedules ORDER BY 1"
    ).fetchall()
    assert [n for n, _ in got] == list(range(1, schedules + 1))
    assert got[-1][1] == (d(0) if schedules == 1 else d(71))
    assert adherence(con)["MON-ANC-0"] == (schedules, 0)
    if schedules == 2:
        # schedule 1: centres 7..35 (end 38 <= 40); schedule 2 from day 71: 78..113 (end <= 120)
        assert adherence(con)["MON-ANC-1"] == (5 + 6, 0)
