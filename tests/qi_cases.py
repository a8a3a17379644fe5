"""Hand-built patients for the quality-improvement indicators (issue 18); no tests here.

Dates are day offsets from DAY0 (2024-01-01) as in tests/test_clozapine_helpers.py, so every
boundary (day 28 / 29, 2 / 3 days off, 600 / 601 mg, 90 / 91 days) can be checked by hand. Each
cohort is one warehouse holding several patients, one per case, built once per test module.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import yaml

from tests.conftest import ingest_folder, write_extracts
from tests.test_clozapine_helpers import DAY0, d
from trscohort.config import load_config
from trscohort.models import build_transform
from trscohort.run_parameters import record_run_parameters

__all__ = ["DAY0", "build_cohort", "clozapine", "d", "rows_of", "unit"]

RX_HEADER = "patient_id,drug,start_date,end_date,daily_dose_mg,route,dose_mg,interval_days"
LAB_HEADER = "patient_id,collected_at,test_code,test_name,value,unit,reference_high"
DX_HEADER = "patient_id,code,code_system,diagnosed_at,description"
ASSESSMENT_HEADER = "patient_id,assessed_at,instrument,score"
DISPENSING_HEADER = "patient_id,drug,dispensed_date,days_supply"


def rx(
    pid: str,
    start: int,
    end: int | None,
    dose: float | None,
    drug: str = "clozapine",
    *,
    route: str = "",
    dose_mg: float | None = None,
    interval_days: int | None = None,
) -> str:
    """A prescription line; a long-acting injectable may give dose_mg + interval_days instead."""
    cells = [
        pid,
        drug,
        str(d(start)),
        str(d(end)) if end is not None else "",
        "" if dose is None else str(dose),
        route,
        "" if dose_mg is None else str(dose_mg),
        "" if interval_days is None else str(interval_days),
    ]
    return ",".join(cells)


def clozapine(pid: str, maintenance_mg: float = 350, start: int = 0, until: int | None = None):
    """A guideline titration from `start`: 25 mg/day for 7 days, 150 for 7 days, then
    `maintenance_mg` until `until` (None = ongoing)."""
    return [
        rx(pid, start, start + 6, 25),
        rx(pid, start + 7, start + 13, 150),
        rx(pid, start + 14, until, maintenance_mg),
    ]


def lab(pid: str, day: int, name: str, value: float | str, unit_text: str) -> str:
    return f"{pid},{d(day)},,{name},{value},{unit_text},"


def dx(pid: str, day: int, code: str, system: str = "ICD10") -> str:
    return f"{pid},{code},{system},{d(day)},"


def assessment(pid: str, day: int, score: float, instrument: str = "PANSS") -> str:
    return f"{pid},{d(day)},{instrument},{score}"


def dispensing(pid: str, day: int, days_supply: int, drug: str) -> str:
    return f"{pid},{drug},{d(day)},{days_supply}"


def patients_csv(ids: list[str], *, deaths: dict[str, int] | None = None) -> str:
    """Patients alternating between sites north and south, born 1980."""
    deaths = deaths or {}
    lines = ["patient_id,birth_date,sex,benign_ethnic_neutropenia,site,death_date"]
    for i, pid in enumerate(ids):
        death = str(d(deaths[pid])) if pid in deaths else ""
        lines.append(f"{pid},1980-01-02,F,false,{'north' if i % 2 == 0 else 'south'},{death}")
    return "\n".join(lines)


def build_cohort(
    folder: Path,
    *,
    ids: list[str],
    as_of: int,
    prescriptions: list[str] = (),
    labs: list[str] = (),
    diagnoses: list[str] = (),
    assessments: list[str] = (),
    dispensings: list[str] = (),
    deaths: dict[str, int] | None = None,
    history_from: int = -400,
    concepts: dict | None = None,
    config: dict | None = None,
) -> duckdb.DuckDBPyConnection:
    """Ingest the cohort, fix the as-of date (a day offset), build every transform model.

    Every patient gets a schizophrenia diagnosis on day `history_from` (observable history
    before clozapine, for QI-LAX's new-starter rule) unless `diagnoses` names the patient first.
    """
    given = {line.split(",")[0] for line in diagnoses}
    history = [dx(pid, history_from, "F20.0") for pid in ids if pid not in given]
    extracts = {
        "patients": patients_csv(ids, deaths=deaths),
        "prescriptions": "\n".join([RX_HEADER, *prescriptions]),
        "labs": "\n".join([LAB_HEADER, *labs]),
        "diagnoses": "\n".join([DX_HEADER, *history, *diagnoses]),
        "assessments": "\n".join([ASSESSMENT_HEADER, *assessments]),
        "dispensings": "\n".join([DISPENSING_HEADER, *dispensings]),
    }
    input_dir = write_extracts(folder / "input", extracts)
    mapping_path = None
    if concepts:
        mapping_path = folder / "mapping.yaml"
        mapping_path.write_text(yaml.safe_dump({"concepts": concepts}))
    config_path = None
    if config:
        config_path = folder / "config.yaml"
        config_path.write_text(yaml.safe_dump(config))
    cfg = load_config(config_path)
    con = ingest_folder(input_dir, mapping_path=mapping_path, config=cfg)
    for extract in ("prescriptions", "labs", "diagnoses", "assessments", "dispensings"):
        quarantined = con.execute(f"SELECT reason FROM quarantine.{extract}").fetchall()
        assert not quarantined, (extract, quarantined)
    record_run_parameters(
        con,
        cfg,
        as_of=d(as_of),
        input_dir=str(input_dir),
        mapping_path=str(mapping_path) if mapping_path else None,
    )
    build_transform(con, cfg)
    return con


def rows_of(con: duckdb.DuckDBPyConnection, sql: str, *params) -> list[dict]:
    cursor = con.execute(sql, list(params))
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def unit(
    con: duckdb.DuckDBPyConnection,
    indicator_id: str,
    pid: str,
    stratum: str = "all",
    index_date: dt.date | None = None,
) -> dict | None:
    """The patient's row of marts.qi_indicator_patients (None when the patient is not a unit)."""
    sql = (
        "SELECT * FROM marts.qi_indicator_patients "
        "WHERE indicator_id = ? AND patient_id = ? AND stratum = ?"
    )
    params: list = [indicator_id, pid, stratum]
    if index_date is not None:
        sql += " AND index_date = ?"
        params.append(index_date)
    found = rows_of(con, sql, *params)
    assert len(found) <= 1, found
    return found[0] if found else None


PATIENTS_MART_DDL = (
    "CREATE TABLE marts.qi_indicator_patients (indicator_id VARCHAR, stratum VARCHAR, "
    "patient_id VARCHAR, site VARCHAR, index_date DATE, month DATE, in_denominator BOOLEAN, "
    "in_numerator BOOLEAN, exclusion VARCHAR, value DOUBLE, evidence VARCHAR, "
    "definition_version VARCHAR)"
)


def indicator_mart(
    cells: list[tuple[str, str, str, dt.date, int, int]], *, ci_level: float = 0.95
) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse whose marts.qi_indicators is built, by the real model, from a
    hand-made marts.qi_indicator_patients: one (indicator, stratum, site, month, numerator,
    denominator) cell per tuple, each unit a made-up patient."""
    from trscohort.models import Model, build_model, transform_context

    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute(PATIENTS_MART_DDL)
    units = []
    for c, (indicator, stratum, site, month, numerator, denominator) in enumerate(cells):
        units += [
            (indicator, stratum, f"C{c}U{j}", site, month, month, j < numerator)
            for j in range(denominator)
        ]
    con.executemany(
        "INSERT INTO marts.qi_indicator_patients VALUES (?, ?, ?, ?, ?, ?, TRUE, ?, NULL, NULL, "
        "'', '1.0')",
        units,
    )
    config = load_config()
    data = {**dict(config), "qi": {**config["qi"], "ci_level": ci_level}}
    build_model(con, Model("marts", "qi_indicators"), transform_context(data))
    return con
