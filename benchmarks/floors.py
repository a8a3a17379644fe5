"""Floors for `bench_pipeline.py`: the least a stage's work costs in DuckDB, measured in the same
run on the same files, so each stage is reported as a ratio to its own floor.

* ingest <extract>: one hand-written statement that reads the file, types every column (the same
  date formats and number parsing), maps the codes (labs to an analyte and unit factor, drugs to
  a concept) by joining the reference tables, checks the patient and writes the table. It skips
  what the pipeline adds on top: the raw copy, the quarantine with its reasons, the exact
  duplicate count, the byte scan for lines DuckDB would drop, and the sha256.
* checks: one aggregate statement per validated table computing, per column, the non-null count,
  minimum and maximum, plus the rows whose patient is unknown (what the suites' metrics need).
* models: the same SQL models run back to back on one connection, with no orchestration (no
  single statement can do the TRS and monitoring rules; this floor measures what Dagster, the
  checks interleaved and the per-asset connections cost on top of the SQL itself).
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from trscohort.config import load_config

FORMATS = "['%Y-%m-%d', '%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M:%S', '%Y-%m-%d %H:%M']"


def _csv(path: Path) -> str:
    return f"read_csv('{path}', header = true, all_varchar = true)"


def _date(col: str) -> str:
    return f"CAST(try_strptime(NULLIF(trim({col}), ''), {FORMATS}) AS DATE)"


def _num(col: str) -> str:
    return f"TRY_CAST(replace(trim({col}), ',', '.') AS DOUBLE)"


def _known(alias: str = "f") -> str:
    return f"{alias}.patient_id IN (SELECT patient_id FROM floor_patients)"


FLOOR_SQL = {
    "patients": """
        SELECT DISTINCT trim(patient_id) AS patient_id, {birth} AS birth_date,
               CASE WHEN lower(trim(sex)) IN ('f', 'female') THEN 'F'
                    WHEN lower(trim(sex)) IN ('m', 'male') THEN 'M' ELSE 'U' END AS sex,
               lower(trim(benign_ethnic_neutropenia)) IN ('true', '1', 'yes') AS ben,
               NULLIF(trim(site), '') AS site, {death} AS death_date
        FROM {src}
    """,
    "labs": """
        SELECT f.patient_id, try_strptime(NULLIF(trim(f.collected_at), ''), {formats}) AS collected_at,
               coalesce(c.analyte, n.analyte) AS analyte,
               {value} * u.factor + u."offset" AS value, f.unit, {known} AS known
        FROM {src} AS f
        LEFT JOIN w.reference.lab_codes AS c ON c.code = trim(f.test_code)
        LEFT JOIN w.reference.lab_names AS n ON n.name = lower(trim(f.test_name))
        LEFT JOIN w.reference.lab_units AS u
            ON u.analyte = coalesce(c.analyte, n.analyte) AND u.unit = lower(trim(f.unit))
    """,
    "prescriptions": """
        SELECT f.patient_id, d.concept_id, {start} AS start_date, {end} AS end_date,
               {dose} AS daily_dose_mg, f.route, {known} AS known
        FROM {src} AS f LEFT JOIN w.reference.drug_names AS d ON d.name = lower(trim(f.drug))
    """,
    "dispensings": """
        SELECT f.patient_id, d.concept_id, {dispensed} AS dispensed_date,
               TRY_CAST(f.days_supply AS INTEGER) AS days_supply, {known} AS known
        FROM {src} AS f LEFT JOIN w.reference.drug_names AS d ON d.name = lower(trim(f.drug))
    """,
    "diagnoses": """
        SELECT f.patient_id, replace(upper(trim(f.code)), '.', '') AS code, f.code_system,
               {diagnosed} AS diagnosed_at, {known} AS known
        FROM {src} AS f
    """,
    "assessments": """
        SELECT f.patient_id, {assessed} AS assessed_at, upper(trim(f.instrument)) AS instrument,
               {score} AS score, {known} AS known
        FROM {src} AS f
    """,
}


def ingest_floor_sql(extract: str, path: Path) -> str:
    return FLOOR_SQL[extract].format(
        src=_csv(path),
        formats=FORMATS,
        known=_known(),
        birth=_date("birth_date"),
        death=_date("death_date"),
        value=_num("f.value"),
        start=_date("f.start_date"),
        end=_date("f.end_date"),
        dose=_num("f.daily_dose_mg"),
        dispensed=_date("f.dispensed_date"),
        diagnosed=_date("f.diagnosed_at"),
        assessed=_date("f.assessed_at"),
        score=_num("f.score"),
    )


def _timed(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    started = time.perf_counter()
    con.execute(sql)
    return time.perf_counter() - started


def ingest_floors(folder: Path, warehouse: Path, scratch: Path, settings: dict) -> dict[str, float]:
    """Seconds of each extract's floor statement (reference tables from the built warehouse)."""
    scratch.unlink(missing_ok=True)
    seconds = {}
    with duckdb.connect(str(scratch), config=settings) as con:
        con.execute(f"ATTACH '{warehouse}' AS w (READ_ONLY)")
        for extract in FLOOR_SQL:
            path = folder / f"{extract}.csv"
            if not path.is_file():
                continue
            table = "floor_patients" if extract == "patients" else f"floor_{extract}"
            sql = ingest_floor_sql(extract, path)
            seconds[extract] = _timed(con, f"CREATE OR REPLACE TABLE {table} AS {sql}")
    scratch.unlink(missing_ok=True)
    return seconds


def check_floor_sql(con: duckdb.DuckDBPyConnection, table: str) -> str:
    columns = [name for name, *_ in con.execute(f"DESCRIBE {table}").fetchall()]
    parts = ["count(*)"]
    for c in columns:
        q = f'"{c}"'
        parts += [f"count({q})", f"min({q})", f"max({q})"]
    known = ""
    if "patient_id" in columns and table != "staging.patients":
        known = (
            ", count(*) FILTER (WHERE patient_id NOT IN (SELECT patient_id FROM staging.patients))"
        )
    return f"SELECT {', '.join(parts)}{known} FROM {table}"


def check_floors(warehouse: Path, tables: list[str], settings: dict) -> float:
    total = 0.0
    with duckdb.connect(str(warehouse), read_only=True, config=settings) as con:
        for table in tables:
            total += _timed(con, check_floor_sql(con, table))
    return total


def model_floor(warehouse: Path, settings: dict, config_path: Path | None) -> float:
    """The transform's SQL models, back to back on one connection (no orchestration)."""
    from trscohort.models import build_transform

    with duckdb.connect(str(warehouse), config=settings) as con:
        started = time.perf_counter()
        build_transform(con, load_config(config_path))
        return time.perf_counter() - started
