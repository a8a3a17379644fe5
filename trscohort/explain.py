"""Explain one patient: the antipsychotic timeline and, criterion by criterion, the TRS status.

`explain_patient(con, patient_id)` returns a `PatientExplanation` (data for notebooks) whose
`to_text()` is what `trscohort explain` prints. Thresholds are those the run used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from trscohort.errors import UsageError
from trscohort.run_parameters import read_run_parameters


def _records(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


@dataclass
class PatientExplanation:
    patient_id: str
    as_of_date: Any
    config: dict
    status: dict[str, Any]
    diagnoses: list[dict[str, Any]]
    trials: list[dict[str, Any]]
    assessments: list[dict[str, Any]]
    clozapine: dict[str, Any] | None = None
    clozapine_prescriptions: list[dict[str, Any]] = field(default_factory=list)

    def to_text(self) -> str:
        return "\n".join(_render(self))


def explain_patient(con: duckdb.DuckDBPyConnection, patient_id: str) -> PatientExplanation:
    status = _records(
        con, "SELECT * FROM marts.patient_trs_status WHERE patient_id = ?", [patient_id]
    )
    if not status:
        raise UsageError(f"patient '{patient_id}' is not in this warehouse")
    params = read_run_parameters(con)
    clozapine = None
    if _table_exists(con, "marts.patient_clozapine_status"):
        found = _records(
            con, "SELECT * FROM marts.patient_clozapine_status WHERE patient_id = ?", [patient_id]
        )
        clozapine = found[0] if found else None
    return PatientExplanation(
        patient_id=patient_id,
        as_of_date=params["as_of_date"],
        config=params["config"],
        status=status[0],
        diagnoses=_records(
            con,
            "SELECT diagnosed_at, code, code_system, group_id FROM intermediate.diagnosis_groups "
            "WHERE patient_id = ? AND group_id IN ('schizophrenia', 'schizoaffective') "
            "ORDER BY diagnosed_at, code",
            [patient_id],
        ),
        trials=_records(
            con,
            "SELECT * FROM intermediate.antipsychotic_trials WHERE patient_id = ? "
            "ORDER BY start_date, episode_id",
            [patient_id],
        ),
        assessments=_records(
            con,
            "SELECT * FROM intermediate.symptom_scores WHERE patient_id = ? "
            "ORDER BY assessed_at, instrument",
            [patient_id],
        ),
        clozapine=clozapine,
        clozapine_prescriptions=_records(
            con,
            "SELECT start_date, end_date, daily_dose_mg FROM intermediate.antipsychotic_prescriptions "
            "WHERE patient_id = ? AND is_clozapine ORDER BY start_date",
            [patient_id],
        ),
    )


def _num(value: Any) -> str:
    if value is None:
        return "?"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _mark(ok: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "not verified"}[ok]


def _trial_line(t: dict[str, Any]) -> str:
    adherence = (
        f"adherence {_num(t['adherence_pct'])}% ({t['adherence_source']})"
        if t["adherence_pct"] is not None
        else "adherence unknown"
    )
    outcome = (
        f"failed ({t['failure_instrument']} {_num(t['failure_score'])} on {t['failure_assessed_at']})"
        if t["failed"]
        else "not shown to fail"
    )
    ongoing = ", ongoing" if t["ongoing_at_as_of"] else ""
    return (
        f"  {t['start_date']} to {t['end_date']}  {t['generic_name']} ({t['route']}{ongoing}), "
        f"{t['days']} days, mean {_num(t['mean_daily_dose_mg'])} mg/day = "
        f"{_num(t['cpz_equivalent_mg'])} mg CPZ-eq, {adherence}: "
        f"{'ADEQUATE' if t['adequate'] else 'not adequate'}, {outcome}"
    )


def _criteria(e: PatientExplanation) -> list[str]:
    trs, s = e.config["trs"], e.status
    kinds = "classes" if trs["require_different_classes"] else "drugs"
    dx = ", ".join(f"{d['code']} ({d['group_id']}, {d['diagnosed_at']})" for d in e.diagnoses)
    lines = [f"  TRS-1 schizophrenia diagnosis: {_mark(s['schizophrenia_dx'])}  [{dx or 'none'}]"]
    for t in e.trials:
        lines.append(
            f"  {t['generic_name']} from {t['start_date']}: TRS-3 duration {_mark(t['duration_ok'])} "
            f"({t['days']} >= {trs['min_trial_days']} days), TRS-4 dose {_mark(t['dose_ok'])} "
            f"({_num(t['cpz_equivalent_mg'])} >= {trs['min_cpz_equivalent_mg']} mg CPZ-eq), "
            f"TRS-5 adherence {_mark(t['adherence_ok'])} "
            f"({_num(t['adherence_pct'])} >= {trs['min_adherence_pct']}%)"
        )
    lines.append(
        f"  TRS-6 >= {trs['min_failed_adequate_trials']} adequate failed trials of different "
        f"{kinds}: {s['n_distinct_failed_drugs']} different drugs among "
        f"{s['n_failed_adequate_trials']} adequate failed trial(s)"
    )
    if s["latest_symptom_score"] is None:
        lines.append("  TRS-7 persistent symptoms: not verified (no PANSS/BPRS)")
    else:
        lines.append(
            f"  TRS-7 persistent symptoms: {_mark(s['symptoms_persistent'])} "
            f"({s['latest_symptom_instrument']} {_num(s['latest_symptom_score'])} on "
            f"{s['latest_symptom_date']}; thresholds PANSS >= {trs['panss_total_persistent']}, "
            f"BPRS >= {trs['bprs_total_persistent']})"
        )
    impairment = s["functional_impairment"]
    lines.append(
        "  TRS-8 functional impairment: "
        + ("not recorded (not required)" if impairment is None else _mark(impairment))
    )
    return lines


def _render(e: PatientExplanation) -> list[str]:
    s = e.status
    lines = [
        f"Patient {e.patient_id}: {s['trs_status']} (as of {e.as_of_date})",
        "",
        "Antipsychotic trials:",
        *([_trial_line(t) for t in e.trials] or ["  none"]),
        "",
        "Symptom and functioning assessments:",
        *(
            [f"  {a['assessed_at']}  {a['instrument']} {_num(a['score'])}" for a in e.assessments]
            or ["  none"]
        ),
        "",
        "Criteria:",
        *_criteria(e),
        "",
        f"Status: {s['trs_status']}" + (f" since {s['trs_date']}" if s["trs_date"] else ""),
        f"Reasons: {s['reasons'] or '-'}",
    ]
    if s["clozapine_start_date"]:
        note = " without documented TRS" if s["clozapine_without_documented_trs"] else ""
        lines += ["", f"Clozapine started {s['clozapine_start_date']}{note}."]
        for p in e.clozapine_prescriptions:
            lines.append(
                f"  {p['start_date']} to {p['end_date']}  {_num(p['daily_dose_mg'])} mg/day"
            )
    if e.clozapine:
        lines.append(f"Clozapine status: {e.clozapine.get('clozapine_status')}")
        if e.clozapine.get("reasons"):
            lines.append(f"  {e.clozapine['reasons']}")
    return lines
