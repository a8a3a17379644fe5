"""Steps of the SQLMesh comparison run in SQLMesh's own venv (DuckDB 1.5; see README.md).

Each call does one step and prints one JSON line (seconds, peak RSS of this process). Called by
bench.py; never imports trscohort (whose pins SQLMesh does not accept).

  load     DB                create the source tables in DB from the Parquet files
  append   DB                insert the day's new rows (the *.new.parquet files)
  plain    DB                build the chain with the rendered SQL, no SQLMesh (CREATE OR REPLACE)
  plan     PROJECT           SQLMesh's first plan, applied to prod (builds everything)
  run      PROJECT           SQLMesh's daily run for the next day
  external PROJECT           write the project's external_models.yaml (the sources' columns)
  compare  DB OTHER          rows that differ between the chain's tables in DB and OTHER (a
                             DuckDB file, or a folder of <model>.parquet)
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import duckdb

SOURCES = (
    "audit.run_parameters",
    "staging.patients",
    "staging.dispensings",
    "staging.labs",
    "intermediate.clozapine_dose_periods",
)
CHAIN = ("clozapine_exposure", "monitoring_schedules", "monitoring_windows")
PLAN_DAY = "2026-11-28"  # execution time of the first plan: backfills the load day 2026-11-27
RUN_DAY = "2026-11-29"  # execution time of the daily run: processes 2026-11-28, the new rows


def _connect(database: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(database), read_only=read_only)
    con.execute("SET memory_limit = '2GB'; SET threads = 1")
    return con


def _parquet(folder: Path, table: str, suffix: str = "") -> Path:
    return folder / f"{table.replace('.', '__')}{suffix}.parquet"


def load(database: Path, parquet: Path) -> dict:
    with _connect(database) as con:
        for table in SOURCES:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
            con.execute(
                f"CREATE OR REPLACE TABLE {table} AS "
                f"SELECT * FROM read_parquet('{_parquet(parquet, table)}')"
            )
    return {}


def append(database: Path, parquet: Path) -> dict:
    rows = 0
    with _connect(database) as con:
        for table in SOURCES:
            new = _parquet(parquet, table, ".new")
            if new.is_file():
                con.execute(f"INSERT INTO {table} SELECT * FROM read_parquet('{new}')")
                rows += con.execute(f"SELECT count(*) FROM read_parquet('{new}')").fetchone()[0]
    return {"rows_added": rows}


def plain(database: Path, sql_dir: Path) -> dict:
    steps = {}
    with _connect(database) as con:
        for name in CHAIN:
            start = time.perf_counter()
            sql = (sql_dir / f"{name}.sql").read_text()
            con.execute(f"CREATE OR REPLACE TABLE intermediate.{name} AS {sql}")
            steps[name] = time.perf_counter() - start
    return {"models": steps}


def _context(project: Path):
    from sqlmesh import Context

    start = time.perf_counter()
    context = Context(paths=str(project))
    return context, time.perf_counter() - start


def external_models(project: Path) -> dict:
    context, _ = _context(project)
    context.create_external_models()
    return {}


def plan(project: Path) -> dict:
    context, load_seconds = _context(project)
    start = time.perf_counter()
    context.plan(auto_apply=True, no_prompts=True, execution_time=PLAN_DAY)
    return {"context_seconds": load_seconds, "plan_seconds": time.perf_counter() - start}


def run(project: Path) -> dict:
    context, load_seconds = _context(project)
    start = time.perf_counter()
    context.run(execution_time=RUN_DAY)
    result = {"context_seconds": load_seconds, "run_seconds": time.perf_counter() - start}
    touched = project / "models" / "touched_patients.sql"
    if touched.is_file():
        result["touched_patients"] = context.fetchdf(
            "SELECT source, count(DISTINCT patient_id) AS n FROM refresh.touched_patients "
            f"WHERE loaded_on = DATE '{PLAN_DAY}' GROUP BY ALL ORDER BY ALL"
        ).to_dict("records") + context.fetchdf(
            "SELECT 'any' AS source, count(DISTINCT patient_id) AS n "
            f"FROM refresh.touched_patients WHERE loaded_on = DATE '{PLAN_DAY}'"
        ).to_dict("records")
    return result


def compare(database: Path, other: Path) -> dict:
    """Rows of each chain table in one and not the other (EXCEPT ALL both ways), and the
    patients they belong to."""
    result = {}
    with _connect(database, read_only=True) as con:
        if not other.is_dir():
            con.execute(f"ATTACH '{other}' AS other (READ_ONLY)")
        for name in CHAIN:
            a = f"intermediate.{name}"
            b = f"other.intermediate.{name}"
            if other.is_dir():  # our runner's result, exported from DuckDB 2.0 as Parquet
                b = f"read_parquet('{other / name}.parquet')"
            diff = f"(SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}) UNION ALL (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a})"
            rows, patients = con.execute(
                f"SELECT count(*), count(DISTINCT patient_id) FROM ({diff})"
            ).fetchone()
            total = con.execute(f"SELECT count(*) FROM {b}").fetchone()[0]
            result[name] = {"rows_differing": rows, "patients": patients, "rows_reference": total}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step")
    parser.add_argument("target", type=Path)
    parser.add_argument("other", type=Path, nargs="?")
    parser.add_argument("--parquet", type=Path)
    parser.add_argument("--sql", type=Path)
    args = parser.parse_args()
    start = time.perf_counter()
    if args.step in ("load", "append"):
        result = globals()[args.step](args.target, args.parquet)
    elif args.step == "plain":
        result = plain(args.target, args.sql)
    elif args.step == "compare":
        result = compare(args.target, args.other)
    else:
        result = {"external": external_models, "plan": plan, "run": run}[args.step](args.target)
    result["seconds"] = time.perf_counter() - start
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["duckdb"] = duckdb.__version__
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
