"""Dagster asset checks built from the data-quality suites in `expectations/`.

One multi-asset check per suite and table: it validates the table with Great Expectations inside
DuckDB (`trscohort.quality`), records every expectation in `audit.dq_results`, rewrites
`<out>/data_quality.html` (unless `TrsSettings.report_each_check` is off: `trscohort run` writes
it once, after the run), and reports one check result per suite check. A `blocking` check that
fails has ERROR severity and stops the assets downstream of its asset (and `trscohort run`); a
`warning` check that fails has WARN severity and the run goes on.

Suites are bound to the assets that exist when the definitions load: a table suite to its
table's asset, a generic suite (`applies_to: marts`) to every asset of that schema. A suite whose
table has no asset yet (a mart still being written) gets no check; one whose table is absent at
run time reports its checks as skipped.
"""

from collections.abc import Iterable, Sequence

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetsDefinition,
    MetadataValue,
    multi_asset_check,
)
from dagster_duckdb import DuckDBResource

from trscohort.orchestration.resources import TrsEngine, TrsSettings
from trscohort.quality import (
    Suite,
    record_results,
    suite_progress_line,
    suites_for_tables,
    validate_suite,
    write_report,
)

from .progress import report


def _severity(blocking: bool) -> AssetCheckSeverity:
    return AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN


def suite_check(suite: Suite) -> AssetChecksDefinition:
    """The asset checks of one table-bound suite."""
    key = AssetKey(suite.asset_path)
    specs = [
        AssetCheckSpec(
            check.name,
            asset=key,
            blocking=check.blocking,
            description=f"[{check.severity}] {check.description}",
        )
        for check in suite.checks
    ]
    name = (
        f"dq_{suite.name}"
        if suite.name == suite.asset_path[-1]
        else (f"dq_{suite.name}__{'__'.join(suite.asset_path)}")
    )

    @multi_asset_check(
        specs=specs,
        name=name,
        description=f"Great Expectations suite {suite.path.name} on {suite.table}",
    )
    def _run_suite(
        context: AssetCheckExecutionContext,
        duckdb: DuckDBResource,
        settings: TrsSettings,
        engine: TrsEngine,
    ) -> Iterable[AssetCheckResult]:
        with engine.connection(duckdb) as con:
            result = validate_suite(con, suite)
            record_results(con, result)
            if settings.report_each_check:
                write_report(con, settings.out_dir)
        if result.skipped:
            report(context, f"checks {suite.table} ({suite.name}): skipped ({result.skipped})")
            for check in suite.checks:
                yield AssetCheckResult(
                    check_name=check.name,
                    asset_key=key,
                    passed=True,
                    severity=_severity(check.blocking),
                    metadata={"skipped": result.skipped},
                )
            return
        report(context, suite_progress_line(result), ok=result.success)
        for outcome in result.checks:
            message = outcome.message(result.table)
            yield AssetCheckResult(
                check_name=outcome.check.name,
                asset_key=key,
                passed=outcome.success,
                severity=_severity(outcome.check.blocking),
                description=message,
                metadata={
                    "severity": outcome.check.severity,
                    "message": message,
                    "unexpected_count": outcome.unexpected_count,
                    "expectations": MetadataValue.md(
                        "\n".join(
                            f"- {'✅' if e.success else '❌'} `{e.expectation}`"
                            + ("" if e.success else f" — {e.sentence()}")
                            for e in outcome.expectations
                        )
                        or "(none apply to this table's columns)"
                    ),
                    "suite": suite.path.name,
                    "seconds": round(result.seconds, 3),
                },
            )

    return _run_suite


def _asset_keys(assets: Sequence[AssetsDefinition]) -> list[AssetKey]:
    return [key for definition in assets for key in definition.keys]


def build_checks(assets: Sequence[AssetsDefinition]) -> list[AssetChecksDefinition]:
    """Checks for every suite whose table is produced by one of `assets`."""
    tables = [".".join(k.path) for k in _asset_keys(assets) if len(k.path) == 2]
    return [suite_check(suite) for suite in suites_for_tables(tables)]
