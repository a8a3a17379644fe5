"""Helpers shared by the clozapine, monitoring, ANC and safety-flag tests (no tests here).

Dates are written as day offsets from DAY0 (2024-01-01, the first clozapine dose in most
scenarios), so that every expected answer can be worked out by hand from the offsets.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import yaml

from tests.conftest import ingest_folder, write_extracts
from trscohort.config import load_config
from trscohort.models import build_transform
from trscohort.run_parameters import record_run_parameters

DAY0 = dt.date(2024, 1, 1)

PATIENTS = """
patient_id,birth_date,sex,benign_ethnic_neutropenia,site,death_date
P1,1990-01-02,F,false,north,
P2,1985-05-06,M,true,south,
P3,1970-03-04,M,false,south,
"""
RX_HEADER = "patient_id,drug,start_date,end_date,daily_dose_mg,route,prescription_id"
LAB_HEADER = "patient_id,collected_at,test_code,test_name,value,unit,reference_high"
DX_HEADER = "patient_id,code,code_system,diagnosed_at,description"
ASSESSMENT_HEADER = "patient_id,assessed_at,instrument,score"
DISPENSING_HEADER = "patient_id,drug,dispensed_date,days_supply"


def d(offset: int) -> dt.date:
    """The date `offset` days after DAY0."""
    return DAY0 + dt.timedelta(days=offset)


def rx(pid: str, start: int, end: int | None, dose: float, drug: str = "clozapine") -> str:
    return f"{pid},{drug},{d(start)},{d(end) if end is not None else ''},{dose},,"


def lab(pid: str, day: int, name: str, value: float, unit: str, ref: str = "") -> str:
    return f"{pid},{d(day)},,{name},{value},{unit},{ref}"


def anc(pid: str, day: int, value: float) -> str:
    return lab(pid, day, "ANC", value, "cells/uL")


def level(pid: str, day: int, value: float) -> str:
    return lab(pid, day, "Clozapine", value, "ng/mL")


def dx(pid: str, day: int, code: str) -> str:
    return f"{pid},{code},ICD10,{d(day)},"


def assessment(pid: str, day: int, instrument: str, score: float) -> str:
    return f"{pid},{d(day)},{instrument},{score}"


def dispensing(pid: str, day: int, days_supply: int, drug: str = "clozapine") -> str:
    return f"{pid},{drug},{d(day)},{days_supply}"


def titrated(pid: str, maintenance_mg: float = 350, until: int | None = None) -> list[str]:
    """A guideline titration: 25 mg/day days 0-6, 150 days 7-13, then `maintenance_mg` from
    day 14 (dose changes on days 7 and 14) until `until` (None = ongoing)."""
    return [rx(pid, 0, 6, 25), rx(pid, 7, 13, 150), rx(pid, 14, until, maintenance_mg)]


def build(
    tmp_path: Path,
    *,
    as_of: int,
    prescriptions: list[str] = (),
    labs: list[str] = (),
    diagnoses: list[str] = (),
    assessments: list[str] | None = None,
    dispensings: list[str] | None = None,
    patients: str = PATIENTS,
    config: dict | None = None,
    targets: tuple[str, ...] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Ingest the extracts, fix the as-of date (a day offset) and build every transform model
    (or only `targets` and the models they read)."""
    extracts = {
        "patients": patients,
        "prescriptions": "\n".join([RX_HEADER, *prescriptions]),
        "labs": "\n".join([LAB_HEADER, *labs]),
        "diagnoses": "\n".join([DX_HEADER, "P1,F20.0,ICD10,2019-06-01,", *diagnoses]),
    }
    if assessments is not None:
        extracts["assessments"] = "\n".join([ASSESSMENT_HEADER, *assessments])
    if dispensings is not None:
        extracts["dispensings"] = "\n".join([DISPENSING_HEADER, *dispensings])
    folder = write_extracts(tmp_path / "input", extracts)
    config_path = None
    if config:
        config_path = tmp_path / "config.yaml"
        config_path.write_text(yaml.safe_dump(config))
    cfg = load_config(config_path)
    con = ingest_folder(folder, config=cfg)
    for extract in ("prescriptions", "labs", "diagnoses"):
        quarantined = con.execute(f"SELECT reason FROM quarantine.{extract}").fetchall()
        assert not quarantined, (extract, quarantined)
    record_run_parameters(con, cfg, as_of=d(as_of), input_dir=str(folder), mapping_path=None)
    build_transform(con, cfg, targets)
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str, *params) -> dict:
    """The single row of a query, as {column: value}."""
    cursor = con.execute(sql, list(params))
    names = [c[0] for c in cursor.description]
    found = cursor.fetchall()
    assert len(found) == 1, found
    return dict(zip(names, found[0], strict=True))


def status(con: duckdb.DuckDBPyConnection, pid: str = "P1") -> dict:
    return one(con, "SELECT * FROM marts.patient_clozapine_status WHERE patient_id = ?", pid)
