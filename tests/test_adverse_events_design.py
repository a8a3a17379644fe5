"""Issue 14: the design choices of the adverse-event analysis, each at its boundary, on hand-built
patients whose answers are worked out in the comments (docs/adverse-events.md states the rules).

Defaults under test: day 0 of a course is baseline and follow-up starts on day 1
(adverse_events.follow_up_start_day); a 30-day grace period after a stop (grace_period_days), with
0 / 30 / 90 in the sensitivity table; new users need 365 days of observable history
(new_user_washout_days); a gap of more than 30 days without clozapine starts a rechallenge course
(new_course_gap_days); an ANC >= 1,000/uL ends a neutropenia episode (recovery_anc_per_ul).
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.test_adverse_events import build, dicts, rate_row

AS_OF = dt.date(2020, 12, 31)


def attrition(con, event_id: str = "all") -> dict[str, tuple]:
    rows = con.execute(
        "SELECT step, patients, excluded FROM marts.ae_cohort_attrition "
        f"WHERE event_id IN ('all', '{event_id}') ORDER BY step_order"
    ).fetchall()
    return {step: (patients, excluded) for step, patients, excluded in rows}


# --- item 1: day 0 is baseline ---------------------------------------------------------------
#
# X and Y start clozapine on 2020-01-01 (day 0), on it to the as-of date 2020-12-31.
# X: ANC 300 on day 0 (2020-01-01): a prevalent case of AE-NEU, not at risk in this course.
# Y: ANC 300 on day 1 (2020-01-02): an incident event, the first day of follow-up.
# Y's all-episodes time: 2020-01-02 .. 2020-12-31 = 365 days, less the open episode
# 2020-01-03 .. 2020-02-01 (30 days after the last evidence) = 335 days; first-event time: 1 day.

BASELINE = dict(
    patients=[("X", "1980-01-01", "F", None), ("Y", "1980-01-01", "F", None)],
    clozapine=[("X", "2020-01-01", None, 300), ("Y", "2020-01-01", None, 300)],
    labs=[
        ("X", "2020-01-01", "ANC", "0.3", "10^9/L", None),
        ("Y", "2020-01-02", "ANC", "0.3", "10^9/L", None),
    ],
    as_of=AS_OF,
)


def test_baseline_event_on_day_0_is_prevalent_and_on_day_1_incident(tmp_path):
    con = build(tmp_path, **BASELINE)
    events = {r["patient_id"]: r for r in dicts(con, "SELECT * FROM marts.adverse_events")}
    assert events["X"]["on_clozapine"] and events["X"]["days_since_course_start"] == 0
    assert not events["X"]["counted_in_rates"]
    assert events["Y"]["counted_in_rates"] and events["Y"]["days_since_course_start"] == 1
    days = dict(
        con.execute(
            "SELECT analysis || ' ' || patient_id, sum(days) FROM marts.clozapine_person_time "
            "WHERE event_id = 'AE-NEU' GROUP BY 1"
        ).fetchall()
    )
    assert days == {"all_episodes Y": 335, "first_event Y": 1}  # X has no time at risk
    neu = rate_row(con, "AE-NEU")
    assert (neu["patients"], neu["events"], neu["first_events"]) == (1, 1, 1)
    assert neu["first_event_person_years"] == pytest.approx(1 / 365.25)
    # X is at risk of everything else from day 1: 365 days
    assert rate_row(con, "AE-SEIZ")["person_years"] == pytest.approx(2 * 365 / 365.25)
    assert attrition(con, "AE-NEU")["at risk of the event"] == (1, 1)
    km = dicts(
        con,
        "SELECT week, at_risk, events, cumulative_incidence FROM marts.ae_cumulative_incidence "
        "WHERE event_id = 'AE-NEU' AND course = 'first' AND week = 0",
    )
    assert km == [{"week": 0, "at_risk": 1, "events": 1, "cumulative_incidence": 1.0}]


def test_baseline_day_0_counted_when_follow_up_starts_on_day_0(tmp_path):
    con = build(tmp_path, **BASELINE, overrides={"follow_up_start_day": 0})
    assert rate_row(con, "AE-NEU")["events"] == 2
    # prevalent then means open on day -1: nobody
    assert attrition(con, "AE-NEU")["at risk of the event"] == (2, 0)


def test_baseline_chronic_event_before_or_on_day_0_is_prevalent(tmp_path):
    # Diabetes (E11.9) on day 0 for D0 and on day 1 for D1: D0 is a prevalent case of AE-MET.
    con = build(
        tmp_path,
        patients=[("D0", "1980-01-01", "M", None), ("D1", "1980-01-01", "M", None)],
        clozapine=[("D0", "2020-01-01", None, 300), ("D1", "2020-01-01", None, 300)],
        diagnoses=[("D0", "E11.9", "2020-01-01"), ("D1", "E11.9", "2020-01-02")],
        as_of=AS_OF,
    )
    met = rate_row(con, "AE-MET")
    assert (met["patients"], met["events"]) == (1, 1)
    assert met["person_years"] == pytest.approx(1 / 365.25)  # D1 stops being at risk on day 1


# --- item 2: grace period after a stop ---------------------------------------------------------
#
# G30 and G31 take clozapine 2020-01-01 .. 2020-03-31 (day 90) and stop. A seizure 30 days after
# the stop (2020-04-30, day 120) for G30, 31 days after (2020-05-01) for G31.


def _grace(tmp_path, **overrides):
    return build(
        tmp_path,
        patients=[("G30", "1980-01-01", "F", None), ("G31", "1980-01-01", "F", None)],
        clozapine=[
            ("G30", "2020-01-01", "2020-03-31", 300),
            ("G31", "2020-01-01", "2020-03-31", 300),
        ],
        diagnoses=[("G30", "G40.9", "2020-04-30"), ("G31", "G40.9", "2020-05-01")],
        as_of=AS_OF,
        overrides=overrides or None,
    )


def test_grace_period_event_30_days_after_stop_counts_31_does_not(tmp_path):
    con = _grace(tmp_path)
    events = {r["patient_id"]: r for r in dicts(con, "SELECT * FROM marts.adverse_events")}
    assert events["G30"]["on_clozapine"] and events["G30"]["in_risk_window"]
    assert events["G30"]["counted_in_rates"]
    assert not events["G31"]["on_clozapine"] and not events["G31"]["counted_in_rates"]
    # The grace period is its own stratum: 2020-04-01 .. 2020-04-30 = 30 days each, 1 event.
    grace = rate_row(con, "AE-SEIZ", "exposure", "grace period")
    assert (grace["events"], grace["person_years"]) == (1, pytest.approx(60 / 365.25))
    on = rate_row(con, "AE-SEIZ", "exposure", "on treatment")  # days 1-90
    assert (on["events"], on["person_years"]) == (0, pytest.approx(180 / 365.25))
    # Competing risks: on day 120 both leave, G30 with the event and G31 by the stop (the end of
    # its grace period): n = 2, Aalen-Johansen F = 1 x 1/2 for each; 1 - KM = 1/2 too.
    row = dicts(
        con,
        "SELECT * FROM marts.ae_competing_risks WHERE event_id = 'AE-SEIZ' AND week = 17",
    )[0]
    assert (row["events"], row["stopped"], row["at_risk"]) == (1, 1, 2)
    assert row["cumulative_incidence"] == pytest.approx(0.5)
    assert row["cumulative_incidence_stopped"] == pytest.approx(0.5)
    assert row["one_minus_km"] == pytest.approx(0.5)


def test_grace_period_sensitivity_0_30_90(tmp_path):
    con = _grace(tmp_path)
    rows = {
        r["grace_days"]: r
        for r in dicts(
            con, "SELECT * FROM marts.ae_rates_grace_sensitivity WHERE event_id = 'AE-SEIZ'"
        )
    }
    assert sorted(rows) == [0, 30, 90]
    assert [rows[g]["is_default"] for g in (0, 30, 90)] == [False, True, False]
    assert [rows[g]["events"] for g in (0, 30, 90)] == [0, 1, 2]
    assert [rows[g]["grace_period_events"] for g in (0, 30, 90)] == [0, 1, 2]
    # on treatment 2 x 90 days; grace 30: + 2 x 30; grace 90: + 2 x 90 less the open episodes
    # G30 2020-05-01 .. 2020-05-30 (30 days) and G31 2020-05-02 .. 2020-05-31 (29 days left in
    # its grace period, which ends on 2020-06-29)
    assert rows[0]["person_years"] == pytest.approx(180 / 365.25)
    assert rows[30]["person_years"] == pytest.approx(240 / 365.25)
    assert rows[90]["person_years"] == pytest.approx((360 - 30 - 30) / 365.25)
    default = rate_row(con, "AE-SEIZ")
    assert (default["events"], default["person_years"]) == (1, rows[30]["person_years"])


# --- item 3: new users -------------------------------------------------------------------------
#
# Clozapine from 2020-01-01. H365's first record (F20.0) is 2019-01-01: 365 days of history, a
# new user. H364's is 2019-01-02: 364 days, a prevalent user. L has records from 2018 but a
# clozapine level on 2019-06-01, before its first prescription on 2020-06-01: the level is the
# first clozapine record (history 516 days, a new user). Q's first record of all is a clozapine
# level on 2019-07-01, its prescription starts 2020-09-01: history 0 days, a prevalent user.


def test_new_users_history_of_365_days_vs_364(tmp_path):
    con = build(
        tmp_path,
        patients=[(p, "1980-01-01", "M", None) for p in ("H365", "H364", "L", "Q")],
        clozapine=[
            ("H365", "2020-01-01", None, 300),
            ("H364", "2020-01-01", None, 300),
            ("L", "2020-06-01", None, 300),
            ("Q", "2020-09-01", None, 300),
        ],
        labs=[
            ("L", "2019-06-01", "clozapine level", "350", "ng/mL", None),
            ("Q", "2019-07-01", "clozapine level", "300", "ng/mL", None),
        ],
        diagnoses=[
            ("H365", "F20.0", "2019-01-01"),
            ("H364", "F20.0", "2019-01-02"),
            ("L", "F20.0", "2018-01-01"),
            ("H364", "G40.9", "2020-03-01"),
        ],
        as_of=AS_OF,
        history_from=None,
    )
    users = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT patient_id, first_clozapine_date, history_days, new_user "
            "FROM intermediate.ae_new_users"
        ).fetchall()
    }
    assert users == {
        "H365": (dt.date(2020, 1, 1), 365, True),
        "H364": (dt.date(2020, 1, 1), 364, False),
        "L": (dt.date(2019, 6, 1), 516, True),
        "Q": (dt.date(2019, 7, 1), 0, False),
    }
    patients = {
        r[0] for r in con.execute("SELECT patient_id FROM marts.clozapine_person_time").fetchall()
    }
    assert patients == {"H365", "L"}
    # H364's seizure is on clozapine but not counted: a prevalent user
    seizure = dicts(con, "SELECT * FROM marts.adverse_events WHERE event_id = 'AE-SEIZ'")[0]
    assert seizure["on_clozapine"] and not seizure["new_user"] and not seizure["counted_in_rates"]
    assert attrition(con) == {
        "any clozapine record": (4, None),
        "new user": (2, 2),
        "follow-up > 0": (2, 0),
    }


# --- item 4: courses and rechallenge -------------------------------------------------------------
#
# R: clozapine 2020-01-01 .. 2020-03-31, stopped; restarted 2020-07-01 (91 days without it > 30:
# a rechallenge, course 2, day 0 = 2020-07-01). ANC 300 on 2020-07-15 = day 14 of the
# rechallenge (day 196 since the first start).
# C: 2020-01-01 .. 2020-02-29, then again from 2020-03-11: a 10-day interruption continues the
# course; a seizure on 2020-03-15 is day 74 of course 1 (weeks 4-18), and the 10 days off are in
# the grace period.


def test_rechallenge_day_14_counts_from_the_rechallenge_start(tmp_path):
    con = build(
        tmp_path,
        patients=[("R", "1980-01-01", "F", None), ("C", "1980-01-01", "F", None)],
        clozapine=[
            ("R", "2020-01-01", "2020-03-31", 300),
            ("R", "2020-07-01", None, 300),
            ("C", "2020-01-01", "2020-02-29", 300),
            ("C", "2020-03-11", None, 300),
        ],
        labs=[("R", "2020-07-15", "ANC", "0.3", "10^9/L", None)],
        diagnoses=[("C", "G40.9", "2020-03-15")],
        as_of=AS_OF,
    )
    events = {r["patient_id"]: r for r in dicts(con, "SELECT * FROM marts.adverse_events")}
    r = events["R"]
    assert (r["course"], r["course_number"], r["course_start"]) == (
        "rechallenge",
        2,
        dt.date(2020, 7, 1),
    )
    assert (r["days_since_course_start"], r["weeks_since_course_start"]) == (14, 2)
    assert r["days_since_clozapine_start"] == 196 and r["counted_in_rates"]
    c = events["C"]
    assert (c["course"], c["days_since_course_start"]) == ("first", 74)
    placed = dict(
        con.execute(
            "SELECT patient_id, (course, time_since_start) FROM marts.clozapine_person_time "
            "WHERE analysis = 'all_episodes' AND events = 1"
        ).fetchall()
    )
    assert placed == {"R": ("rechallenge", "weeks 0-4"), "C": ("first", "weeks 4-18")}
    assert rate_row(con, "AE-NEU", "course", "rechallenge")["events"] == 1
    assert rate_row(con, "AE-NEU", "course", "first")["events"] == 0
    assert rate_row(con, "AE-NEU", "time_since_start", "weeks 0-4")["events"] == 1
    # C's interruption 2020-03-01 .. 2020-03-10 is grace-period time of course 1
    gaps = con.execute(
        "SELECT sum(days) FROM intermediate.ae_person_time_segments WHERE patient_id = 'C' "
        "AND grace_days = 30 AND exposure = 'grace period'"
    ).fetchone()[0]
    assert gaps == 10
    km = dicts(
        con,
        "SELECT week, at_risk, events, cumulative_incidence FROM marts.ae_cumulative_incidence "
        "WHERE event_id = 'AE-NEU' AND course = 'rechallenge' AND week <= 2 ORDER BY week",
    )
    assert [(k["at_risk"], k["events"]) for k in km] == [(1, 0), (1, 0), (1, 1)]
    assert km[2]["cumulative_incidence"] == 1.0


# --- item 5: episodes end at recovery ----------------------------------------------------------
#
# A999 and A1000 start clozapine 2020-01-01 (to the as-of date). ANC 300 on 2020-03-01, then 999
# (A999) or 1,000 (A1000) on 2020-03-06, then 300 on 2020-03-11.
# A999: 999 is not a recovery: one episode 2020-03-01 .. 2020-03-11, ending 30 days later
#   (2020-04-10); not at risk 2020-03-02 .. 2020-04-10 = 40 days; 365 - 40 = 325 days, 1 event.
# A1000: 1,000 ends the first episode on 2020-03-06 (not at risk 2020-03-02 .. 03-06, 5 days);
#   the ANC of 300 on 2020-03-11 is a new episode, open 2020-03-12 .. 2020-04-10 (30 days):
#   365 - 35 = 330 days, 2 events.


def test_ae_neu_recovery_anc_999_vs_1000(tmp_path):
    patients = ("A999", "A1000")
    con = build(
        tmp_path,
        patients=[(p, "1980-01-01", "F", None) for p in patients],
        clozapine=[(p, "2020-01-01", None, 300) for p in patients],
        labs=[
            (p, day, "ANC", value, "/uL", None)
            for p, middle in (("A999", "999"), ("A1000", "1000"))
            for day, value in (("2020-03-01", "300"), ("2020-03-06", middle), ("2020-03-11", "300"))
        ],
        as_of=AS_OF,
    )
    episodes = con.execute(
        "SELECT patient_id, onset_date, episode_end, end_reason FROM marts.adverse_events "
        "ORDER BY patient_id, onset_date"
    ).fetchall()
    assert episodes == [
        ("A1000", dt.date(2020, 3, 1), dt.date(2020, 3, 6), "recovered"),
        ("A1000", dt.date(2020, 3, 11), dt.date(2020, 4, 10), "no_further_evidence"),
        ("A999", dt.date(2020, 3, 1), dt.date(2020, 4, 10), "no_further_evidence"),
    ]
    per_patient = dict(
        con.execute(
            "SELECT patient_id, (sum(days), sum(events), sum(open_episode_days)) "
            "FROM marts.clozapine_person_time WHERE analysis = 'all_episodes' "
            "AND event_id = 'AE-NEU' GROUP BY 1"
        ).fetchall()
    )
    assert per_patient == {"A999": (325, 1, 40), "A1000": (330, 2, 35)}


def test_recovery_thresholds_of_other_analytes(tmp_path):
    # QTc 500 is not > 500 (a normal result), 501 is evidence; ALT 120 <= 3 x 40 is normal;
    # troponin at its reference is normal, above it is not; ANC "<0.8" x10^9/L proves nothing.
    con = build(
        tmp_path,
        patients=[("T", "1980-01-01", "F", None)],
        clozapine=[("T", "2020-01-01", None, 300)],
        labs=[
            ("T", "2020-02-01", "QTc", "500", "ms", None),
            ("T", "2020-02-02", "QTc", "501", "ms", None),
            ("T", "2020-02-03", "ALT", "120", "U/L", None),
            ("T", "2020-02-04", "troponin", "26", "ng/L", "26"),
            ("T", "2020-02-05", "troponin", "27", "ng/L", "26"),
            ("T", "2020-02-06", "ANC", "<0.8", "10^9/L", None),
            ("T", "2020-02-07", "ANC", "1.0", "10^9/L", None),
        ],
        as_of=AS_OF,
    )
    normal = con.execute(
        "SELECT event_id, result_date FROM intermediate.ae_recovery_results ORDER BY 2"
    ).fetchall()
    assert normal == [
        ("AE-QT", dt.date(2020, 2, 1)),
        ("AE-HEP", dt.date(2020, 2, 3)),
        ("AE-MYO", dt.date(2020, 2, 4)),
        ("AE-NEU", dt.date(2020, 2, 7)),
    ]


# --- observation periods (issue 19: OMOP observation_period, optional extract) -----------------
#
# With observation periods, history counts from the start of the period holding the first
# clozapine record, not from the earliest record. All four start clozapine on 2020-01-01 and
# have a schizophrenia diagnosis on 2018-01-01 (without periods: 730 days of history).
# O365: period 2019-01-01 .. open: 365 days, a new user. O364: period 2019-01-02 .. open: 364
# days, prevalent. OUT: one period 2018-01-01 .. 2019-06-30, the first clozapine record outside
# it: no observable history, not a new user. NONE: no period, the extract rule (730 days).


def test_observation_period_sets_history_for_the_washout_365_vs_364(tmp_path):
    con = build(
        tmp_path,
        patients=[(p, "1980-01-01", "M", None) for p in ("O365", "O364", "OUT", "NONE")],
        clozapine=[(p, "2020-01-01", None, 300) for p in ("O365", "O364", "OUT", "NONE")],
        history_from="2018-01-01",
        observation_periods=[
            ("O365", "2019-01-01", None),
            ("O364", "2019-01-02", None),
            ("OUT", "2018-01-01", "2019-06-30"),
        ],
    )
    users = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT patient_id, observation_start, history_days, new_user "
            "FROM intermediate.ae_new_users"
        ).fetchall()
    }
    assert users == {
        "O365": (dt.date(2019, 1, 1), 365, True),
        "O364": (dt.date(2019, 1, 2), 364, False),
        "OUT": (None, None, False),
        "NONE": (dt.date(2018, 1, 1), 730, True),
    }


# E ends its observation period on 2020-03-31 while on clozapine since 2019-01-01 (new user:
# period from 2017-01-01). Its time at risk of the first course ends there (day 455 from the
# course start): censored (observation_end), not 'as_of'. F has no period: to the as-of date.


def test_observation_period_end_censors_follow_up(tmp_path):
    con = build(
        tmp_path,
        patients=[("E", "1980-01-01", "F", None), ("F", "1980-01-01", "F", None)],
        clozapine=[("E", "2019-01-01", None, 300), ("F", "2019-01-01", None, 300)],
        history_from="2017-01-01",
        observation_periods=[("E", "2017-01-01", "2020-03-31")],
        as_of=AS_OF,
    )
    periods = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT patient_id, at_risk_end, end_reason FROM intermediate.ae_risk_periods "
            "WHERE grace_days = 30"
        ).fetchall()
    }
    assert periods == {
        "E": (dt.date(2020, 3, 31), "observation_end"),
        "F": (AS_OF, "as_of"),
    }
    exits = dict(
        con.execute(
            "SELECT patient_id, exit_reason FROM intermediate.ae_follow_up "
            "WHERE event_id = 'AE-SEIZ' ORDER BY patient_id"
        ).fetchall()
    )
    assert exits == {"E": "censored", "F": "as_of"}
    years = dict(
        con.execute(
            "SELECT patient_id, sum(days) FROM marts.clozapine_person_time "
            "WHERE event_id = 'AE-SEIZ' AND analysis = 'all_episodes' GROUP BY 1"
        ).fetchall()
    )
    # day 1 (2019-01-02) .. 2020-03-31 = 455 days; F to 2020-12-31 = 730 days
    assert years == {"E": 455, "F": 730}
