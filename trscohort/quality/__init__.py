"""Data quality: Great Expectations suites (expectations/*.yml) run inside DuckDB.

`run_suites` validates every suite whose table exists, records each expectation in
`audit.dq_results` and can write `<out>/data_quality.html`; the Dagster asset checks in
`assets/checks.py` call `validate_suite` + `record_results` per suite.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from trscohort.quality.report import REPORT_NAME, write_report
from trscohort.quality.results import (
    checks_summary,
    failed_checks,
    record_results,
    suite_progress_line,
)
from trscohort.quality.suites import Suite, load_suites, suites_for_tables
from trscohort.quality.validate import CheckOutcome, SuiteResult, validate_suite

__all__ = [
    "REPORT_NAME",
    "CheckOutcome",
    "Suite",
    "SuiteResult",
    "checks_summary",
    "existing_tables",
    "failed_checks",
    "load_suites",
    "record_results",
    "run_suites",
    "suite_progress_line",
    "suites_for_tables",
    "validate_suite",
    "write_report",
]


def existing_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        f"{s}.{t}"
        for s, t in con.execute(
            # views too: a Parquet warehouse (trscohort.engines.parquet) is read through views
            "SELECT schema_name, table_name FROM duckdb_tables() UNION "
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1, 2"
        ).fetchall()
    ]


def run_suites(
    con: duckdb.DuckDBPyConnection,
    *,
    out_dir: str | Path | None = None,
    directory: str | Path | None = None,
    today: dt.date | None = None,
) -> list[SuiteResult]:
    """Validate every suite whose table exists now, record the results, write the report."""
    results = []
    for suite in suites_for_tables(existing_tables(con), directory):
        result = validate_suite(con, suite, today=today)
        record_results(con, result)
        results.append(result)
    if out_dir is not None:
        write_report(con, out_dir)
    return results
