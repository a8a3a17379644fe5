"""Issue 16: the marts the pages count from (site x month, no patient identifier), on windows
written by hand, with the counts worked out by hand."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from trscohort.config import load_config
from trscohort.models import Model, build_model, transform_context

JAN, FEB = dt.date(2024, 1, 1), dt.date(2024, 2, 1)
# (site, patient, rule, window start, observed)
WINDOWS = [
    ("A", "P1", "MON-ANC-1", "2024-01-03", True),
    ("A", "P1", "MON-ANC-1", "2024-01-10", False),  # P1 misses one in January: not fully
    ("A", "P1", "MON-ANC-2", "2024-02-05", True),  # ... and is fully adherent in February
    ("A", "P2", "MON-ANC-0", "2024-01-01", False),  # baseline: not a window from week 1
    ("A", "P2", "MON-ANC-1", "2024-01-31", True),
    (None, "P3", "MON-MET-1", "2024-01-15", False),  # no site recorded; not an ANC rule
    ("B", "P4", "MON-ANC-3", None, False),  # no start: in no month
]


def _one_table(table: str, columns: str, rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with `table` (columns as SQL) holding `rows`."""
    con = duckdb.connect()
    con.execute(f"CREATE SCHEMA {table.split('.')[0]}")
    con.execute(f"CREATE TABLE {table} ({columns})")
    con.executemany(f"INSERT INTO {table} VALUES ({', '.join(['?'] * len(rows[0]))})", rows)
    return con


@pytest.fixture
def con():
    con = _one_table(
        "intermediate.monitoring_windows",
        "site VARCHAR, patient_id VARCHAR, rule_id VARCHAR, window_start DATE, is_observed BOOLEAN",
        WINDOWS,
    )
    yield con
    con.close()


def _rows(con, model: str) -> list[tuple]:
    table = build_model(con, Model("marts", model), transform_context(load_config()))
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL NULLS FIRST").fetchall()


def test_windows_per_site_month_and_rule(con):
    assert _rows(con, "monitoring_by_month") == [
        (None, JAN, "MON-MET-1", 0, 1),
        ("A", JAN, "MON-ANC-0", 0, 1),
        ("A", JAN, "MON-ANC-1", 2, 1),
        ("A", FEB, "MON-ANC-2", 1, 0),
    ]


def test_patients_fully_adherent_from_week_1_per_site_and_month(con):
    # January: P2 (its one window from week 1 observed) fully, P1 not; February: P1 fully
    assert _rows(con, "anc_adherent_patients_by_month") == [("A", JAN, 1, 1), ("A", FEB, 1, 0)]


# (site, patient, sample date, treatment week, category)
RESULTS = [
    ("A", "P1", "2023-03-01", 27, "normal"),
    ("A", "P1", "2023-03-08", 28, "normal"),  # weeks 27 and 28: one two-week band
    ("A", "P1", "2023-03-15", 29, "normal"),  # the next band
    ("A", "P1", "2024-01-10", 70, "mild"),  # four-week band 69-72
    ("A", "P2", "2023-07-01", 0, "normal"),  # baseline
    ("A", "P2", None, 3, "severe"),  # no date: in all years only
    (None, "P3", "2024-02-02", 200, "normal"),  # no site; past week 104
]


@pytest.fixture
def results():
    con = _one_table(
        "marts.anc_results",
        "site VARCHAR, patient_id VARCHAR, collected_date DATE, treatment_week INTEGER, "
        "anc_category VARCHAR, required_action VARCHAR",
        [(*row, "continue") for row in RESULTS],
    )
    yield con
    con.close()


def test_anc_results_per_site_month_and_week_band(results):
    mar, jul = dt.date(2023, 3, 1), dt.date(2023, 7, 1)
    jan24, feb24 = dt.date(2024, 1, 1), dt.date(2024, 2, 1)
    assert _rows(results, "anc_results_by_month") == [
        (None, feb24, 105, "normal", "continue", 1),
        ("A", mar, 27, "normal", "continue", 2),
        ("A", mar, 29, "normal", "continue", 1),
        ("A", jul, 0, "normal", "continue", 1),
        ("A", jan24, 69, "mild", "continue", 1),
    ]


def test_anc_patients_per_site_and_year_and_over_all_years(results):
    # P1 and P2 both normal in 2023 (P1 three times: once); P2's undated severe result only
    # in all years (result_year NULL)
    assert _rows(results, "anc_patients_by_year") == [
        (None, None, "normal", 1),
        (None, 2024, "normal", 1),
        ("A", None, "mild", 1),
        ("A", None, "normal", 2),
        ("A", None, "severe", 1),
        ("A", 2023, "normal", 2),
        ("A", 2024, "mild", 1),
    ]


STRATA = ("weeks 4-18", "<300", "18-39", "F", "first", "on treatment")
# (site, patient, analysis, event, segment start, start day, events, days)
PERSON_TIME = [
    ("A", "P1", "all_episodes", "AE-NEU", "2023-02-10", 40, 1, 30),
    ("A", "P2", "all_episodes", "AE-NEU", "2023-05-01", 10, 0, 20),
    ("A", "P1", "first_event", "AE-NEU", "2023-02-10", 40, 1, 30),  # the other analysis
    (None, "P3", "all_episodes", "AE-MYO", "2024-01-05", 10, 1, 5),  # course began 2023-12-26
]


def test_person_time_per_site_course_start_year_event_and_stratum():
    con = _one_table(
        "marts.clozapine_person_time",
        "site VARCHAR, patient_id VARCHAR, analysis VARCHAR, event_id VARCHAR, "
        "segment_start DATE, start_day INTEGER, events INTEGER, days INTEGER, "
        "time_since_start VARCHAR, dose_band VARCHAR, age_band VARCHAR, sex VARCHAR, "
        "course VARCHAR, exposure VARCHAR",
        [row + STRATA for row in PERSON_TIME],
    )
    rows = [(r[0], r[1], r[2], *r[-2:]) for r in _rows(con, "ae_person_time_by_year")]
    assert rows == [(None, 2023, "AE-MYO", 1, 5), ("A", 2023, "AE-NEU", 1, 50)]
    strata = {r[3:9] for r in _rows(con, "ae_person_time_by_year")}
    assert strata == {STRATA}
