"""Issue 15, item 4: data-quality examples in published or logged places are row numbers and
masked values, never identifiers or birth dates; audit.dq_results may keep them."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, asset, materialize
from dagster_duckdb import DuckDBResource

from trscohort.orchestration.assets.checks import suite_check
from trscohort.orchestration.resources import TrsEngine, TrsSettings
from trscohort.quality import checks_summary, load_suites, record_results, validate_suite
from trscohort.quality.report import write_report

IDS = ("P0000042", "P0000077")
BIRTHS = ("1984-03-02", "2090-01-01")  # the second one is in the future: a failed check

PATIENTS_SQL = f"""
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS audit;
CREATE OR REPLACE TABLE audit.ingest_log AS
    SELECT 'patients' AS extract, '/site/exports/patients.csv' AS file, 3 AS rows_read,
           3 AS accepted, 0 AS quarantined, 0 AS duplicates;
CREATE OR REPLACE TABLE staging.patients AS SELECT * FROM (VALUES
    (12, '{IDS[0]}', DATE '{BIRTHS[0]}', 'F', FALSE, NULL, CAST(NULL AS DATE)),
    (40, '{IDS[0]}', DATE '{BIRTHS[0]}', 'F', FALSE, NULL, NULL),
    (41, '{IDS[1]}', DATE '{BIRTHS[1]}', 'M', FALSE, NULL, NULL)
) AS t(source_row, patient_id, birth_date, sex, benign_ethnic_neutropenia, site, death_date)
"""


def _suite():
    return next(s for s in load_suites() if s.table == "staging.patients")


def _leaks(text: str) -> list[str]:
    return [v for v in (*IDS, *BIRTHS) if v in text]


@pytest.fixture
def validated():
    con = duckdb.connect()
    con.execute(PATIENTS_SQL)
    result = validate_suite(con, _suite(), today=dt.date(2025, 1, 1))
    record_results(con, result)
    return con, result


def test_failed_checks_say_which_rows_without_quoting_ids_or_birth_dates(validated, tmp_path):
    con, result = validated
    failed = {c.check.name: c for c in result.checks if not c.success}
    assert {"patient_id_unique", "dates_plausible"} <= set(failed)
    unique = failed["patient_id_unique"].message(result.table)
    assert "e.g. patients.csv row 12 'A9999999', row 40 'A9999999'" in unique
    dates = failed["dates_plausible"].message(result.table)
    assert "patients.csv row 41 '9999-99-99'" in dates
    published = [
        unique,
        dates,
        *checks_summary(con),  # printed on stderr by `trscohort run`
        write_report(con, tmp_path).read_text(),  # out/data_quality.html
    ]
    for text in published:
        assert _leaks(text) == [], text[:300]


def test_the_warehouse_keeps_the_raw_examples(validated):
    con, _ = validated
    examples = " ".join(
        e
        for (e,) in con.execute(
            "SELECT examples FROM audit.dq_results WHERE examples IS NOT NULL"
        ).fetchall()
    )
    assert IDS[0] in examples and BIRTHS[1] in examples


def test_dagster_event_log_holds_no_identifier(tmp_path):
    """The checks' descriptions and metadata go to Dagster's event log (and its UI)."""
    suite = _suite()

    @asset(key=AssetKey(["staging", "patients"]))
    def patients(duckdb: DuckDBResource) -> None:
        with duckdb.get_connection() as con:
            con.execute(PATIENTS_SQL)

    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [patients, suite_check(suite)],
            resources={
                "duckdb": DuckDBResource(database=str(tmp_path / "w.duckdb")),
                "settings": TrsSettings(out_dir=str(tmp_path / "out")),
                "engine": TrsEngine(),  # the DuckDB engine (issue 20)
            },
            instance=instance,
            raise_on_error=False,
        )
        evaluations = result.get_asset_check_evaluations()
        assert any(not e.passed for e in evaluations)
        logged = [repr(record) for record in instance.all_logs(result.run_id)]
    assert logged
    for text in logged:
        assert _leaks(text) == [], text[:300]
