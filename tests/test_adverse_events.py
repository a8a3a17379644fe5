"""Adverse events (AE-*), person-time, rates and Kaplan-Meier on tiny hand-built cohorts whose
right answers are worked out by hand below (issue 5).

Conventions under test: day 0 is the first clozapine start; days are whole and both ends count
(a prescription from 2020-01-01 to 2020-01-28 is 28 days); person-years = days / 365.25; an
event on the first day of a stratum belongs to that stratum.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.conftest import ingest_folder, write_extracts
from trscohort.competing import build_competing_risks
from trscohort.config import load_config
from trscohort.models import build_model, build_order, model_refs, transform_context
from trscohort.rates import build_ae_rates, build_grace_sensitivity
from trscohort.run_parameters import record_run_parameters

AS_OF = dt.date(2021, 12, 31)
HISTORY_FROM = "2018-01-01"
# The issue-5 conventions (day 0 counted as follow-up, no grace period), still available through
# the config: the hand-worked cases below that predate issue 14 run with them.
ISSUE5 = {"follow_up_start_day": 0, "grace_period_days": 0}
Z95 = 1.959963984540054
OUR_MODELS = {
    "marts.adverse_events",
    "marts.clozapine_person_time",
    "marts.ae_cumulative_incidence",
    "marts.ae_cohort_attrition",
    "intermediate.ae_person_time",
    "intermediate.ae_follow_up",
}


def _csv(header: str, rows: list[tuple]) -> str:
    lines = [header] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def build(
    folder: Path,
    *,
    patients: list[tuple],
    clozapine: list[tuple],
    labs: list[tuple] = (),
    diagnoses: list[tuple] = (),
    as_of: dt.date = AS_OF,
    overrides: dict | None = None,
    history_from: str | None = HISTORY_FROM,
    observation_periods: list[tuple] = (),
) -> duckdb.DuckDBPyConnection:
    """Ingest the case, build the models the AE marts need (and only those), then the marts
    built in Python (ae_rates, ae_rates_grace_sensitivity, ae_competing_risks).

    patients: (id, birth_date, sex, death_date); clozapine: (id, start, end, mg/day);
    labs: (id, date, test_name, value, unit, reference_high); diagnoses: (id, code, date);
    observation_periods: (id, start, end) (the optional extract; none: not delivered).
    history_from: every patient gets a schizophrenia diagnosis (F20.0) on that day, so that
    clozapine from 2019-01-01 on is a new user's (None: no such record).
    """
    if history_from:
        diagnoses = [(p[0], "F20.0", history_from) for p in patients] + list(diagnoses)
    config_path = None
    if overrides:
        config_path = folder / "config.yaml"
        folder.mkdir(parents=True, exist_ok=True)
        config_path.write_text(yaml.safe_dump({"adverse_events": overrides}))
    config = load_config(config_path)
    extracts = {
        "patients": _csv("patient_id,birth_date,sex,death_date", patients),
        "prescriptions": _csv(
            "patient_id,drug,start_date,end_date,daily_dose_mg",
            [(p, "clozapine", s, e, mg) for p, s, e, mg in clozapine],
        ),
        "labs": _csv("patient_id,collected_at,test_name,value,unit,reference_high", labs),
        "diagnoses": _csv("patient_id,code,diagnosed_at", diagnoses),
    }
    if observation_periods:
        extracts["observation_periods"] = _csv(
            "patient_id,start_date,end_date", observation_periods
        )
    con = ingest_folder(write_extracts(folder / "input", extracts))
    record_run_parameters(con, config, as_of=as_of, input_dir=str(folder), mapping_path=None)
    context = transform_context(config)
    order = build_order(context)
    by_table = {m.table: m for m in order}
    needed, todo = set(), list(OUR_MODELS)
    while todo:
        table = todo.pop()
        if table in by_table and table not in needed:
            needed.add(table)
            todo.extend(model_refs(by_table[table], context))
    for model in order:
        if model.table in needed:
            build_model(con, model, context)
    build_ae_rates(con, config)
    build_grace_sensitivity(con, config)
    build_competing_risks(con, config)
    return con


def dicts(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def rate_row(con, event_id: str, stratifier: str = "overall", stratum: str = "all") -> dict:
    rows = dicts(
        con,
        f"SELECT * FROM marts.ae_rates WHERE event_id = '{event_id}' "
        f"AND stratifier = '{stratifier}' AND stratum = '{stratum}'",
    )
    assert len(rows) == 1, rows
    return rows[0]


# --- a small cohort worked out by hand -----------------------------------------------------------
#
# A: clozapine 400 mg/day from 2020-01-01, still on at the as-of date 2021-12-31:
#    366 (2020, leap year) + 365 = 731 days.
# B: clozapine 400 mg/day 2020-01-01 .. 2021-12-30 (stopped): 730 days.
# Together 1,461 days on clozapine.
# Seizures (AE-SEIZ): A G40.9 on 2020-06-01 and again G40.9 on 2020-06-10 (9 days later, within
# episode_gap_days 30: one episode); B R56.8 on 2021-03-01.
# Days inside an open episode are not at risk of a new one (issue 14, item 5): A's episode ends
# 30 days after its last evidence, 2020-06-10 + 30 = 2020-07-10, so 2020-06-02 .. 2020-07-10 = 39
# days are out; B's 2021-03-02 .. 2021-03-31 = 30 days. At risk: 1,461 - 69 = 1,392 days =
# 3.811088 PY, 2 events: rate = 2 / 3.811088 x 1,000 = 524.78 per 1,000 PY.
# Exact 95 % interval for k = 2 (Garwood; the tabulated limits for 2 events are 0.2422 and
# 7.2247): chi2(0.025; 4) / 2 = 0.484419 / 2 = 0.242209, chi2(0.975; 6) / 2 = 14.449375 / 2 =
# 7.224688; per 3.811088 PY x 1,000: 63.554 and 1,895.702.

COHORT_PATIENTS = [("A", "1980-07-01", "F", None), ("B", "1990-07-01", "M", None)]
COHORT_CLOZAPINE = [("A", "2020-01-01", None, 400), ("B", "2020-01-01", "2021-12-30", 400)]
COHORT_DIAGNOSES = [
    ("A", "G40.9", "2020-06-01"),
    ("A", "G40.9", "2020-06-10"),
    ("B", "R56.8", "2021-03-01"),
]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return build(
        tmp_path_factory.mktemp("ae_cohort"),
        patients=COHORT_PATIENTS,
        clozapine=COHORT_CLOZAPINE,
        diagnoses=COHORT_DIAGNOSES,
        overrides=ISSUE5,
    )


def test_hand_computed_rate_and_exact_interval(cohort):
    row = rate_row(cohort, "AE-SEIZ")
    person_years = 1392 / 365.25
    assert row["events"] == 2
    assert row["person_years"] == pytest.approx(person_years, rel=1e-12)
    assert row["rate_per_1000py"] == pytest.approx(2 / person_years * 1000)
    assert row["ci_low"] == pytest.approx(0.242209 / person_years * 1000, abs=0.01)
    assert row["ci_high"] == pytest.approx(7.224688 / person_years * 1000, abs=0.01)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((63.554, 1895.702), abs=0.01)
    # both patients had a seizure: crude cumulative proportion 2 / 2
    assert (row["patients"], row["patients_with_event"], row["proportion_with_event"]) == (
        2,
        2,
        1.0,
    )


def test_hand_computed_first_event_person_time(cohort):
    # First-event time at risk ends on the event day, that day included:
    # A 2020-01-01 .. 2020-06-01 = 31 + 29 + 31 + 30 + 31 + 1 = 153 days;
    # B 2020-01-01 .. 2021-03-01 = 366 + 31 + 28 + 1 = 426 days; 579 days = 1.585216 PY.
    row = rate_row(cohort, "AE-SEIZ")
    assert row["first_events"] == 2
    assert row["first_event_person_years"] == pytest.approx(579 / 365.25)
    assert row["first_event_rate_per_1000py"] == pytest.approx(2 / (579 / 365.25) * 1000)
    days = dict(
        cohort.execute(
            "SELECT patient_id, sum(days) FROM marts.clozapine_person_time "
            "WHERE analysis = 'first_event' AND event_id = 'AE-SEIZ' GROUP BY 1"
        ).fetchall()
    )
    assert days == {"A": 153, "B": 426}


def test_person_time_by_time_since_start(cohort):
    # Weeks 0-4 = days 0-27 (28 days each), weeks 4-18 = days 28-125 (98), weeks 18-52 = days
    # 126-363 (238), weeks >52 = day 364 on (A 731 - 364 = 367, B 730 - 364 = 366).
    # A's seizure is day 152 (weeks 18-52) and its open episode takes days 153-191 (39) out;
    # B's is day 425 (weeks >52), open days 426-455 (30).
    expected = {
        "weeks 0-4": (0, 56),
        "weeks 4-18": (0, 196),
        "weeks 18-52": (1, 476 - 39),
        "weeks >52": (1, 733 - 30),
    }
    for stratum, (events, days) in expected.items():
        row = rate_row(cohort, "AE-SEIZ", "time_since_start", stratum)
        assert row["events"] == events, stratum
        assert row["person_years"] == pytest.approx(days / 365.25), stratum
    sexes = {s: rate_row(cohort, "AE-SEIZ", "sex", s)["person_years"] for s in ("F", "M")}
    assert sexes == pytest.approx({"F": (731 - 39) / 365.25, "M": (730 - 30) / 365.25})
    # an event nobody had still has rates: 0 events, upper bound -ln(0.025) = 3.688879 per 4 PY
    neu = rate_row(cohort, "AE-NEU")
    assert (neu["events"], neu["ci_low"]) == (0, 0.0)
    assert neu["ci_high"] == pytest.approx(-math.log(0.025) / 4.0 * 1000)


def test_duplicate_codes_are_one_episode_with_its_evidence(cohort):
    rows = dicts(
        cohort,
        "SELECT * FROM marts.adverse_events WHERE event_id = 'AE-SEIZ' ORDER BY patient_id",
    )
    assert [(r["patient_id"], r["episode_number"], r["n_evidence"]) for r in rows] == [
        ("A", 1, 2),
        ("B", 1, 1),
    ]
    a = rows[0]
    assert a["onset_date"] == dt.date(2020, 6, 1)
    assert a["last_evidence_date"] == dt.date(2020, 6, 10)
    assert a["source"] == "diagnosis"
    assert a["on_clozapine"] and a["first_on_clozapine"] and not a["in_risk_window"]
    assert a["days_since_clozapine_start"] == 152
    assert a["weeks_since_clozapine_start"] == 21
    assert a["clozapine_dose_at_onset"] == 400
    assert a["evidence"] == "diagnosis G409 on 2020-06-01; diagnosis G409 on 2020-06-10"


# --- stratum boundaries ------------------------------------------------------------------------


def test_event_on_the_day_a_stratum_starts_belongs_to_the_new_stratum(tmp_path):
    # Clozapine from 2020-01-01: 250 mg/day to 2020-02-09, 350 mg/day from 2020-02-10 (day 40).
    # Born 1995-03-15: 25 on 2020-03-15. As-of 2020-06-30.
    # Seizures (one per patient, so each is its own episode):
    #   P1 2020-01-28 = day 27, last day of weeks 0-4;   P2 2020-01-29 = day 28, first of weeks 4-18
    #   P3 2020-02-10 = the day the dose becomes 350 (band 300-600, dose at onset 350)
    #   P4 2020-03-15 = 25th birthday (age band 25-34)
    people = ["P1", "P2", "P3", "P4"]
    con = build(
        tmp_path,
        patients=[(p, "1995-03-15", "F", None) for p in people],
        clozapine=[(p, "2020-01-01", "2020-02-09", 250) for p in people]
        + [(p, "2020-02-10", None, 350) for p in people],
        diagnoses=[
            ("P1", "G40.9", "2020-01-28"),
            ("P2", "G40.9", "2020-01-29"),
            ("P3", "G40.9", "2020-02-10"),
            ("P4", "G40.9", "2020-03-15"),
        ],
        as_of=dt.date(2020, 6, 30),
        overrides=ISSUE5,
    )
    placed = dict(
        con.execute(
            "SELECT patient_id, (time_since_start, dose_band, age_band) "
            "FROM marts.clozapine_person_time WHERE analysis = 'all_episodes' "
            "AND event_id = 'AE-SEIZ' AND events = 1"
        ).fetchall()
    )
    assert placed == {
        "P1": ("weeks 0-4", "<300", "<25"),
        "P2": ("weeks 4-18", "<300", "<25"),
        "P3": ("weeks 4-18", "300-600", "<25"),
        "P4": ("weeks 4-18", "300-600", "25-34"),
    }
    doses = dict(
        con.execute(
            "SELECT patient_id, clozapine_dose_at_onset FROM marts.adverse_events"
        ).fetchall()
    )
    assert doses == {"P1": 250, "P2": 250, "P3": 350, "P4": 350}
    # Weeks 0-4 is exactly days 0-27 = 28 days for each patient (all-episodes person-time);
    # the dose band <300 is days 0-39 (2020-01-01 .. 2020-02-09) = 40 days.
    segments = dicts(
        con,
        "SELECT time_since_start, dose_band, age_band, segment_start, segment_end, days "
        "FROM intermediate.ae_person_time_segments WHERE patient_id = 'P1' AND grace_days = 0 "
        "ORDER BY segment_start",
    )
    assert [(s["segment_start"], s["segment_end"], s["days"]) for s in segments] == [
        (dt.date(2020, 1, 1), dt.date(2020, 1, 28), 28),  # weeks 0-4, <300
        (dt.date(2020, 1, 29), dt.date(2020, 2, 9), 12),  # weeks 4-18, <300
        (dt.date(2020, 2, 10), dt.date(2020, 3, 14), 34),  # weeks 4-18, 300-600, <25
        (dt.date(2020, 3, 15), dt.date(2020, 5, 5), 52),  # 25-34 from the birthday (day 74)
        (dt.date(2020, 5, 6), dt.date(2020, 6, 30), 56),  # weeks 18-52 from day 126
    ]
    assert sum(s["days"] for s in segments) == 182  # 2020-01-01 .. 2020-06-30
    weeks_0_4 = rate_row(con, "AE-SEIZ", "time_since_start", "weeks 0-4")
    assert (weeks_0_4["events"], weeks_0_4["person_years"]) == (1, pytest.approx(4 * 28 / 365.25))
    low_dose = rate_row(con, "AE-SEIZ", "dose_band", "<300")
    # less the open-episode days inside <300: P1's seizure (day 27) takes days 28-39 (12) out,
    # P2's (day 28) days 29-39 (11)
    assert (low_dose["events"], low_dose["person_years"]) == (
        2,
        pytest.approx((4 * 40 - 12 - 11) / 365.25),
    )


# --- censoring: stop vs death, risk window -----------------------------------------------------

STOP_DEATH_PATIENTS = [("S", "1980-01-01", "M", None), ("D", "1980-01-01", "M", "2020-03-31")]
# S stops on 2020-03-31; D is still prescribed clozapine but dies on 2020-03-31. Both 91 days
# (31 + 29 + 31). S has a seizure on 2020-04-15, 15 days after the stop.
STOP_DEATH_CLOZAPINE = [("S", "2020-01-01", "2020-03-31", 400), ("D", "2020-01-01", None, 400)]
STOP_DEATH_DX = [("S", "R56.8", "2020-04-15")]


def test_censored_at_stop_vs_death(tmp_path):
    con = build(
        tmp_path,
        patients=STOP_DEATH_PATIENTS,
        clozapine=STOP_DEATH_CLOZAPINE,
        diagnoses=STOP_DEATH_DX,
        as_of=dt.date(2020, 12, 31),
        overrides=ISSUE5,
    )
    periods = {
        r["patient_id"]: r
        for r in dicts(
            con,
            "SELECT * FROM intermediate.ae_risk_periods WHERE grace_days = 0 ORDER BY patient_id",
        )
    }
    assert (periods["S"]["at_risk_end"], periods["S"]["end_reason"]) == (
        dt.date(2020, 3, 31),
        "stopped",
    )
    assert (periods["D"]["at_risk_end"], periods["D"]["end_reason"]) == (
        dt.date(2020, 3, 31),
        "died",
    )
    assert periods["S"]["days"] == periods["D"]["days"] == 91
    last = dict(
        con.execute(
            "SELECT patient_id, arg_max(segment_end_reason, segment_end) "
            "FROM marts.clozapine_person_time WHERE analysis = 'first_event' "
            "AND event_id = 'AE-SEIZ' GROUP BY 1"
        ).fetchall()
    )
    assert last == {"S": "stopped", "D": "died"}
    # Without a risk window the seizure 15 days after the stop is not on clozapine.
    event = dicts(con, "SELECT * FROM marts.adverse_events")[0]
    assert not event["on_clozapine"] and event["days_since_clozapine_start"] == 105
    assert rate_row(con, "AE-SEIZ")["events"] == 0
    assert rate_row(con, "AE-SEIZ")["person_years"] == pytest.approx(182 / 365.25)
    # Kaplan-Meier: both censored in week 12 (day 90), nobody at risk after.
    km = dicts(
        con,
        "SELECT week, at_risk, censored, cumulative_incidence FROM marts.ae_cumulative_incidence "
        "WHERE event_id = 'AE-SEIZ' ORDER BY week",
    )
    assert km[-1] == {"week": 12, "at_risk": 2, "censored": 2, "cumulative_incidence": 0.0}


def test_risk_window_after_stop_extends_time_but_not_past_death(tmp_path):
    con = build(
        tmp_path,
        patients=STOP_DEATH_PATIENTS,
        clozapine=STOP_DEATH_CLOZAPINE,
        diagnoses=STOP_DEATH_DX,
        as_of=dt.date(2020, 12, 31),
        overrides={**ISSUE5, "grace_period_days": 30},
    )
    ends = dict(
        con.execute(
            "SELECT patient_id, (at_risk_end, end_reason, days) FROM intermediate.ae_risk_periods "
            "WHERE grace_days = 30"
        ).fetchall()
    )
    # S: 2020-03-31 + 30 = 2020-04-30, 121 days; D: death ends the time at risk, 91 days.
    assert ends == {
        "S": (dt.date(2020, 4, 30), "stopped", 121),
        "D": (dt.date(2020, 3, 31), "died", 91),
    }
    event = dicts(con, "SELECT * FROM marts.adverse_events")[0]
    assert event["on_clozapine"] and event["in_risk_window"]
    assert event["clozapine_dose_at_onset"] == 400  # the last dose before the stop
    bands = dict(
        con.execute(
            "SELECT dose_band, sum(days) FROM marts.clozapine_person_time "
            "WHERE analysis = 'all_episodes' AND event_id = 'AE-SEIZ' GROUP BY 1"
        ).fetchall()
    )
    # the seizure on day 15 after the stop opens an episode: 2020-04-16 .. 2020-05-15 not at risk,
    # so the grace period holds 2020-04-01 .. 2020-04-15 = 15 days
    assert bands == {"300-600": 182, "after stop": 15}
    seiz = rate_row(con, "AE-SEIZ")
    assert (seiz["events"], seiz["person_years"]) == (1, pytest.approx(197 / 365.25))


# --- episodes: ANC runs, lab + diagnosis, events before clozapine ------------------------------


def test_ae5_low_ancs_and_codes_form_episodes_ended_by_recovery(tmp_path):
    # ANC 300 on 2020-02-20, 450 on 2020-02-23 (a run of low ANCs), D70 on 2020-02-24 and D70.9 on
    # 2020-03-05: one episode from 2020-02-20, source both. ANC 1,800 in between is normal.
    # A D70 on 2020-05-15 is 44 days after the last evidence (> 30): a second episode.
    con = build(
        tmp_path,
        patients=[("N", "1985-01-01", "F", None)],
        clozapine=[("N", "2020-01-01", None, 300)],
        labs=[
            ("N", "2020-02-20", "ANC", "0.3", "10^9/L", None),
            ("N", "2020-02-23", "ANC", "450", "/uL", None),
            ("N", "2020-03-01", "ANC", "1.8", "10^9/L", None),
            ("N", "2020-04-01", "ANC", "<0.5", "10^9/L", None),
            ("N", "2020-04-02", "ANC", "<0.6", "10^9/L", None),
        ],
        diagnoses=[
            ("N", "D70", "2020-02-24"),
            ("N", "D70.9", "2020-03-05"),
            ("N", "D70", "2020-05-15"),
        ],
        as_of=dt.date(2020, 12, 31),
        overrides=ISSUE5,
    )
    rows = dicts(
        con,
        "SELECT episode_number, onset_date, last_evidence_date, source, n_evidence, "
        "days_since_clozapine_start, evidence FROM marts.adverse_events ORDER BY episode_number",
    )
    # AE-5 (issue 14, item 5): the ANC of 1,800 on 2020-03-01 is a recovery (>= 1,000) and ends
    # the first episode (300, 450, D70). D70.9 on 2020-03-05 opens a second; "<0.5" x10^9/L is
    # below 500/uL and joins it 27 days later; "<0.6" proves nothing (could be 550: neither
    # evidence nor a recovery). No normal result follows, so it ends 30 days after 2020-04-01.
    # D70 on 2020-05-15 (44 days later) is a third.
    assert [
        (r["onset_date"], r["last_evidence_date"], r["source"], r["n_evidence"]) for r in rows
    ] == [
        (dt.date(2020, 2, 20), dt.date(2020, 2, 24), "both", 3),
        (dt.date(2020, 3, 5), dt.date(2020, 4, 1), "both", 2),
        (dt.date(2020, 5, 15), dt.date(2020, 5, 15), "diagnosis", 1),
    ]
    assert rows[0]["days_since_clozapine_start"] == 50
    assert rows[0]["evidence"] == (
        "ANC 300/uL on 2020-02-20; ANC 450/uL on 2020-02-23; diagnosis D70 on 2020-02-24"
    )
    assert rows[1]["evidence"].endswith("ANC <500/uL on 2020-04-01")
    ends = con.execute(
        "SELECT episode_end, end_reason FROM marts.adverse_events ORDER BY episode_number"
    ).fetchall()
    assert ends == [
        (dt.date(2020, 3, 1), "recovered"),
        (dt.date(2020, 5, 1), "no_further_evidence"),
        (dt.date(2020, 6, 14), "no_further_evidence"),
    ]
    # Not at risk inside the open episodes: 02-21..03-01 (10), 03-06..05-01 (57), 05-16..06-14
    # (30) = 97 of 2020's 366 days.
    neu = rate_row(con, "AE-NEU")
    assert (neu["events"], neu["first_events"]) == (3, 1)
    assert neu["person_years"] == pytest.approx((366 - 97) / 365.25)


def test_event_before_clozapine_start_is_not_on_clozapine(tmp_path):
    # Seizure 2019-06-01 and type 2 diabetes (E11.9) 2019-09-01, clozapine from 2020-01-01.
    con = build(
        tmp_path,
        patients=[("E", "1985-01-01", "M", None), ("F", "1985-01-01", "M", None)],
        clozapine=[("E", "2020-01-01", None, 400), ("F", "2020-01-01", None, 400)],
        diagnoses=[("E", "G40.9", "2019-06-01"), ("E", "E11.9", "2019-09-01")],
        as_of=dt.date(2020, 12, 31),
        overrides=ISSUE5,
    )
    events = {
        r["event_id"]: r
        for r in dicts(con, "SELECT * FROM marts.adverse_events WHERE patient_id = 'E'")
    }
    seiz = events["AE-SEIZ"]
    assert not seiz["on_clozapine"] and not seiz["first_on_clozapine"]
    assert seiz["days_since_clozapine_start"] == -214  # 2019-06-01 .. 2020-01-01
    assert seiz["clozapine_dose_at_onset"] is None and seiz["exposure_episode"] is None
    # Not counted, and the seizure history does not remove E from the seizure risk set: both
    # patients give the whole of 2020 (366 days).
    row = rate_row(con, "AE-SEIZ")
    assert (row["events"], row["first_events"]) == (0, 0)
    assert row["first_event_person_years"] == pytest.approx(2 * 366 / 365.25)
    # Diabetes is chronic (once_per_patient): E has prevalent diabetes and is not at risk of new
    # diabetes; only F's time counts.
    met = rate_row(con, "AE-MET")
    assert (met["events"], met["patients"]) == (0, 1)
    assert met["person_years"] == pytest.approx(366 / 365.25)


def test_lab_evidence_thresholds(tmp_path):
    # Myocarditis: troponin above its reference with CRP > 100 within 7 days, in weeks 1-8 only
    # (days 0-55 of the episode). HbA1c >= 48 (48 counts), ALT > 3 x ULN (ULN 40 when not given:
    # 121 counts, 120 does not), QTc > 500 (500 does not).
    con = build(
        tmp_path,
        patients=[("L", "1985-01-01", "F", None)],
        clozapine=[("L", "2020-01-01", None, 400)],
        labs=[
            ("L", "2020-02-25", "troponin", "80", "ng/L", "26"),  # day 55: counts
            ("L", "2020-02-27", "CRP", "150", "mg/L", None),
            ("L", "2020-02-26", "troponin", "90", "ng/L", "26"),  # day 56: outside weeks 1-8
            ("L", "2020-06-01", "HbA1c", "48", "mmol/mol", None),
            ("L", "2020-07-01", "ALT", "120", "U/L", None),
            ("L", "2020-09-01", "ALT", "121", "U/L", None),
            ("L", "2020-08-01", "QTc", "500", "ms", None),
        ],
        as_of=dt.date(2020, 12, 31),
        overrides=ISSUE5,
    )
    evidence = con.execute(
        "SELECT event_id, evidence_date, detail FROM intermediate.ae_evidence ORDER BY 1, 2"
    ).fetchall()
    assert evidence == [
        ("AE-HEP", dt.date(2020, 9, 1), "ALT 121 U/L, ULN 40"),
        ("AE-MET", dt.date(2020, 6, 1), "HbA1c 48 mmol/mol"),
        ("AE-MYO", dt.date(2020, 2, 25), "troponin 80 above its reference 26 with CRP 150 mg/L"),
    ]


# --- Kaplan-Meier by hand ----------------------------------------------------------------------


def test_kaplan_meier_by_hand(tmp_path):
    # Four patients start clozapine on 2020-01-01 (day 0); as-of 2020-12-31 (day 365).
    #   K1 seizure on day 10 (2020-01-11)           K2 stops on day 10 (censored, same day)
    #   K3 seizure on day 20 (2020-01-21)           K4 on clozapine to the as-of date (censored)
    # Day 10: 4 at risk (the event comes before the censoring), 1 event: S = 3/4.
    # Day 20: 2 at risk (K3, K4), 1 event: S = 3/4 x 1/2 = 3/8.
    # Greenwood sums: 1 / (4 x 3) = 1/12 after day 10; 1/12 + 1 / (2 x 1) = 7/12 after day 20.
    con = build(
        tmp_path,
        patients=[(p, "1980-01-01", "F", None) for p in ("K1", "K2", "K3", "K4")],
        clozapine=[
            ("K1", "2020-01-01", None, 400),
            ("K2", "2020-01-01", "2020-01-11", 400),
            ("K3", "2020-01-01", None, 400),
            ("K4", "2020-01-01", None, 400),
        ],
        diagnoses=[("K1", "G40.9", "2020-01-11"), ("K3", "G40.9", "2020-01-21")],
        as_of=dt.date(2020, 12, 31),
        overrides=ISSUE5,
    )
    km = {
        r["week"]: r
        for r in dicts(
            con, "SELECT * FROM marts.ae_cumulative_incidence WHERE event_id = 'AE-SEIZ'"
        )
    }
    assert sorted(km) == list(range(53))  # weeks 0..52 (day 365 is in week 52)
    assert [(km[w]["at_risk"], km[w]["events"], km[w]["censored"]) for w in (0, 1, 2, 3, 52)] == [
        (4, 0, 0),
        (4, 1, 1),
        (2, 1, 0),
        (1, 0, 0),
        (1, 0, 1),
    ]
    assert km[0]["cumulative_incidence"] == 0 and (km[0]["ci_low"], km[0]["ci_high"]) == (0, 0)

    def band(s: float, greenwood: float) -> tuple[float, float]:
        se = math.sqrt(greenwood) / abs(math.log(s))
        return 1 - s ** math.exp(-Z95 * se), 1 - s ** math.exp(Z95 * se)

    for week, s, greenwood, cumulative in ((1, 0.75, 1 / 12, 1), (2, 0.375, 7 / 12, 2)):
        row = km[week]
        assert row["survival"] == pytest.approx(s)
        assert row["cumulative_incidence"] == pytest.approx(1 - s)
        assert row["cumulative_events"] == cumulative
        assert row["std_error"] == pytest.approx(s * math.sqrt(greenwood))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(band(s, greenwood))
    # week 1 by hand: se = sqrt(1/12) / |ln 0.75| = 0.288675 / 0.287682 = 1.003452;
    # 1 - 0.75^exp(-1.96 x 1.003452) = 1 - 0.75^0.139914 = 0.039451; 1 - 0.75^7.14726 = 0.872053
    assert (km[1]["ci_low"], km[1]["ci_high"]) == pytest.approx((0.039451, 0.872053), abs=1e-5)
    assert km[52]["cumulative_incidence"] == pytest.approx(0.625)
