"""`trscohort run --engine spark`: the whole run on Spark into a Parquet warehouse folder.

The same steps as the DuckDB run (trscohort.runner), in the same order and under the same
rules: the run builds `<warehouse>.building-<pid>/` and `<out>/.building-<pid>/`, checks them
(blocking data-quality checks, no required extract entirely quarantined, the privacy scan of
every published file), and only then swaps them in; a second run on the same warehouse waits
for the lock. Data quality and dashboards read the Parquet through DuckDB views.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from trscohort.config import Config
from trscohort.contract import EXTRACT_ORDER, discover_sources, load_mapping
from trscohort.engines import parquet
from trscohort.engines.spark import SparkOptions, SparkWarehouse, spark_session
from trscohort.errors import UsageError
from trscohort.publication import files


def check_warehouse_dir(warehouse: Path) -> None:
    if warehouse.exists() and not warehouse.is_dir():
        raise UsageError(
            f"--warehouse {warehouse}: is a file; --engine spark writes a folder of Parquet tables"
        )
    if (
        warehouse.is_dir()
        and any(warehouse.iterdir())
        and not parquet.is_parquet_warehouse(warehouse)
    ):
        raise UsageError(
            f"--warehouse {warehouse}: is a folder that is not a trscohort Parquet warehouse; "
            "give an empty or new folder"
        )


def build_spark_warehouse(
    spark,
    root: Path,
    options,
    config: Config,
    progress: Callable[[str], None] = lambda line: None,
) -> SparkWarehouse:
    """Every table of a run into the Parquet warehouse `root` (no checks, no swap)."""
    from trscohort.vocab.checks import raise_on_errors
    from trscohort.vocab.unmapped import audit_vocabulary

    mapping = load_mapping(options.mapping_path)
    sources = discover_sources(
        options.input_dir, mapping, allow_outside=config["ingest"]["allow_files_outside_input"]
    )
    wh = SparkWarehouse(spark, root)
    wh.load_reference(config, mapping)
    progress("reference data")
    for extract in EXTRACT_ORDER:
        c = wh.ingest_extract(extract, sources.get(extract), mapping, config)
        progress(
            f"{extract}: read {c.read:,}, accepted {c.accepted:,}, quarantined "
            f"{c.quarantined:,}, duplicates {c.duplicates:,}"
        )
    with wh.duckdb() as con:
        count, checks = audit_vocabulary(con, config)
        for table in ("audit.unmapped_values", "audit.vocabulary_checks"):
            wh.from_duckdb(con, table)
    progress(f"unmapped source values: {count:,}")
    raise_on_errors(checks)
    import datetime as dt

    as_of = wh.record_run_parameters(
        config,
        as_of=dt.date.fromisoformat(options.as_of) if options.as_of else None,
        input_dir=str(options.input_dir),
        mapping_path=str(options.mapping_path) if options.mapping_path else None,
    )
    progress(f"as-of date: {as_of.isoformat()}")
    wh.build_transform(config, progress)
    for table in wh.build_python_marts(config):
        progress(table)
    wh.drop_work()
    return wh


def check_and_publish(root: Path, out_building: Path, config: Config) -> None:
    """Data-quality suites, dashboards and the privacy scan, through DuckDB over the Parquet."""
    from trscohort.dashboards import write_dashboards
    from trscohort.quality import failed_checks, run_suites
    from trscohort.runner import _scan_outputs, fully_quarantined

    with parquet.connect(root) as con:
        problem = fully_quarantined(con)
        if problem:
            raise UsageError(problem)
        run_suites(con, out_dir=out_building)
        parquet.copy_table(con, "audit.dq_results", root)
        blocking = [f for f in failed_checks(con) if f[0] == "blocking"]
        if blocking:
            _, table, check, message = blocking[0]
            raise UsageError(f"blocking data-quality check '{check}' failed on {table}: {message}")
        write_dashboards(con, out_building, config=config)
        _scan_outputs(con, out_building, config)


def run_spark_pipeline(options, spark_options: SparkOptions, stream=None) -> Path:
    """Build, check and swap in a Parquet warehouse made by Spark; returns its folder."""
    from trscohort.runner import RunLock, check_inputs

    stream = stream if stream is not None else sys.stdout
    if options.omop_path is not None:
        raise UsageError(
            "--engine spark reads extract files (--input); --omop needs --engine duckdb"
        )
    config = check_inputs(options)
    warehouse, out_dir = Path(options.warehouse), Path(options.out_dir)
    check_warehouse_dir(warehouse)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    building = warehouse.with_name(f"{warehouse.name}.building-{os.getpid()}")
    out_building = out_dir / f".building-{os.getpid()}"

    def progress(line: str) -> None:
        print(f"  ✓ {line}", file=stream, flush=True)

    with files.private_files():
        lock = RunLock(
            warehouse.with_name(f"{warehouse.name}.lock"),
            warehouse,
            config["runtime"]["lock_timeout_seconds"],
        )
        with lock:
            for stale in files.stale_by_pid(warehouse.parent, f"{warehouse.name}.building-"):
                files.remove(stale)
            try:
                files.remove(out_building)
                out_building.mkdir()
                spark = spark_session(spark_options, config)
                build_spark_warehouse(spark, building, options, config, progress)
                check_and_publish(building, out_building, config)
                files.make_published(out_building)
                files.swap_in(building, warehouse)
                for entry in sorted(out_building.iterdir()):
                    files.swap_in(entry, out_dir / entry.name)
            finally:
                files.remove(building)
                files.remove(out_building)
    return warehouse
