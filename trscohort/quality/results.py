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
    if rows:  # one statement: executemany runs one insert per row (~8 ms each)
        row = "(" + ", ".join("?" * len(rows[0])) + ")"
        con.execute(
            f"INSERT INTO audit.dq_results VALUES {', '.join([row] * len(rows))}",
            [value for values in rows for value in values],
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
    """(severity, table, check, what failed in plain English) per failed check: the check's
    `description:` from its suite file, then how many rows of how many, and published examples
    (never raw expectation syntax, never an identifier)."""
    if not has_results(con):
        return []
    rows = con.execute(
        """
        SELECT severity, table_name, suite, check_name,
               arg_min([message, CAST(unexpected_count AS VARCHAR), CAST(element_count AS VARCHAR),
                        published_examples], expectation) AS first_failed
        FROM audit.dq_results WHERE NOT success
        GROUP BY ALL ORDER BY severity, table_name, check_name
        """
    ).fetchall()
    descriptions = _check_descriptions()
    found = []
    for severity, table, suite, check, (message, unexpected, elements, examples) in rows:
        description = descriptions.get((suite, check))
        found.append(
            (severity, table, check, _plain(description, message, unexpected, elements, examples))
        )
    return found


def _check_descriptions() -> dict[tuple[str, str], str]:
    from trscohort.quality.suites import load_suites

    return {
        (suite.name, check.name): check.description
        for suite in load_suites()
        for check in suite.checks
        if check.description
    }


def _plain(
    description: str | None,
    message: str,
    unexpected: str | None,
    elements: str | None,
    examples: str | None,
) -> str:
    """`description — n of N rows (p %); e.g. ...`, or the message when no description exists."""
    if not description:
        return message
    if unexpected is None or int(unexpected) == 0:
        return description
    count = int(unexpected)
    if elements:
        total = int(elements)
        share = f" ({100 * count / total:.1f} %)" if total else ""
        text = f"{description} — {count:,} of {total:,} rows{share}"
    else:
        text = f"{description} — {count:,} rows"
    return text + (f"; e.g. {examples}" if examples else "")


def checks_summary(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Lines for the run summary: how many checks passed, then each failed check.

    A check is one named check of a suite file on one table (a Dagster asset check); it holds
    one or more expectations, each a row of audit.dq_results. Checks none of whose expectations
    apply to the table's columns are "not applicable" and not counted, here nor in the progress
    lines, so the totals agree."""
    if not has_results(con):
        return []
    total, failed, expectations = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT ok), sum(n) FROM ("
        "  SELECT bool_and(success) AS ok, count(*) AS n FROM audit.dq_results"
        "  GROUP BY suite, table_name, check_name)"
    ).fetchone()
    lines = [
        f"data-quality checks: {total - failed} of {total} passed "
        f"({expectations or 0:,} expectations in audit.dq_results)"
    ]
    for severity, table, check, message in failed_checks(con):
        lines.append(f"  {severity:<8} {table} {check}: {message}")
    return lines


def suite_progress_line(result: SuiteResult) -> str:
    """The progress line of one suite, counted as the run summary counts: checks with at least
    one expectation that applies to the table (one row each in audit.dq_results per expectation)."""
    applicable = [c for c in result.checks if c.expectations]
    failed = [c.check.name for c in applicable if not c.success]
    expectations = sum(len(c.expectations) for c in applicable)
    not_applicable = len(result.checks) - len(applicable)
    return (
        f"checks {result.table} ({result.suite.name}): "
        f"{len(applicable) - len(failed)} of {len(applicable)} passed, {expectations} expectations"
        + (f"; {not_applicable} not applicable" if not_applicable else "")
        + (f"; failed: {', '.join(failed)}" if failed else "")
        + f" ({result.seconds:.1f} s)"
    )
