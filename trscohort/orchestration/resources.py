"""Dagster resources: where the extracts are and how to read them, and the warehouse (a
DuckDBResource held open for the run)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource, InitResourceContext
from dagster_duckdb import DuckDBResource

from trscohort.config import Config, load_config
from trscohort.contract import SiteMapping, SourceFile, discover_sources, load_mapping
from trscohort.errors import UsageError
from trscohort.omop import CdmExtract, CdmSource, cdm_sources


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse, held open while a run executes: each asset's `get_connection` then
    joins the open database instead of loading its catalog and checkpointing on close (~40 ms
    each, 194 times in a sample run). `hold_open` is off when Spark builds the tables (the file
    is not the warehouse then)."""

    hold_open: bool = True

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        # dagster-duckdb closes its connection only when the body returns: an asset that raised
        # left it open, and the file held with its settings, until garbage collection.
        opened = super().get_connection()
        connection = opened.__enter__()
        try:
            yield connection
        finally:
            opened.__exit__(None, None, None)

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator[DuckDBResource]:
        if not self.hold_open:
            yield self
            return
        with self.get_connection():
            yield self


class TrsSettings(ConfigurableResource):
    """Run settings shared by every asset: input folder, mapping, config, as-of date, outputs."""

    input_dir: str = "data/sample"
    mapping_path: str | None = None
    config_path: str | None = None
    as_of: str | None = None  # ISO date; None = the latest date in the extracts
    out_dir: str = "out"
    # An OMOP CDM instead of the input folder: a folder of CDM tables or a DuckDB file.
    omop_path: str | None = None
    omop_schema: str | None = None
    # The last published warehouse: unchanged extracts are copied from it (trscohort run sets
    # it; the UI writes its warehouse in place and ingests everything).
    previous_warehouse: str | None = None
    # Each suite's check and the vocabulary audit rewrite the data-quality report, so the UI
    # shows it as the checks go; `trscohort run` writes it once, after the run (False here).
    report_each_check: bool = True

    def previous(self) -> Path | None:
        if not self.previous_warehouse or not self.config()["ingest"]["reuse_unchanged_extracts"]:
            return None
        return Path(self.previous_warehouse)

    def config(self) -> Config:
        return load_config(self.config_path)

    def mapping(self) -> SiteMapping:
        return load_mapping(self.mapping_path)

    def cdm(self) -> CdmSource | None:
        return CdmSource(Path(self.omop_path), self.omop_schema) if self.omop_path else None

    def input_label(self) -> str:
        """What audit.run_parameters records as the input."""
        cdm = self.cdm()
        return cdm.label() if cdm else self.input_dir

    def sources(self) -> dict[str, SourceFile | CdmExtract]:
        cdm = self.cdm()
        if cdm is not None:
            return cdm_sources(cdm)
        allow = self.config()["ingest"]["allow_files_outside_input"]
        return discover_sources(Path(self.input_dir), self.mapping(), allow_outside=allow)

    def as_of_date(self) -> dt.date | None:
        if not self.as_of:
            return None
        try:
            return dt.date.fromisoformat(self.as_of)
        except ValueError:
            raise UsageError(f"--as-of: '{self.as_of}' is not a date (YYYY-MM-DD)") from None


class TrsEngine(ConfigurableResource):
    """Which engine builds the tables: `duckdb` (the DuckDBResource's file, the default) or
    `spark` (a Parquet warehouse folder built by Spark; trscohort.engines.spark). The asset
    graph is the same; each asset asks this resource where to build.

    With Spark, what runs in DuckDB (vocabulary audit, run parameters, the Python marts,
    data-quality suites, dashboards) gets a DuckDB connection over the Parquet warehouse whose
    new tables are written back as Parquet when the block ends."""

    engine: str = "duckdb"
    warehouse_dir: str = "warehouse/spark"  # the Parquet warehouse (engine spark)
    spark_master: str | None = None  # default local[2]
    spark_remote: str | None = None  # sc://host:15002 (Spark Connect)

    @property
    def is_spark(self) -> bool:
        if self.engine not in ("duckdb", "spark"):
            raise UsageError(f"engine '{self.engine}': use duckdb or spark")
        return self.engine == "spark"

    def spark_warehouse(self, config: Config):
        from trscohort.engines.spark import SparkOptions, SparkWarehouse, spark_session

        options = SparkOptions(master=self.spark_master, remote=self.spark_remote)
        return SparkWarehouse(spark_session(options, config), Path(self.warehouse_dir))

    @contextmanager
    def connection(self, duckdb_resource) -> Iterator:
        """A DuckDB connection to the warehouse, whichever engine built it."""
        if not self.is_spark:
            with duckdb_resource.get_connection() as con:
                yield con
            return
        from trscohort.engines import parquet

        root = Path(self.warehouse_dir)
        with parquet.connect(root, tables=parquet.APPENDED) as con:
            yield con
            parquet.write_back(con, root)
