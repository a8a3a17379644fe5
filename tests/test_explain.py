"""`trscohort explain` and its Python form tell an analyst why a status came out as it did."""

from __future__ import annotations

import duckdb
import pytest

from tests.trs_cases import BASE_ASSESSMENTS, build
from trscohort.cli import main
from trscohort.errors import UsageError
from trscohort.explain import explain_patient


def test_explanation_walks_through_every_criterion(tmp_path):
    con = build(tmp_path)
    explanation = explain_patient(con, "P1")
    assert [t["generic_name"] for t in explanation.trials] == ["olanzapine", "risperidone"]
    text = explanation.to_text()
    assert text.startswith("Patient P1: trs (as of 2020-12-31)")
    assert (
        "2020-01-01 to 2020-03-31  olanzapine (oral), 91 days, mean 25 mg/day = 750.8 mg CPZ-eq, "
        "adherence 100% (dispensings): ADEQUATE, failed (PANSS 85 on 2020-04-05)" in text
    )
    assert "TRS-1 schizophrenia diagnosis: met  [F200 (schizophrenia, 2019-01-01)]" in text
    assert "TRS-7 persistent symptoms: met (PANSS 90 on 2020-08-03" in text
    assert "TRS-8 functional impairment: not recorded (not required)" in text
    assert "Status: trs since 2020-08-03" in text


def test_explanation_names_what_failed(tmp_path):
    con = build(tmp_path, assessments=[*BASE_ASSESSMENTS, ("P1", "2020-10-01", "PANSS", 50)])
    text = explain_patient(con, "P1").to_text()
    assert "TRS-7 persistent symptoms: NOT met (PANSS 50 on 2020-10-01" in text
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
