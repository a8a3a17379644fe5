"""Export the source tables of the ported model chain to Parquet (run with the repo's venv).

DuckDB 1.5 (the newest SQLMesh accepts) cannot open a file written by DuckDB 2.0 (storage
version 69 > 68), so both engines read the same Parquet files instead. The warehouse is copied
first and the copy opened read-only: the original is never opened.

Also writes the daily refresh: `share` of the rows of the staging labs and dispensings again, copied
from existing rows of existing patients with their dates moved one day on (as
benchmarks/refresh.py does to the extracts). Every row carries `loaded_on`, the day it arrived:
LOAD_DAY for the warehouse's rows, LOAD_DAY + 1 for the new ones; SQLMesh's incremental models
use it to find the patients with new rows.

Usage: python benchmarks/sqlmesh/export_sources.py --warehouse /tmp/b17/w100k/w.duckdb
       --out /tmp/sqlmesh-proj/parquet [--share 0.001]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import duckdb

LOAD_DAY = "2026-11-27"

# Source table -> date columns moved one day on in the new rows (None: no new rows).
SOURCES: dict[str, tuple[str, ...] | None] = {
    "audit.run_parameters": None,
    "staging.patients": None,
    "staging.dispensings": ("dispensed_date",),
    "staging.labs": ("collected_at", "collected_date"),
    # A model built from prescriptions, with one period per patient and start day: copied rows
    # would break that (clozapine_exposure orders dose periods by period_start, and ties make
    # its lag() arbitrary), so it gets no new rows; the daily rows arrive in the staging tables.
    "intermediate.clozapine_dose_periods": None,
}


def parquet_name(table: str) -> str:
    return table.replace(".", "__")


def _shifted_columns(con: duckdb.DuckDBPyConnection, table: str, dates: tuple[str, ...]) -> str:
    """The table's columns with `dates` one day later, each cast back to its own type."""
    schema, name = table.split(".")
    columns = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
        [schema, name],
    ).fetchall()
    return ", ".join(
        f"CAST({c} + INTERVAL 1 DAY AS {kind}) AS {c}" if c in dates else c for c, kind in columns
    )


def export(warehouse: Path, out: Path, share: float) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    copy = out / "warehouse-copy.duckdb"
    shutil.copyfile(warehouse, copy)
    added = {}
    with duckdb.connect(str(copy), read_only=True) as con:
        con.execute("SET memory_limit = '2GB'; SET threads = 1")
        for table, dates in SOURCES.items():
            target = out / f"{parquet_name(table)}.parquet"
            con.execute(
                f"COPY (SELECT *, DATE '{LOAD_DAY}' AS loaded_on FROM {table}) TO '{target}'"
            )
            if dates is None:
                continue
            total = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            n = max(1, round(total * share))
            new = out / f"{parquet_name(table)}.new.parquet"
            con.execute(
                f"COPY (SELECT {_shifted_columns(con, table, dates)}, "
                f"DATE '{LOAD_DAY}' + 1 AS loaded_on "
                f"FROM {table} USING SAMPLE {n} ROWS (reservoir, 7)) TO '{new}'"
            )
            added[table] = n
    copy.unlink()
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--share", type=float, default=0.001)
    args = parser.parse_args()
    for table, n in export(args.warehouse, args.out, args.share).items():
        print(f"{table}: {n} new rows")


if __name__ == "__main__":
    main()
