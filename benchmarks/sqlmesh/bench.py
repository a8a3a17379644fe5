"""SQLMesh against our model runner on the same chain of models, side by side in one run.

Run with the repo's venv (our runner, DuckDB 2.0); the SQLMesh steps run in SQLMesh's own venv
(DuckDB 1.5, pandas 2) through sqlmesh_steps.py. Needs export_sources.py and make_project.py to
have written --work first (see README.md). Every DuckDB here has memory_limit 2GB, threads 1.

Prints a table and writes <work>/results.json.

Usage: python benchmarks/sqlmesh/bench.py --work /tmp/sqlmesh-proj
       [--sqlmesh-python /tmp/sqlmesh-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from trscohort.config import load_config
from trscohort.models import Model, build_model, transform_context

HERE = Path(__file__).resolve().parent
CHAIN = ("clozapine_exposure", "monitoring_schedules", "monitoring_windows")
SOURCES = (
    "audit.run_parameters",
    "staging.patients",
    "staging.dispensings",
    "staging.labs",
    "intermediate.clozapine_dose_periods",
)
VARIANTS = ("full", "partition", "unique_key")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


class Steps:
    """SQLMesh-venv steps, each in a child process; its wall time includes Python's start."""

    def __init__(self, python: str, work: Path):
        self.python = python
        self.work = work

    def __call__(self, *args: str) -> dict:
        start = time.perf_counter()
        done = subprocess.run(
            [self.python, str(HERE / "sqlmesh_steps.py"), *args],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            sys.exit(f"sqlmesh_steps.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["wall_seconds"] = time.perf_counter() - start
        return result


def remove_database(database: Path) -> None:
    """Delete a DuckDB file with its write-ahead log: a stale .wal left beside a new file is
    replayed into it (SQLMesh's processes exit without a checkpoint)."""
    for path in (database, Path(f"{database}.wal")):
        path.unlink(missing_ok=True)
    shutil.rmtree(f"{database}.tmp", ignore_errors=True)


def _connect(database: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(database))
    con.execute("SET memory_limit = '2GB'; SET threads = 1")
    return con


def ours_load(database: Path, parquet: Path) -> None:
    remove_database(database)
    with _connect(database) as con:
        for table in SOURCES:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
            name = table.replace(".", "__")
            con.execute(
                f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{parquet / name}.parquet')"
            )


def ours_append(database: Path, parquet: Path) -> None:
    with _connect(database) as con:
        for table in SOURCES:
            new = parquet / f"{table.replace('.', '__')}.new.parquet"
            if new.is_file():
                con.execute(f"INSERT INTO {table} SELECT * FROM read_parquet('{new}')")


def ours_build(database: Path, export: Path | None = None) -> dict:
    """Our runner's build_model for the chain, in dependency order (CREATE OR REPLACE TABLE)."""
    context = transform_context(load_config())
    models = {}
    with _connect(database) as con:
        start = time.perf_counter()
        for name in CHAIN:
            step = time.perf_counter()
            build_model(con, Model("intermediate", name), context)
            models[name] = time.perf_counter() - step
        seconds = time.perf_counter() - start
        if export is not None:
            export.mkdir(parents=True, exist_ok=True)
            for name in CHAIN:
                con.execute(f"COPY intermediate.{name} TO '{export / name}.parquet'")
    return {"seconds": seconds, "models": models, "duckdb": duckdb.__version__}


def run(work: Path, python: str) -> dict:
    steps = Steps(python, work)
    parquet, sql = work / "parquet", work / "sql"
    results: dict = {"uptime_before": uptime()}

    # Sources: one DuckDB 1.5 file loaded from Parquet, copied to every 1.5 database.
    sources15 = work / "sources15.duckdb"
    remove_database(sources15)
    steps("load", str(sources15), "--parquet", str(parquet))
    plain = work / "plain15.duckdb"
    databases = {"plain": plain, **{v: work / v / "warehouse.duckdb" for v in VARIANTS}}
    for database in databases.values():
        remove_database(database)
        shutil.copyfile(sources15, database)
    for variant in VARIANTS:
        shutil.rmtree(work / variant / ".cache", ignore_errors=True)
        steps("external", str(work / variant))
    ours = work / "ours20.duckdb"
    ours_load(ours, parquet)

    # (a), (b): full builds.
    results["ours_full"] = ours_build(ours)
    results["plain15_full"] = steps("plain", str(plain), "--sql", str(sql))
    for variant in VARIANTS:
        results[f"sqlmesh_{variant}_plan"] = steps("plan", str(work / variant))

    # (c): the day's new rows, then our full rebuild against SQLMesh's daily run.
    ours_append(ours, parquet)
    for database in databases.values():
        results["rows_added"] = steps("append", str(database), "--parquet", str(parquet))
    results["ours_refresh_full"] = ours_build(ours, export=work / "ours20-result")
    results["plain15_refresh_full"] = steps("plain", str(plain), "--sql", str(sql))
    for variant in VARIANTS:
        results[f"sqlmesh_{variant}_run"] = steps("run", str(work / variant))

    # (d): each result against the full rebuild on DuckDB 1.5 (same engine), ours via Parquet.
    results["compare"] = {
        variant: steps("compare", str(databases[variant]), str(plain)) for variant in VARIANTS
    }
    results["compare"]["ours20"] = steps("compare", str(plain), str(work / "ours20-result"))
    results["uptime_after"] = uptime()
    results["bench_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def table(results: dict) -> str:
    full, refresh = results["ours_full"]["seconds"], results["ours_refresh_full"]["seconds"]
    rows = [
        ("(a) ours, full build (DuckDB 2.0, in process)", full, full),
        ("(a) same SQL, DuckDB 1.5, no SQLMesh", results["plain15_full"]["seconds"], full),
    ]
    for variant in VARIANTS:
        r = results[f"sqlmesh_{variant}_plan"]
        rows.append((f"(b) SQLMesh {variant}: first plan (plan only)", r["plan_seconds"], full))
        rows.append((f"(b) SQLMesh {variant}: first plan (process)", r["wall_seconds"], full))
    rows.append(("(c) ours, full rebuild after new rows", refresh, refresh))
    rows.append(
        ("(c) DuckDB 1.5 full rebuild", results["plain15_refresh_full"]["seconds"], refresh)
    )
    for variant in VARIANTS:
        r = results[f"sqlmesh_{variant}_run"]
        rows.append((f"(c) SQLMesh {variant}: daily run (run only)", r["run_seconds"], refresh))
        rows.append((f"(c) SQLMesh {variant}: daily run (process)", r["wall_seconds"], refresh))
    lines = ["| step | seconds | ratio to ours (same phase) |", "|---|---:|---:|"]
    lines += [f"| {name} | {s:.1f} | {s / ref:.2f} |" for name, s, ref in rows]
    lines += [
        "",
        "| result vs DuckDB 1.5 full rebuild | model | rows differing | patients | rows |",
    ]
    lines += ["|---|---|---:|---:|---:|"]
    for who, compared in results["compare"].items():
        for name in CHAIN:
            c = compared[name]
            lines.append(
                f"| {who} | {name} | {c['rows_differing']} | {c['patients']} | {c['rows_reference']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--sqlmesh-python", default="/tmp/sqlmesh-venv/bin/python")
    args = parser.parse_args()
    results = run(args.work, args.sqlmesh_python)
    (args.work / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(results["uptime_before"])
    print(table(results))
    print(results["uptime_after"])


if __name__ == "__main__":
    main()
