"""Export the source tables of the ported model chain to Parquet (run with the repo's venv).

DuckDB 1.5 (the newest SQLMesh accepts) cannot open a file written by DuckDB 2.0 (storage
version 69 > 68), so both engines read the same Parquet files instead. The warehouse is copied
first and the copy opened read-only: the original is never opened.

Also writes the daily refresh: `share` of the rows of the staging labs and dispensings again, copied
from existing rows of existing patients with their dates moved one day on (as
benchmarks/refresh.py does to the extracts). Every row carries `loaded_on`, the day it arrived:
LOAD_DAY for the warehouse's rows, LOAD_DAY + 1 for the new ones; SQLMesh's incremental models
use it to find the patients with new rows.

With --fill-gaps N (the stale-row demonstration, not the timing run), up to N patients with a
second clozapine episode get one more dose period that covers the interruption before it (as a
new prescription would): their two episodes become one, so a full rebuild has fewer rows for
them. With --patients-modulo M only the patients with hash(patient_id) % M = 0 are exported.

Usage: python benchmarks/sqlmesh/export_sources.py --warehouse /tmp/b17/w100k/w.duckdb
       --out /tmp/sqlmesh-proj/parquet [--share 0.001] [--fill-gaps N] [--patients-modulo M]
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


def _gap_filling_periods(n: int, where: str) -> str:
    """One dose period per patient covering the interruption before episode 2: a copy of the
    patient's last period before it, from the first day off clozapine to the day before."""
    return f"""
        SELECT p.* REPLACE (
            e.episode_start - CAST(e.gap_before_days AS INTEGER) AS period_start,
            e.episode_start - 1 AS period_end,
            CAST(e.gap_before_days AS BIGINT) AS period_days)
        FROM intermediate.clozapine_exposure AS e
        JOIN intermediate.clozapine_dose_periods AS p
            ON p.patient_id = e.patient_id AND p.period_start < e.episode_start
        WHERE e.episode_number = 2 AND e.gap_before_days > 0
            AND {where.replace("patient_id", "e.patient_id")}
        QUALIFY row_number() OVER (PARTITION BY e.patient_id ORDER BY p.period_start DESC) = 1
        ORDER BY hash(e.patient_id)
        LIMIT {int(n)}"""


def export(
    warehouse: Path, out: Path, share: float, fill_gaps: int = 0, modulo: int = 1
) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    copy = out / "warehouse-copy.duckdb"
    shutil.copyfile(warehouse, copy)
    added = {}
    with duckdb.connect(str(copy), read_only=True) as con:
        con.execute("SET memory_limit = '2GB'; SET threads = 1")
        for table, dates in SOURCES.items():
            target = out / f"{parquet_name(table)}.parquet"
            has_patient = "patient_id" in [
                r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()
            ]
            where = f"hash(patient_id) % {int(modulo)} = 0" if has_patient else "TRUE"
            con.execute(
                f"COPY (SELECT *, DATE '{LOAD_DAY}' AS loaded_on FROM {table} WHERE {where}) "
                f"TO '{target}'"
            )
            if table == "intermediate.clozapine_dose_periods" and fill_gaps:
                new = out / f"{parquet_name(table)}.new.parquet"
                con.execute(
                    f"COPY (SELECT *, DATE '{LOAD_DAY}' + 1 AS loaded_on "
                    f"FROM ({_gap_filling_periods(fill_gaps, where)})) TO '{new}'"
                )
                added[table] = con.execute(f"SELECT count(*) FROM '{new}'").fetchone()[0]
            if dates is None:
                continue
            total = con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]
            n = max(1, round(total * share))
            new = out / f"{parquet_name(table)}.new.parquet"
            rows = (
                f"SELECT {_shifted_columns(con, table, dates)} FROM "
                f"(SELECT * FROM {table} WHERE {where}) USING SAMPLE {n} ROWS (reservoir, 7)"
            )
            con.execute(
                f"COPY (SELECT *, DATE '{LOAD_DAY}' + 1 AS loaded_on FROM ({rows})) TO '{new}'"
            )
            added[table] = con.execute(f"SELECT count(*) FROM '{new}'").fetchone()[0]
    copy.unlink()
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--share", type=float, default=0.001)
    parser.add_argument("--fill-gaps", type=int, default=0)
    parser.add_argument("--patients-modulo", type=int, default=1)
    args = parser.parse_args()
    added = export(args.warehouse, args.out, args.share, args.fill_gaps, args.patients_modulo)
    for table, n in added.items():
        print(f"{table}: {n} new rows")


if __name__ == "__main__":
    main()
