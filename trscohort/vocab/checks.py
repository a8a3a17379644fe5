"""Loud where it matters: vocabulary checks run after staging.

* MON-ANC: patients take clozapine but not one ANC result was recognised -> the run fails
  (UsageError, exit 2, one line naming the top unmapped lab names), unless
  `vocabulary.fail_on_clozapine_without_anc` is false (then a warning).
* Warnings (run summary, audit.vocabulary_checks): no clozapine level recognised for clozapine
  patients; no antipsychotic among the prescriptions; no schizophrenia (F20/F25) among the
  diagnoses; unmapped values that look like clozapine, an antipsychotic, a monitored analyte or
  a schizophrenia diagnosis; long-acting injectable doses quarantined as per-injection doses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from trscohort.errors import UsageError

TABLE = "audit.vocabulary_checks"
TOP = 3  # unmapped values named in one message
LOOKS_LIKE_LISTED = 5  # unmapped look-alike values warned one by one


@dataclass(frozen=True)
class VocabularyCheck:
    check_id: str
    severity: str  # "error" or "warning"
    message: str


def _names(rows: list[tuple[str, int]]) -> str:
    return ", ".join(f"'{value}' ({n:,} rows)" for value, n in rows) or "none"


CLOZAPINE_PATIENTS = """
    SELECT patient_id FROM staging.prescriptions WHERE is_clozapine
    UNION SELECT patient_id FROM staging.dispensings WHERE is_clozapine
"""


def _unmapped_lab_names(con: duckdb.DuckDBPyConnection, patients_sql: str) -> list[tuple]:
    return con.execute(
        f"""
        SELECT mode(coalesce(test_name, test_code)), count(*) AS n
        FROM staging.labs
        WHERE analyte IS NULL AND mapped_by IS NULL AND patient_id IN ({patients_sql})
        GROUP BY lower(coalesce(test_name, test_code))
        ORDER BY n DESC, 1 LIMIT {TOP}
        """
    ).fetchall()


def _analyte_patients(con: duckdb.DuckDBPyConnection, analyte: str) -> int:
    return con.execute(
        f"SELECT count(DISTINCT patient_id) FROM staging.labs WHERE analyte = ? "
        f"AND patient_id IN ({CLOZAPINE_PATIENTS})",
        [analyte],
    ).fetchone()[0]


def _clozapine_checks(con: duckdb.DuckDBPyConnection, fail: bool) -> list[VocabularyCheck]:
    patients = con.execute(f"SELECT count(*) FROM ({CLOZAPINE_PATIENTS})").fetchone()[0]
    if patients == 0:
        return []
    found = []
    unmapped = _unmapped_lab_names(con, CLOZAPINE_PATIENTS)
    if _analyte_patients(con, "anc") == 0:
        quarantined = con.execute(
            "SELECT count(*) FROM quarantine.labs WHERE reason LIKE '% for anc%'"
        ).fetchone()[0]
        extra = (
            f"; {quarantined:,} ANC rows quarantined (see quarantine.labs)" if quarantined else ""
        )
        found.append(
            VocabularyCheck(
                "MON-ANC",
                "error" if fail else "warning",
                f"no ANC results recognised for {patients:,} clozapine patients; unmapped lab "
                f"names: {_names(unmapped)}{extra}; map them under concepts.labs",
            )
        )
    if _analyte_patients(con, "clozapine_level") == 0:
        found.append(
            VocabularyCheck(
                "MON-LVL",
                "warning",
                f"no clozapine levels recognised for {patients:,} clozapine patients; unmapped "
                f"lab names: {_names(unmapped)}; map them under concepts.labs",
            )
        )
    return found


def _absent_checks(con: duckdb.DuckDBPyConnection) -> list[VocabularyCheck]:
    found = []
    total, antipsychotic = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE is_antipsychotic) FROM staging.prescriptions"
    ).fetchone()
    if total and not antipsychotic:
        drugs = con.execute(
            f"SELECT source_value, n_rows FROM audit.unmapped_values "
            f"WHERE extract = 'prescriptions' ORDER BY rank LIMIT {TOP}"
        ).fetchall()
        found.append(
            VocabularyCheck(
                "TRS-2",
                "warning",
                f"no antipsychotic recognised among {total:,} prescriptions; unmapped drug "
                f"names: {_names(drugs)}; map them under concepts.drugs",
            )
        )
    total, schizophrenia = con.execute(
        """
        SELECT count(*), count(*) FILTER (WHERE EXISTS (
            SELECT 1 FROM reference.icd10_groups AS g
            WHERE g.group_id IN ('schizophrenia', 'schizoaffective') AND g.match <> 'exclude'
              AND d.code LIKE g.code_prefix || '%'))
        FROM staging.diagnoses AS d
        """
    ).fetchone()
    if total and not schizophrenia:
        codes = con.execute(
            f"SELECT source_value, n_rows FROM audit.unmapped_values "
            f"WHERE extract = 'diagnoses' ORDER BY rank LIMIT {TOP}"
        ).fetchall()
        found.append(
            VocabularyCheck(
                "TRS-1",
                "warning",
                f"no schizophrenia diagnosis (F20/F25) recognised among {total:,} diagnoses; "
                f"unmapped codes: {_names(codes)}; map them under concepts.diagnoses",
            )
        )
    return found


def _look_alike_checks(con: duckdb.DuckDBPyConnection) -> list[VocabularyCheck]:
    rows = con.execute(
        f"""
        SELECT extract, field, source_value, n_rows, looks_like, suggested_concept,
               suggestion_score
        FROM audit.unmapped_values
        WHERE looks_like IS NOT NULL
        ORDER BY looks_like = 'clozapine' DESC, looks_like = 'antipsychotic' DESC, rank
        LIMIT {LOOKS_LIKE_LISTED}
        """
    ).fetchall()
    found = []
    for extract, field, value, n, looks_like, concept, score in rows:  # at most 5 values
        domain = {"drug": "drugs", "code": "diagnoses"}.get(field, "labs")
        if field == "unit":
            advice = "add the unit to reference/lab_units.csv or convert it"
        else:
            advice = f"map it under concepts.{domain}"
        hint = f" (suggested {concept}, score {score:.0f})" if concept and field != "unit" else ""
        found.append(
            VocabularyCheck(
                "VOCAB-LOOKS-LIKE",
                "warning",
                f"unmapped {extract} {field} '{value}' ({n:,} rows) looks like {looks_like}"
                f"{hint}; {advice}",
            )
        )
    return found


def _lai_checks(con: duckdb.DuckDBPyConnection) -> list[VocabularyCheck]:
    n = con.execute(
        "SELECT count(*) FROM quarantine.prescriptions WHERE reason LIKE "
        "'%looks like a per-injection dose%'"
    ).fetchone()[0]
    if not n:
        return []
    return [
        VocabularyCheck(
            "TRS-4-LAI",
            "warning",
            f"{n:,} long-acting injectable prescriptions quarantined: a per-injection dose in "
            "daily_dose_mg; give dose_mg and interval_days (see quarantine.prescriptions)",
        )
    ]


def run_checks(con: duckdb.DuckDBPyConnection, config: Mapping[str, Any]) -> list[VocabularyCheck]:
    """Evaluate every vocabulary check and record them in audit.vocabulary_checks."""
    fail = bool(config["vocabulary"]["fail_on_clozapine_without_anc"])
    checks = [
        *_clozapine_checks(con, fail),
        *_absent_checks(con),
        *_look_alike_checks(con),
        *_lai_checks(con),
    ]
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute(
        f"CREATE OR REPLACE TABLE {TABLE} (check_id VARCHAR, severity VARCHAR, message VARCHAR)"
    )
    if checks:
        con.executemany(
            f"INSERT INTO {TABLE} VALUES (?, ?, ?)",
            [(c.check_id, c.severity, c.message) for c in checks],
        )
    return checks


def raise_on_errors(checks: list[VocabularyCheck]) -> None:
    """The first failed check as a one-line UsageError (the run exits 2)."""
    errors = [c for c in checks if c.severity == "error"]
    if errors:
        raise UsageError(errors[0].message)
