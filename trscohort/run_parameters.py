"""The run's parameters (as-of date, configuration, inputs), kept in audit.run_parameters."""

from __future__ import annotations

import datetime as dt
import json
from importlib.metadata import PackageNotFoundError, version

import duckdb

from trscohort.config import Config

# Every dated column in staging that may set the default as-of date (the latest date in the
# extracts). Birth and death dates describe the patient, not the follow-up, so they don't.
DATED_COLUMNS = {
    "prescriptions": ("start_date", "end_date"),
    "labs": ("collected_date",),
    "diagnoses": ("diagnosed_at",),
    "dispensings": ("dispensed_date",),
    "assessments": ("assessed_at",),
}


def latest_extract_date(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    maxima = " UNION ALL ".join(
        f"SELECT max({column}) AS d FROM staging.{table}"
        for table, columns in DATED_COLUMNS.items()
        for column in columns
    )
    return con.execute(f"SELECT max(d) FROM ({maxima})").fetchone()[0]


def package_version() -> str:
    try:
        return version("trscohort")
    except PackageNotFoundError:
        return "unknown"


def record_run_parameters(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    *,
    as_of: dt.date | None,
    input_dir: str,
    mapping_path: str | None,
) -> dt.date:
    """Fix the as-of date (the given one, else the latest date in the extracts); returns it."""
    chosen = as_of or latest_extract_date(con) or dt.date.today()
    source = "argument" if as_of else "latest date in the extracts"
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute(
        "CREATE OR REPLACE TABLE audit.run_parameters AS SELECT "
        "CAST(? AS DATE) AS as_of_date, ? AS as_of_source, ? AS input_dir, ? AS mapping_file, "
        "? AS config_json, ? AS trscohort_version",
        [chosen, source, input_dir, mapping_path, config.to_json(), package_version()],
    )
    return chosen


def read_run_parameters(con: duckdb.DuckDBPyConnection) -> dict:
    row = con.execute("SELECT * FROM audit.run_parameters").fetchone()
    names = [d[0] for d in con.description]
    params = dict(zip(names, row, strict=True))
    params["config"] = json.loads(params.pop("config_json"))
    return params
