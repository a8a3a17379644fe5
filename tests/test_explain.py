"""`trscohort explain` and its Python form tell an analyst why a status came out as it did."""

from __future__ import annotations

import duckdb
import pytest

from tests.trs_cases import BASE_ASSESSMENTS, BASE_DISPENSINGS, BASE_PRESCRIPTIONS, build
from trscohort.cli import main
from trscohort.errors import UsageError
from trscohort.explain import explain_patient

RISPERIDONE = BASE_PRESCRIPTIONS[1]


def test_explanation_walks_through_every_criterion(tmp_path):
    con = build(tmp_path)
    explanation = explain_patient(con, "P1")
    assert [t["generic_name"] for t in explanation.trials] == ["olanzapine", "risperidone"]
    text = explanation.to_text()
    assert text.startswith("Patient P1: trs (as of 2020-12-31)")
    assert (
        "2020-01-01 to 2020-03-31  olanzapine (oral), 91 days, mean 25 mg/day = 750 mg "
        "CPZ-eq/day, adherence 100% of days covered by dispensings: adequate, failed (PANSS 85 on "
        "2020-04-05)" in text
    )
    assert "TRS-1 schizophrenia diagnosis met: F200 (ICD10) on 2019-01-01" in text
    assert "    TRS-3 duration met: 91 days (needs \u2265 42)" in text
    assert "    TRS-4 dose met: 750 mg CPZ-eq/day (needs \u2265 600)" in text
    assert (
        "TRS-6 met: 2 distinct drugs among 2 adequate failed trials (needs 2 different drugs)"
        in text
    )
    assert "TRS-7 persistent symptoms met: PANSS 90 on 2020-08-03 (needs PANSS \u2265 70" in text
    assert "TRS-8 functional impairment not recorded (not required)" in text
    assert "TRS-9 optimum criteria not met: no antipsychotic level in range" in text
    assert "Status: trs since 2020-08-03" in text


def test_explanation_reads_like_a_clinical_note(tmp_path):
    # Olanzapine 5.96 mg/day = 178.8 mg CPZ-eq/day, never dispensed; risperidone adequate, failed.
    prescriptions = [("P1", "olanzapine", "2020-01-01", "2020-03-31", 5.96, "oral"), RISPERIDONE]
    con = build(tmp_path, prescriptions=prescriptions, dispensings=[BASE_DISPENSINGS[1]])
    text = explain_patient(con, "P1").to_text()
    assert "TRS-4 dose not met: 178.8 mg CPZ-eq/day (needs \u2265 600)" in text
    assert "adherence unknown (no dispensings): not adequate" in text
    assert "TRS-5 adherence unknown (no dispensings, no long-acting injection, no blood level)" in (
        text
    )
    assert (
        "TRS-6 not met: 1 distinct drug among 1 adequate failed trial (needs 2 different drugs)"
        in (text)
    )


def test_explanation_names_polypharmacy_and_the_label_dose(tmp_path):
    prescriptions = [
        ("P1", "olanzapine", "2020-01-01", "2020-04-29", 25, "oral"),
        ("P1", "risperidone", "2020-01-01", "2020-04-29", 8, "oral"),
        ("P1", "lumateperone", "2020-06-01", "2020-07-31", 42, "oral"),
    ]
    text = explain_patient(build(tmp_path, prescriptions=prescriptions), "P1").to_text()
    assert (
        "Antipsychotic polypharmacy:\n  2020-01-01 to 2020-04-29  olanzapine + risperidone, 120 days"
        in text
    )
    assert "TRS-2: 1 period on two or more antipsychotics together, not counted as trials" in text
    assert (
        "TRS-4 dose met: 42 mg/day (needs \u2265 42, the label mid-range: no CPZ equivalent)"
        in text
    )


def test_explanation_names_what_failed(tmp_path):
    con = build(tmp_path, assessments=[*BASE_ASSESSMENTS, ("P1", "2020-10-01", "PANSS", 50)])
    text = explain_patient(con, "P1").to_text()
    assert "TRS-7 persistent symptoms not met: PANSS 50 on 2020-10-01" in text
    assert "Reasons: TRS-7: latest PANSS 50 on 2020-10-01 below" in text


def test_unknown_patient_is_a_clear_error(tmp_path):
    con = build(tmp_path)
    with pytest.raises(UsageError, match="patient 'P404' is not in this warehouse"):
        explain_patient(con, "P404")


def test_cli_explain_reads_the_warehouse(tmp_path, capsys):
    con = build(tmp_path / "case")
    warehouse = tmp_path / "w.duckdb"
    con.execute(f"ATTACH '{warehouse}' AS w")
    con.execute("COPY FROM DATABASE memory TO w")
    con.execute("DETACH w")
    assert main(["explain", "P1", "--warehouse", str(warehouse)]) == 0
    assert "Patient P1: trs" in capsys.readouterr().out
    assert main(["explain", "P1", "--warehouse", str(tmp_path / "none.duckdb")]) == 2
    with duckdb.connect(str(warehouse), read_only=True) as check:
        assert check.execute("SELECT count(*) FROM marts.patient_trs_status").fetchone() == (1,)
