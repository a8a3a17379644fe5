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
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
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
    polypharmacy: list[dict[str, Any]] = field(default_factory=list)

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
        polypharmacy=_records(
            con,
            "SELECT * FROM intermediate.antipsychotic_polypharmacy WHERE patient_id = ? "
            "ORDER BY start_date",
            [patient_id],
        )
        if _table_exists(con, "intermediate.antipsychotic_polypharmacy")
        else [],
    )


def _num(value: Any) -> str:
    if value is None:
        return "?"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _count(n: int, singular: str, plural: str | None = None) -> str:
    """'1 adequate failed trial', '2 adequate failed trials'."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def _verdict(ok: bool | None) -> str:
    return {True: "met", False: "not met", None: "not verified"}[ok]


def _adherence_evidence(t: dict[str, Any]) -> str:
    """What TRS-5 rests on, as a clinician would note it."""
    parts = []
    if t["adherence_pct"] is not None:
        source = t["adherence_source"].replace("+level", "").replace("level", "")
        source = {
            "dispensings": "dispensings",
            "lai": "long-acting injections",
            "dispensings+lai": "dispensings and long-acting injections",
        }.get(source, source)
        parts.append(f"{_num(t['adherence_pct'])}% of days covered by {source}")
    if t.get("n_levels"):
        parts.append(
            f"{t['generic_name']} level in range"
            if t.get("level_in_range")
            else f"{t['generic_name']} level below range"
        )
    if not parts:
        return "no dispensings, no long-acting injection, no blood level"
    return "; ".join(parts)


def _trial_line(t: dict[str, Any]) -> str:
    if t["adherence_ok"] is None:
        adherence = "adherence unknown (no dispensings)"
    else:
        adherence = f"adherence {_adherence_evidence(t)}"
    if t["cpz_equivalent_mg"] is not None:
        dose = f"= {_num(t['cpz_equivalent_mg'])} mg CPZ-eq/day"
    elif t.get("dose_basis") == "label_mid_range":
        dose = f"(label mid-range {_num(t['label_mid_mg'])} mg/day, no CPZ equivalent)"
    else:
        dose = "(no CPZ equivalent)"
    outcome = (
        f"failed ({t['failure_instrument']} {_num(t['failure_score'])} on {t['failure_assessed_at']})"
        if t["failed"]
        else "not shown to fail"
    )
    ongoing = ", ongoing" if t["ongoing_at_as_of"] else ""
    return (
        f"  {t['start_date']} to {t['end_date']}  {t['generic_name']} ({t['route']}{ongoing}), "
        f"{_count(t['days'], 'day')}, mean {_num(t['mean_daily_dose_mg'])} mg/day {dose}, "
        f"{adherence}: {'adequate' if t['adequate'] else 'not adequate'}, {outcome}"
    )


def _dose_criterion(t: dict[str, Any], trs: dict) -> str:
    if t.get("dose_basis") == "label_mid_range":
        return (
            f"TRS-4 dose {_verdict(t['dose_ok'])}: {_num(t['mean_daily_dose_mg'])} mg/day "
            f"(needs \u2265 {_num(t['label_mid_mg'])}, the label mid-range: no CPZ equivalent)"
        )
    if t["cpz_equivalent_mg"] is None:
        return "TRS-4 dose not verifiable (no dose, CPZ equivalent or label range)"
    return (
        f"TRS-4 dose {_verdict(t['dose_ok'])}: {_num(t['cpz_equivalent_mg'])} mg CPZ-eq/day "
        f"(needs \u2265 {trs['min_cpz_equivalent_mg']})"
    )


def _trial_criteria(t: dict[str, Any], trs: dict) -> list[str]:
    adherence = (
        f"TRS-5 adherence unknown ({_adherence_evidence(t)})"
        if t["adherence_ok"] is None
        else f"TRS-5 adherence {_verdict(t['adherence_ok'])}: {_adherence_evidence(t)} "
        f"(needs \u2265 {trs['min_adherence_pct']}%, a long-acting injectable or a level in range)"
    )
    return [
        f"  {t['generic_name']} from {t['start_date']}:",
        f"    TRS-3 duration {_verdict(t['duration_ok'])}: {_count(t['days'], 'day')} "
        f"(needs \u2265 {trs['min_trial_days']})",
        f"    {_dose_criterion(t, trs)}",
        f"    {adherence}",
    ]


def _criteria(e: PatientExplanation) -> list[str]:
    trs, s = e.config["trs"], e.status
    dx = ", ".join(f"{d['code']} ({d['code_system']}) on {d['diagnosed_at']}" for d in e.diagnoses)
    lines = [
        f"  TRS-1 schizophrenia diagnosis {_verdict(s['schizophrenia_dx'])}: {dx or 'none recorded'}"
    ]
    for t in e.trials:
        lines += _trial_criteria(t, trs)
    if e.polypharmacy and not trs.get("count_polypharmacy_trials", False):
        lines.append(
            f"  TRS-2: {_count(len(e.polypharmacy), 'period')} on two or more antipsychotics "
            "together, not counted as trials"
        )
    need = trs["min_failed_adequate_trials"]
    if trs["require_different_classes"]:
        kinds = "different classes"
        found = len({t["drug_class"] for t in e.trials if t["adequate"] and t["failed"]})
        distinct = _count(found, "distinct class", "distinct classes")
    else:
        kinds = "different drugs"
        distinct = _count(s["n_distinct_failed_drugs"], "distinct drug")
    met = s["trs_status"] == "trs" or s["n_distinct_failed_drugs"] >= need
    lines.append(
        f"  TRS-6 {_verdict(met)}: {distinct} among "
        f"{_count(s['n_failed_adequate_trials'], 'adequate failed trial')} (needs {need} {kinds})"
    )
    thresholds = f"needs PANSS \u2265 {trs['panss_total_persistent']} or BPRS \u2265 {trs['bprs_total_persistent']}"
    if s["latest_symptom_score"] is None:
        lines.append(f"  TRS-7 persistent symptoms not verified: no PANSS/BPRS ({thresholds})")
    else:
        lines.append(
            f"  TRS-7 persistent symptoms {_verdict(s['symptoms_persistent'])}: "
            f"{s['latest_symptom_instrument']} {_num(s['latest_symptom_score'])} on "
            f"{s['latest_symptom_date']} ({thresholds})"
        )
    impairment = s["functional_impairment"]
    lines.append(
        "  TRS-8 functional impairment "
        + ("not recorded (not required)" if impairment is None else _verdict(impairment))
    )
    if s["trs_status"] == "trs":
        missing = [
            text
            for ok, text in (
                (s.get("trs9_level_confirmed"), "no antipsychotic level in range"),
                (s.get("trs9_supervised_trial"), "no long-acting (supervised) trial"),
            )
            if not ok
        ]
        lines.append(
            "  TRS-9 optimum criteria "
            + ("met" if not missing else "not met: " + "; ".join(missing))
            + " (reported, not required)"
        )
    return lines


def _clozapine_lines(e: PatientExplanation) -> list[str]:
    s, c = e.status, e.clozapine
    lines: list[str] = []
    if s["clozapine_start_date"]:
        note = " without documented TRS" if s["clozapine_without_documented_trs"] else ""
        lines += ["", f"Clozapine started {s['clozapine_start_date']}{note}."]
        for p in e.clozapine_prescriptions:
            lines.append(
                f"  {p['start_date']} to {p['end_date']}  {_num(p['daily_dose_mg'])} mg/day"
            )
    if c:
        lines.append(f"Clozapine status: {c.get('clozapine_status')}")
        if c.get("levels_maintained") is False:
            lines.append("  levels not maintained at the basis dose within the 90 days (CLZ-5)")
        if c.get("reasons"):
            lines.append(f"  {c['reasons']}")
    return lines


def _render(e: PatientExplanation) -> list[str]:
    s = e.status
    lines = [
        f"Patient {e.patient_id}: {s['trs_status']} (as of {e.as_of_date})",
        "",
        "Antipsychotic trials:",
        *([_trial_line(t) for t in e.trials] or ["  none"]),
    ]
    if e.polypharmacy:
        lines += ["", "Antipsychotic polypharmacy:"]
        lines += [
            f"  {p['start_date']} to {p['end_date']}  {p['drugs']}, {_count(p['days'], 'day')}"
            for p in e.polypharmacy
        ]
    lines += [
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
        *_clozapine_lines(e),
    ]
    return lines
