"""The Dagster code location: `dagster dev` in the repository root loads these definitions.

Paths come from environment variables so the UI can point at another site's extracts:
TRSCOHORT_INPUT, TRSCOHORT_WAREHOUSE, TRSCOHORT_OUT, TRSCOHORT_MAPPING, TRSCOHORT_CONFIG,
TRSCOHORT_AS_OF; TRSCOHORT_OMOP (and TRSCOHORT_OMOP_SCHEMA) reads an OMOP CDM instead of the
input folder. TRSCOHORT_ENGINE=spark builds the same assets with Spark into the Parquet folder
TRSCOHORT_SPARK_WAREHOUSE (TRSCOHORT_SPARK_MASTER or TRSCOHORT_SPARK_REMOTE say where Spark is).
"""

from __future__ import annotations

import os
import zoneinfo
from pathlib import Path

from dagster import (
    AssetSelection,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)

from trscohort.config import load_config
from trscohort.errors import UsageError
from trscohort.orchestration.assets import all_assets, all_checks
from trscohort.orchestration.resources import TrsEngine, TrsSettings, WarehouseResource
from trscohort.runner import duckdb_settings

DEFAULT_WAREHOUSE = "warehouse/trscohort.duckdb"


def build_resources(
    *,
    warehouse: str | None = None,
    input_dir: str | None = None,
    out_dir: str | None = None,
    mapping_path: str | None = None,
    config_path: str | None = None,
    as_of: str | None = None,
    omop_path: str | None = None,
    omop_schema: str | None = None,
    connection_config: dict | None = None,
    previous_warehouse: str | None = None,
    engine: str | None = None,
    spark_warehouse: str | None = None,
    spark_master: str | None = None,
    spark_remote: str | None = None,
    report_each_check: bool = True,
) -> dict:
    """Resources for a run; DuckDB's memory limit and spill folder come from the config's
    `runtime` section (`trscohort run` passes a private spill folder of its own)."""
    env = os.environ.get
    database = warehouse or env("TRSCOHORT_WAREHOUSE", DEFAULT_WAREHOUSE)
    engine = engine or env("TRSCOHORT_ENGINE", "duckdb")
    if connection_config is None:
        config = load_config(config_path or env("TRSCOHORT_CONFIG"))
        temp = config["runtime"]["temp_directory"] or f"{database}.tmp"
        connection_config = duckdb_settings(config, Path(temp))
    return {
        "duckdb": WarehouseResource(
            database=database, connection_config=connection_config, hold_open=engine == "duckdb"
        ),
        "settings": TrsSettings(
            input_dir=input_dir or env("TRSCOHORT_INPUT", "data/sample"),
            out_dir=out_dir or env("TRSCOHORT_OUT", "out"),
            mapping_path=mapping_path or env("TRSCOHORT_MAPPING"),
            config_path=config_path or env("TRSCOHORT_CONFIG"),
            as_of=as_of or env("TRSCOHORT_AS_OF"),
            omop_path=omop_path or env("TRSCOHORT_OMOP"),
            omop_schema=omop_schema or env("TRSCOHORT_OMOP_SCHEMA"),
            previous_warehouse=previous_warehouse,
            report_each_check=report_each_check,
        ),
        "engine": TrsEngine(
            engine=engine,
            warehouse_dir=spark_warehouse or env("TRSCOHORT_SPARK_WAREHOUSE", "warehouse/spark"),
            spark_master=spark_master or env("TRSCOHORT_SPARK_MASTER"),
            spark_remote=spark_remote or env("TRSCOHORT_SPARK_REMOTE"),
        ),
    }


# In-process, one step after the other: every asset writes the same DuckDB file, which takes one
# writer at a time, and the multiprocess default paid a Python start-up and a Dagster import per
# step (52 subprocesses: 366 s through the UI at 500 patients against 20 s from the CLI, issue 17).
full_refresh = define_asset_job(
    "full_refresh", selection=AssetSelection.all(), executor_def=in_process_executor
)

# Quality-improvement analysts run monthly: 02:00 on the 2nd of each month, after month-end
# extracts land, in the site's time zone (TRSCOHORT_SCHEDULE_TIMEZONE, an IANA name; UTC).
MONTHLY_CRON = "0 2 2 * *"


def schedule_timezone() -> str:
    """TRSCOHORT_SCHEDULE_TIMEZONE checked against the IANA database (a typo is an error here,
    not a schedule that silently runs in UTC)."""
    name = os.environ.get("TRSCOHORT_SCHEDULE_TIMEZONE", "UTC")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"TRSCOHORT_SCHEDULE_TIMEZONE: '{name}' is not an IANA time zone (e.g. Europe/London)"
        ) from None
    return name


monthly_refresh = ScheduleDefinition(
    job=full_refresh, cron_schedule=MONTHLY_CRON, execution_timezone=schedule_timezone()
)

defs = Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    jobs=[full_refresh],
    schedules=[monthly_refresh],
    resources=build_resources(),
    executor=in_process_executor,  # also for materialisations started from the asset graph
)
