"""Run a suite with Great Expectations 1.x against a DuckDB table, in the database itself.

GX reaches DuckDB through SQLAlchemy and duckdb-engine on a connection of our own (a cursor of
the caller's connection, so the same database and no second file lock), and validates temporary
views in DuckDB's `main` schema: every metric is one SQL aggregate pushed down to DuckDB, nothing
is loaded into pandas. The workarounds GX needs on DuckDB live in `gx_duckdb`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ["GX_ANALYTICS_ENABLED"] = "False"  # no usage data leaves a clinical machine

import duckdb  # noqa: E402
import great_expectations as gx  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.expectations.registry import get_expectation_impl  # noqa: E402
from great_expectations.expectations.row_conditions import Column  # noqa: E402
from packaging.version import Version  # noqa: E402

from trscohort.quality import gx_costs, gx_duckdb, masking  # noqa: E402
from trscohort.quality.suites import (  # noqa: E402
    Check,
    Expect,
    Suite,
    generated_expectations,
    row_condition,
)

MIN_GX = "1.13"
if Version(gx.__version__) < Version(MIN_GX):  # pandas 3 support arrived in 1.13
    raise ImportError(f"trscohort needs great-expectations >= {MIN_GX}, found {gx.__version__}")

for _name in ("great_expectations", "great_expectations.expectations.type_comparison"):
    logging.getLogger(_name).setLevel(logging.ERROR)

EXAMPLES = 5  # unexpected values shown per expectation


@dataclass(frozen=True)
class ExpectationOutcome:
    check: str
    severity: str
    expectation: str
    success: bool
    observed_value: str | None = None
    unexpected_count: int | None = None
    element_count: int | None = None
    unexpected_percent: float | None = None
    examples: str | None = None  # raw values: audit.dq_results only
    error: str | None = None
    column: str | None = None
    # What may be published or logged (trscohort.quality.masking): row numbers, masked values.
    published_examples: str | None = None
    published_observed: str | None = None

    def sentence(self) -> str:
        """The outcome in one sentence, as published and logged (never a raw example)."""
        if self.error:
            return f"{self.expectation}: {self.error}"
        parts = [self.expectation]
        if self.unexpected_count:
            of = f" of {self.element_count:,}" if self.element_count is not None else ""
            parts.append(f"{self.unexpected_count:,}{of} rows unexpected")
            if self.published_examples:
                parts.append(f"e.g. {self.published_examples}")
        elif self.published_observed is not None:
            parts.append(f"observed {self.published_observed}")
        return parts[0] + (": " + "; ".join(parts[1:]) if parts[1:] else "")


@dataclass(frozen=True)
class CheckOutcome:
    check: Check
    expectations: tuple[ExpectationOutcome, ...]

    @property
    def success(self) -> bool:
        return all(e.success for e in self.expectations)

    @property
    def unexpected_count(self) -> int:
        return sum(e.unexpected_count or 0 for e in self.expectations)

    def message(self, table: str) -> str:
        failed = [e for e in self.expectations if not e.success]
        if not failed:
            return f"{table}: {self.check.description or self.check.name}: passed"
        return f"{table}: {self.check.description or self.check.name} — " + failed[0].sentence()


@dataclass(frozen=True)
class SuiteResult:
    suite: Suite
    checks: tuple[CheckOutcome, ...] = ()
    skipped: str | None = None  # why the suite did not run (its table does not exist)
    started_at: dt.datetime = field(default_factory=dt.datetime.now)
    seconds: float = 0.0

    @property
    def table(self) -> str:
        return self.suite.table or ""

    @property
    def success(self) -> bool:
        return all(c.success for c in self.checks)

    @property
    def failed_blocking(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.check.blocking and not c.success]

    @property
    def failed_warnings(self) -> list[CheckOutcome]:
        return [c for c in self.checks if not c.check.blocking and not c.success]


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    found = con.execute(
        "SELECT count(*) FROM (SELECT schema_name, table_name FROM duckdb_tables() "
        "UNION ALL SELECT schema_name, view_name FROM duckdb_views()) "
        "WHERE schema_name = ? AND table_name = ?",
        [schema, name],
    ).fetchone()[0]
    return found > 0


def _view_name(table: str) -> str:
    return "dq__" + table.replace(".", "__")


def _q(name: str) -> str:
    return ".".join('"' + p.replace('"', '""') + '"' for p in name.split("."))


def _create_views(gxcon: duckdb.DuckDBPyConnection, suite: Suite) -> dict[str, str]:
    """Temporary views GX validates: 'table', 'ingest_log' and each referenced table."""
    assert suite.table
    views = {"table": f"dq_{suite.name}"}
    source = f"SELECT * FROM {_q(suite.table)}"
    if suite.join_patients:
        source = (
            f"SELECT t.*, p.patient_id IS NOT NULL AS dq_patient_known, "
            f"p.birth_date AS dq_patient_birth_date FROM {_q(suite.table)} AS t "
            f"LEFT JOIN (SELECT patient_id, min(birth_date) AS birth_date FROM staging.patients "
            f"GROUP BY patient_id) AS p ON p.patient_id = t.patient_id"
        )
    gxcon.execute(f"CREATE OR REPLACE TEMP VIEW {views['table']} AS {source}")
    if suite.accounting_extract:
        views["ingest_log"] = f"dq_{suite.name}__ingest_log"
        gxcon.execute(
            f"CREATE OR REPLACE TEMP VIEW {views['ingest_log']} AS SELECT *, "
            "accepted + quarantined + duplicates AS rows_accounted, "
            "CASE WHEN rows_read > 0 THEN quarantined / rows_read ELSE 0 END AS quarantined_share "
            "FROM audit.ingest_log WHERE extract = "
            + "'"
            + suite.accounting_extract.replace("'", "''")
            + "'"
        )
    for other in suite.other_tables:
        views[other] = _view_name(other)
        gxcon.execute(f"CREATE OR REPLACE TEMP VIEW {views[other]} AS SELECT * FROM {_q(other)}")
    return views


def _text(value: Any, limit: int = 200) -> str | None:
    if value is None:
        return None
    text = value.isoformat() if isinstance(value, dt.date | dt.datetime) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _column(expect: Expect) -> str | None:
    kwargs = expect.kwargs
    return kwargs.get("column") or kwargs.get("column_A") or None


def _outcome(
    check: Check, expect: Expect, gx_result, source: str | None = None
) -> ExpectationOutcome:
    result = gx_result.result or {}
    info = gx_result.exception_info or {}
    error = None
    if info.get("raised_exception"):
        error = (info.get("exception_message") or "the expectation could not be evaluated").strip()
        error = error.splitlines()[0][:300]
    elif not gx_result.success and not result:
        # GX reports metric errors per metric; take the first message.
        messages = (
            [v.get("exception_message") for v in info.values() if isinstance(v, dict)]
            if isinstance(info, dict)
            else []
        )
        messages = [m for m in messages if m]
        if messages:
            error = messages[0].strip().splitlines()[0][:300]
    examples = (result.get("partial_unexpected_list") or [])[:EXAMPLES]
    indices = (result.get("partial_unexpected_index_list") or [])[:EXAMPLES]
    rows = [i.get("source_row") for i in indices if isinstance(i, dict)]
    column = _column(expect)
    observed = result.get("observed_value")
    return ExpectationOutcome(
        check=check.name,
        severity=check.severity,
        expectation=expect.label(),
        success=bool(gx_result.success),
        observed_value=_text(observed),
        unexpected_count=result.get("unexpected_count"),
        element_count=result.get("element_count"),
        unexpected_percent=result.get("unexpected_percent"),
        examples=_text(", ".join(repr(masking.as_text(v)) for v in examples)) if examples else None,
        error=error,
        column=column,
        published_examples=masking.published_examples(examples, rows, column, source),
        published_observed=_text(masking.masked_observed(observed, column)),
    )


def _source_file(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """The extract file a staging table was read from (examples cite its rows)."""
    schema, name = table.split(".")
    if schema != "staging" or not table_exists(con, "audit.ingest_log"):
        return None
    row = con.execute("SELECT file FROM audit.ingest_log WHERE extract = ?", [name]).fetchone()
    return Path(row[0]).name if row and row[0] else None


@functools.cache
def _context():
    """One ephemeral GX context per process: building one, and its configuration saves, cost
    more than a small suite's validation. Each suite adds its own data source and removes it."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    with contextlib.suppress(Exception):  # the environment variable suffices where this fails
        context.enable_analytics(False)
    # An ephemeral context "saves" its whole configuration as YAML into a store nothing reads
    # after every data source, asset and batch definition added or removed (4 per suite).
    context._save_project_config = lambda: None
    return context


_DATASOURCE_NUMBERS = itertools.count()
# GX contexts are not made for threads: suites validated from threads take turns on the shared
# one (GX's own Python holds the GIL anyway; each suite had a context of its own before).
_CONTEXT_LOCK = threading.Lock()


def _expectation(expect: Expect, index: int, today: dt.date, views: dict[str, str]):
    """The GX expectation of one planned check, tagged with its place in the plan."""
    kwargs = expect.resolved_kwargs(today, views)
    if "where" in kwargs:
        column, value = row_condition(kwargs.pop("where"))
        kwargs["row_condition"] = Column(column) == value
    return get_expectation_impl(expect.type)(**kwargs, meta={"i": index})


def _run_gx(
    gxcon: duckdb.DuckDBPyConnection,
    name: str,
    planned: list[tuple[Check, Expect]],
    views: dict[str, str],
    columns: dict[str, str],
    today: dt.date,
) -> dict[int, Any]:
    """GX's result for each planned expectation (by its place in the plan), batch by batch.

    Validated through the batch, not a stored ValidationDefinition: nothing here is kept in
    the context (suites, definitions and results stores only cost time in an ephemeral one)."""
    context = _context()
    datasource = context.data_sources.add_sql(
        f"warehouse_{next(_DATASOURCE_NUMBERS)}",
        connection_string="duckdb:///:memory:",
        create_temp_table=False,
        kwargs=gx_duckdb.engine_kwargs(gxcon),
    )
    results: dict[int, Any] = {}
    try:
        for batch in sorted({e.on for _, e in planned}):
            asset = datasource.add_table_asset(batch, table_name=views[batch])
            definition = asset.add_batch_definition_whole_table("whole")
            # Given to the constructor: add_expectation compares each new one with every one
            # before it (pydantic dicts) and saves the suite each time, ~10 ms an expectation.
            expectations = [
                _expectation(expect, index, today, views)
                for index, (_, expect) in enumerate(planned)
                if expect.on == batch
            ]
            gx_suite = gx.ExpectationSuite(f"{name}__{batch}", expectations=expectations)
            result_format: dict[str, Any] = {
                "result_format": "SUMMARY",
                "partial_unexpected_count": EXAMPLES,
            }
            if batch == "table" and "source_row" in columns:  # examples cite their file's row
                result_format["unexpected_index_column_names"] = ["source_row"]
            run = definition.get_batch().validate(gx_suite, result_format=result_format)
            for r in run.results:
                results[r.expectation_config.meta["i"]] = r
    finally:
        context.data_sources.delete(datasource.name)
    return results


def validate_suite(
    con: duckdb.DuckDBPyConnection, suite: Suite, *, today: dt.date | None = None
) -> SuiteResult:
    """Run every check of a table-bound suite; a suite whose table is absent is skipped."""
    started_at = dt.datetime.now()
    started = time.perf_counter()
    assert suite.table, "bind a generic suite to a table first (Suite.for_table)"
    if not table_exists(con, suite.table):
        return SuiteResult(suite, skipped=f"{suite.table} does not exist", started_at=started_at)
    gx_duckdb.install()
    gx_costs.install()
    today = today or dt.date.today()
    gxcon = con.cursor()
    try:
        views = _create_views(gxcon, suite)
        columns = {
            name: kind for name, kind, *_ in gxcon.execute(f"DESCRIBE {views['table']}").fetchall()
        }
        planned: list[tuple[Check, Expect]] = []
        for check in suite.checks:
            expectations = (
                generated_expectations(check, columns) if check.generate else check.expectations
            )
            planned += [(check, e) for e in expectations]

        source = _source_file(gxcon, suite.table)
        with _CONTEXT_LOCK:
            gx_results = _run_gx(gxcon, suite.name, planned, views, columns, today)
    finally:
        gxcon.close()

    outcomes: dict[str, list[ExpectationOutcome]] = {c.name: [] for c in suite.checks}
    for index, (check, expect) in enumerate(planned):
        outcomes[check.name].append(
            _outcome(check, expect, gx_results[index], source if expect.on == "table" else None)
        )
    checks = tuple(CheckOutcome(c, tuple(outcomes[c.name])) for c in suite.checks)
    return SuiteResult(suite, checks, started_at=started_at, seconds=time.perf_counter() - started)
