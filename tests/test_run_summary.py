"""Issue 21: the run summary speaks plain English and its check counts agree.

A hand-built extract whose prescription_id repeats fails one warning check
(prescriptions.yml, prescription_id_unique); the run still succeeds.
"""

from __future__ import annotations

import re

import duckdb

from tests.conftest import BASE_EXTRACTS, write_extracts
from trscohort.cli import main

REPEATED_ID = {
    **BASE_EXTRACTS,
    "prescriptions": """
        patient_id,drug,start_date,end_date,daily_dose_mg,route,prescription_id
        P1,olanzapine,2020-01-01,2020-03-01,20,oral,RX1
        P1,olanzapine,2020-04-01,2020-06-01,20,oral,RX1
    """,
}
PROGRESS = re.compile(
    r"^  ([✓✗]) checks (\S+) \((\w+)\): (\d+) of (\d+) passed, (\d+) expectations"
)


def _run(folder, warehouse, capsys) -> str:
    capsys.readouterr()
    code = main(
        [
            "run",
            "--input",
            str(folder / "in"),
            "--warehouse",
            str(warehouse),
            "--out",
            str(folder / "out"),
        ]
    )
    assert code == 0
    return capsys.readouterr().out


def test_summary_lines(tmp_path, capsys):
    write_extracts(tmp_path / "in", REPEATED_ID)
    warehouse = tmp_path / "w.duckdb"
    out = _run(tmp_path, warehouse, capsys)
    lines = out.splitlines()

    # the failed check's progress line is marked ✗, the others ✓
    progress = [m for m in map(PROGRESS.match, lines) if m]
    marks = {m.group(2): m.group(1) for m in progress if m.group(3) == m.group(2).split(".")[1]}
    assert marks["staging.prescriptions"] == "✗"
    assert marks["staging.labs"] == "✓"
    failed_line = next(x for x in lines if x.startswith("  ✗ checks staging.prescriptions"))
    assert "failed: prescription_id_unique" in failed_line

    # the failure is told with the suite's description, the share of rows, no expectation syntax
    warning = next(x for x in lines if "prescription_id_unique:" in x and "warning" in x)
    assert warning.strip() == (
        "warning  staging.prescriptions prescription_id_unique: prescription_id, where given, "
        "identifies one prescription — 2 of 2 rows (100.0 %); "
        "e.g. prescriptions.csv row 1 'AA9', row 2 'AA9'"  # examples masked (issue 15)
    )
    assert not any("column_values_to" in x or "expect_" in x for x in lines)

    # checks and expectations counted the same way in progress lines, summary and warehouse
    total_line = next(x for x in lines if x.startswith("data-quality checks:"))
    passed, total, expectations = map(
        int,
        re.match(r"data-quality checks: (\d+) of (\d+) passed \(([\d,]+) exp", total_line).groups(),
    )
    assert total == sum(int(m.group(5)) for m in progress)
    assert passed == sum(int(m.group(4)) for m in progress) == total - 1
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = con.execute(
            "SELECT count(*), count(DISTINCT (suite, table_name, check_name)) FROM audit.dq_results"
        ).fetchone()
    assert stored == (expectations, total) == (sum(int(m.group(6)) for m in progress), total)
