"""Run every asset through Dagster in-process into a fresh warehouse file, then swap it in.

Building a new file and replacing the old one atomically means a failed run leaves the previous
warehouse untouched, two runs on the same input give the same contents, and a reader holding
the old file open is never disturbed.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from trscohort.config import load_config
from trscohort.contract import load_mapping
from trscohort.errors import UsageError


@dataclass(frozen=True)
class RunOptions:
    input_dir: Path = Path("data/sample")
    warehouse: Path = Path("warehouse/trscohort.duckdb")
    out_dir: Path = Path("out")
    as_of: str | None = None
    mapping_path: Path | None = None
    config_path: Path | None = None
    omop_path: Path | None = None  # an OMOP CDM (folder or DuckDB file) instead of input_dir
    omop_schema: str | None = None


def check_inputs(options: RunOptions) -> None:
    """Fail fast, before Dagster starts, on a bad config, mapping, as-of date or extract header."""
    import datetime as dt

    from trscohort.contract import discover_sources
    from trscohort.ingest.raw import check_source

    load_config(options.config_path)
    mapping = load_mapping(options.mapping_path)
    if options.as_of:
        try:
            dt.date.fromisoformat(options.as_of)
        except ValueError:
            raise UsageError(f"--as-of: '{options.as_of}' is not a date (YYYY-MM-DD)") from None
    if options.omop_path is not None:
        from trscohort.omop import CdmSource
        from trscohort.omop.check import check_cdm

        check_cdm(CdmSource(options.omop_path, options.omop_schema), mapping)
        return
    sources = discover_sources(options.input_dir, mapping)
    with duckdb.connect() as con:
        for source in sources.values():
            check_source(con, source, mapping)


@contextmanager
def _progress_printer(stream):
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("  ✓ %(message)s"))
    logger = logging.getLogger("trscohort.progress")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _blocking_check_message(result, out_dir: Path) -> str | None:
    """One line naming the first failed blocking data-quality check, if one stopped the run."""
    from dagster import AssetCheckSeverity

    failed = [
        e
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.blocking and e.severity == AssetCheckSeverity.ERROR
    ]
    if not failed:
        return None
    first = failed[0]
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    report = out_dir / "data_quality.html"
    return (
        f"blocking data-quality check '{first.check_name}' failed: {first.description}{more}; "
        f"see {report}"
    )


def _failure_message(result) -> str:
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        # Dagster wraps the asset's exception; the user's message is the innermost cause.
        while error.cause is not None:
            error = error.cause
        first_line = error.message.strip().splitlines()[0]
        # A UsageError speaks for itself; anything else is named with the step that raised it.
        if error.cls_name in ("UsageError", "ContractError"):
            return first_line.split(f"{error.cls_name}: ", 1)[-1]
        return f"{event.step_key} failed: {first_line}"
    return "the run failed"


def _build_path(warehouse: Path) -> Path:
    return warehouse.with_name(f"{warehouse.name}.building-{os.getpid()}")


def _remove_database(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)


def run_pipeline(options: RunOptions, stream=None) -> Path:
    """Materialise all assets into a new warehouse file and swap it in; returns its path.

    Progress lines go to `stream`, by default the sys.stdout of the moment of the call (not of
    import: a captured stream of an earlier caller may be closed by now)."""
    stream = stream if stream is not None else sys.stdout
    from dagster import DagsterInstance, materialize

    from assets import all_assets, all_checks
    from pipelines.definitions import build_resources

    check_inputs(options)
    options.warehouse.parent.mkdir(parents=True, exist_ok=True)
    building = _build_path(options.warehouse)
    _remove_database(building)
    resources = build_resources(
        warehouse=str(building),
        input_dir=str(options.input_dir),
        out_dir=str(options.out_dir),
        mapping_path=str(options.mapping_path) if options.mapping_path else None,
        config_path=str(options.config_path) if options.config_path else None,
        as_of=options.as_of,
        omop_path=str(options.omop_path) if options.omop_path else None,
        omop_schema=options.omop_schema,
    )
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    try:
        with _progress_printer(stream), DagsterInstance.ephemeral() as instance:
            result = materialize(
                [*all_assets, *all_checks],
                resources=resources,
                instance=instance,
                raise_on_error=False,
                run_config=quiet,
            )
        if not result.success:
            raise UsageError(
                _blocking_check_message(result, options.out_dir) or _failure_message(result)
            )
        with duckdb.connect(str(building)) as con:
            con.execute("CHECKPOINT")
        # A stale WAL beside the target would be replayed onto the new file.
        Path(str(options.warehouse) + ".wal").unlink(missing_ok=True)
        os.replace(building, options.warehouse)
    finally:
        _remove_database(building)
    return options.warehouse
