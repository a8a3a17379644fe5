"""Hand-built patients for the TRS rules: a base patient who meets every criterion, and edits."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from tests.conftest import ingest_folder, write_extracts
from trscohort.config import Config, load_config
from trscohort.models import build_transform
from trscohort.run_parameters import record_run_parameters

AS_OF = dt.date(2020, 12, 31)

PATIENTS = "patient_id,birth_date,sex\nP1,1980-01-01,F\n"
DIAGNOSES_F20 = [("P1", "F20.0", "2019-01-01", "ICD10")]

# Two adequate trials of different drugs, each followed by a high PANSS: TRS on 2020-08-03.
BASE_PRESCRIPTIONS = [
    # patient, drug, start, end, dose mg/day, route
    ("P1", "olanzapine", "2020-01-01", "2020-03-31", 25, "oral"),  # 91 days, 750 mg CPZ-eq
    ("P1", "risperidone", "2020-05-01", "2020-07-31", 8, "oral"),  # 92 days, 800 mg CPZ-eq
]
BASE_DISPENSINGS = [
    ("P1", "olanzapine", "2020-01-01", 91),
    ("P1", "risperidone", "2020-05-01", 92),
]
BASE_ASSESSMENTS = [
    ("P1", "2020-04-05", "PANSS", 85),
    ("P1", "2020-08-03", "PANSS", 90),
]


def _csv(header: str, rows: list[tuple]) -> str:
    lines = [header] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def build(
    folder: Path,
    *,
    prescriptions: list[tuple] = BASE_PRESCRIPTIONS,
    dispensings: list[tuple] = BASE_DISPENSINGS,
    assessments: list[tuple] = BASE_ASSESSMENTS,
    diagnoses: list[tuple] = DIAGNOSES_F20,
    labs: list[tuple] = (),
    as_of: dt.date = AS_OF,
    config: Config | None = None,
    targets: tuple[str, ...] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Ingest the case and build every transform model (or only `targets` and the models they
    read); returns the connection."""
    config = config or load_config()
    extracts = {
        "patients": PATIENTS,
        "prescriptions": _csv(
            "patient_id,drug,start_date,end_date,daily_dose_mg,route", prescriptions
        ),
        "labs": _csv("patient_id,collected_at,test_code,test_name,value,unit", list(labs)),
        "diagnoses": _csv("patient_id,code,diagnosed_at,code_system", diagnoses),
        "dispensings": _csv("patient_id,drug,dispensed_date,days_supply", dispensings),
        "assessments": _csv("patient_id,assessed_at,instrument,score", assessments),
    }
    con = ingest_folder(write_extracts(folder, extracts), config=config)
    record_run_parameters(con, config, as_of=as_of, input_dir=str(folder), mapping_path=None)
    build_transform(con, config, targets)
    return con


def status(con: duckdb.DuckDBPyConnection) -> dict:
    cursor = con.execute("SELECT * FROM marts.patient_trs_status WHERE patient_id = 'P1'")
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def trials(con: duckdb.DuckDBPyConnection) -> list[dict]:
    cursor = con.execute(
        "SELECT * FROM intermediate.antipsychotic_trials "
        "WHERE patient_id = 'P1' ORDER BY start_date"
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
