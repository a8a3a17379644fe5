"""How long the data-quality suites take on a large warehouse.

Builds staging.patients (N patients) and staging.labs (M results, ANC, clozapine levels and other
analytes) directly in a DuckDB file with the staging schema, then times each extract suite
(patients, labs) as `trscohort run` runs it: GX 1.x through SQLAlchemy, every metric pushed
down to DuckDB.

    .venv/bin/python benchmarks/bench_quality.py --patients 1000000 --lab-rows 50000000

With `--input DIR` it ingests a synthetic extract set instead (`trscohort synth --patients
1000000`) and times every extract suite on it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from trscohort.config import load_config
from trscohort.contract import EXTRACT_ORDER, discover_sources, load_mapping
from trscohort.ingest import ingest_extract
from trscohort.ingest.staging import load_reference
from trscohort.quality import record_results, suites_for_tables, validate_suite

LABS = """
CREATE TABLE staging.labs AS
SELECT
    i AS source_row,
    'P' || lpad(CAST(i % {patients} AS VARCHAR), 7, '0') AS patient_id,
    TIMESTAMP '2015-01-01' + to_minutes(CAST(hash(i) % 4000000 AS BIGINT)) AS collected_at,
    CAST(TIMESTAMP '2015-01-01' + to_minutes(CAST(hash(i) % 4000000 AS BIGINT)) AS DATE)
        AS collected_date,
    CASE i % 5 WHEN 0 THEN '751-8' WHEN 1 THEN '6896-5' ELSE NULL END AS test_code,
    CASE i % 5 WHEN 0 THEN 'ANC' WHEN 1 THEN 'Clozapine' WHEN 2 THEN 'CRP' WHEN 3 THEN 'HbA1c'
        ELSE 'Sodium' END AS test_name,
    CASE i % 5 WHEN 0 THEN 'anc' WHEN 1 THEN 'clozapine_level' WHEN 2 THEN 'crp'
        WHEN 3 THEN 'hba1c' END AS analyte,
    CAST(i % 997 AS VARCHAR) AS value_as_written,
    CAST(NULL AS VARCHAR) AS value_comparator,
    CAST(i % 997 AS DOUBLE) AS value_as_given,
    'x' AS unit_as_written,
    CASE i % 5 WHEN 0 THEN 1500 + (i % 4000) WHEN 1 THEN 100 + (i % 900) WHEN 2 THEN i % 300
        WHEN 3 THEN 30 + (i % 60) ELSE 140 END::DOUBLE AS value,
    CASE i % 5 WHEN 0 THEN '/uL' WHEN 1 THEN 'ng/mL' WHEN 2 THEN 'mg/L' WHEN 3 THEN 'mmol/mol'
        END AS unit,
    CAST(NULL AS DOUBLE) AS reference_high
FROM range({rows}) AS t(i)
"""

PATIENTS = """
CREATE TABLE staging.patients AS
SELECT
    i AS source_row,
    'P' || lpad(CAST(i AS VARCHAR), 7, '0') AS patient_id,
    DATE '1940-01-01' + CAST(i % 20000 AS INTEGER) AS birth_date,
    CASE i % 3 WHEN 0 THEN 'F' WHEN 1 THEN 'M' ELSE 'U' END AS sex,
    i % 50 = 0 AS benign_ethnic_neutropenia,
    'site' || (i % 7) AS site,
    CAST(NULL AS DATE) AS death_date
FROM range({patients}) AS t(i)
"""


def build(path: Path, patients: int, rows: int) -> None:
    with duckdb.connect(str(path)) as con:
        for schema in ("staging", "audit"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(PATIENTS.format(patients=patients))
        con.execute(LABS.format(patients=patients, rows=rows))
        con.execute(
            "CREATE TABLE audit.ingest_log AS SELECT * FROM (VALUES "
            f"('patients', {patients}, {patients}, 0, 0), ('labs', {rows}, {rows}, 0, 0)) "
            "AS t(extract, rows_read, accepted, quarantined, duplicates)"
        )


def ingest(path: Path, folder: Path) -> list[str]:
    config, mapping = load_config(), load_mapping(None)
    sources = discover_sources(folder, mapping)
    with duckdb.connect(str(path)) as con:
        load_reference(con, config)
        for extract in EXTRACT_ORDER:
            ingest_extract(con, extract, sources.get(extract), mapping, config)
    return [f"staging.{e}" for e in EXTRACT_ORDER]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--lab-rows", type=int, default=5_000_000)
    parser.add_argument("--warehouse", help="DuckDB file to use (default: a temporary one)")
    parser.add_argument("--input", help="a synthetic extract folder to ingest instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.warehouse or Path(tmp) / "bench.duckdb")
        started = time.perf_counter()
        if args.input:
            tables = ingest(path, Path(args.input))
            print(f"ingested {args.input} in {time.perf_counter() - started:.1f} s")
        else:
            build(path, args.patients, args.lab_rows)
            tables = ["staging.patients", "staging.labs"]
            print(
                f"built {args.patients:,} patients and {args.lab_rows:,} lab rows in "
                f"{time.perf_counter() - started:.1f} s"
            )
        with duckdb.connect(str(path)) as con:
            total = 0.0
            for suite in suites_for_tables(tables):
                rows = con.execute(f"SELECT count(*) FROM {suite.table}").fetchone()[0]
                started = time.perf_counter()
                result = validate_suite(con, suite)
                record_results(con, result)
                seconds = time.perf_counter() - started
                total += seconds
                expectations = sum(len(c.expectations) for c in result.checks)
                failed = [c.check.name for c in result.checks if not c.success]
                print(
                    f"{suite.table:<22}{rows:>12,} rows {expectations:>4} expectations in "
                    f"{len(result.checks):>2} "
                    f"checks: {seconds:6.1f} s  failed: {', '.join(failed) or 'none'}"
                )
            print(f"total validation time: {total:.1f} s")


if __name__ == "__main__":
    main()
