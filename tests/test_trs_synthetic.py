"""On synthetic cohorts the TRS status agrees with the generator's ground truth for every patient."""

from __future__ import annotations

import duckdb
import pytest


def confusion(folder, warehouse, truth_column: str, ours: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            f"SELECT CAST(t.{truth_column} AS VARCHAR) AS truth, CAST({ours} AS VARCHAR) AS ours, "
            f"count(*) FROM read_csv(?, all_varchar = true) AS t "
            f"FULL JOIN marts.patient_trs_status AS m USING (patient_id) "
            f"GROUP BY ALL ORDER BY ALL",
            [str(folder / "ground_truth" / "patients.csv")],
        ).fetchall()


def table(title: str, rows: list[tuple]) -> str:
    lines = [title, f"  {'ground truth':<28}{'trscohort':<28}{'patients':>10}"]
    lines += [f"  {t!s:<28}{o!s:<28}{n:>10,}" for t, o, n in rows]
    return "\n".join(lines)


@pytest.mark.parametrize(
    "n", [500, pytest.param(50_000, marks=pytest.mark.slow)], ids=lambda n: f"{n}_patients"
)
def test_trs_status_matches_ground_truth(synthetic_cohort, report, n):
    folder, warehouse = synthetic_cohort(n)
    rows = confusion(folder, warehouse, "trs_status", "m.trs_status")
    report(table(f"TRS status at {n:,} patients (seed 7)", rows))
    assert sum(count for *_, count in rows) == n
    assert [(t, o) for t, o, _ in rows if t != o] == []
    assert {t for t, _, _ in rows} == {
        "trs",
        "pseudo_resistant",
        "not_trs",
        "no_schizophrenia_diagnosis",
    }


@pytest.mark.parametrize(
    "n", [500, pytest.param(50_000, marks=pytest.mark.slow)], ids=lambda n: f"{n}_patients"
)
def test_clozapine_without_documented_trs_matches_ground_truth(synthetic_cohort, n):
    folder, warehouse = synthetic_cohort(n)
    rows = confusion(
        folder,
        warehouse,
        "clozapine_without_trs",
        "lower(CAST(m.clozapine_without_documented_trs AS VARCHAR))",
    )
    assert [(t, o) for t, o, _ in rows if t != o] == []
    assert any(t == "true" for t, _, _ in rows)
