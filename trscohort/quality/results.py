"""audit.dq_results: one row per expectation of the last validation of each suite and table."""

from __future__ import annotations

import duckdb

from trscohort.quality.validate import SuiteResult

DQ_RESULTS_DDL = """
CREATE TABLE IF NOT EXISTS audit.dq_results (
    suite VARCHAR,
    asset VARCHAR,
    table_name VARCHAR,
    check_name VARCHAR,
    severity VARCHAR,
    expectation VARCHAR,
    success BOOLEAN,
    observed_value VARCHAR,
    unexpected_count BIGINT,
    element_count BIGINT,
    unexpected_percent DOUBLE,
    examples VARCHAR,
    message VARCHAR,
    run_at TIMESTAMP,
    seconds DOUBLE,
    published_observed VARCHAR,
    published_examples VARCHAR
)
"""
# observed_value and examples are raw (they may quote identifiers: the warehouse is as
# confidential as the data); message, published_observed and published_examples are what may
# be published or logged: row numbers and masked values (trscohort.quality.masking).

# Columns that record when a validation happened (tests compare warehouses without them).
VOLATILE_COLUMNS = ("run_at", "seconds")


def record_results(con: duckdb.DuckDBPyConnection, result: SuiteResult) -> int:
    """Replace the suite's rows for its table; returns the number of rows written."""
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute(DQ_RESULTS_DDL)
    con.execute(
        "DELETE FROM audit.dq_results WHERE suite = ? AND table_name = ?",
        [result.suite.name, result.table],
    )
    rows = []
    for check in result.checks:
        message = check.message(result.table)
        for e in check.expectations:
            rows.append(
                [
                    result.suite.name,
                    "/".join(result.suite.asset_path),
                    result.table,
                    check.check.name,
                    check.check.severity,
                    e.expectation,
                    e.success,
                    e.observed_value,
                    e.unexpected_count,
                    e.element_count,
                    e.unexpected_percent,
                    e.examples,
                    e.sentence() if not e.success else message,
                    result.started_at,
                    result.seconds,
                    e.published_observed,
                    e.published_examples,
                ]
            )
    if rows:
        con.executemany(
            "INSERT INTO audit.dq_results VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def has_results(con: duckdb.DuckDBPyConnection) -> bool:
    return (
        con.execute(
            "SELECT count(*) FROM information_schema.tables "  # tables and views
            "WHERE table_schema = 'audit' AND table_name = 'dq_results'"
        ).fetchone()[0]
        > 0
    )


def failed_checks(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str]]:
    """(severity, table, check, first failing expectation's message) per failed check."""
    if not has_results(con):
        return []
    return con.execute(
        """
        SELECT severity, table_name, check_name, arg_min(message, expectation)
        FROM audit.dq_results WHERE NOT success
        GROUP BY ALL ORDER BY severity, table_name, check_name
        """
    ).fetchall()


def checks_summary(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Lines for the run summary: how many checks passed, then each failed check."""
    if not has_results(con):
        return []
    total, failed = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT ok) FROM ("
        "  SELECT bool_and(success) AS ok FROM audit.dq_results"
        "  GROUP BY suite, table_name, check_name)"
    ).fetchone()
    lines = [f"data-quality checks: {total - failed} of {total} passed"]
    for severity, table, check, message in failed_checks(con):
        lines.append(f"  {severity:<8} {table} {check}: {message}")
    return lines
