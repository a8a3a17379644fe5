"""ANC categories (2015 US REMS table), with and without benign ethnic neutropenia (BEN)."""

from __future__ import annotations

from tests.test_clozapine_helpers import anc, build, titrated

# P1 general population, P2 BEN (see PATIENTS); the same six values for both, on days 1..6.
VALUES = [499, 500, 999, 1000, 1499, 1500]
GENERAL = ["severe", "moderate", "moderate", "mild", "mild", "normal"]
BEN = ["severe", "moderate", "moderate", "normal", "normal", "normal"]


def test_anc_boundaries_with_and_without_ben(tmp_path):
    labs = [anc(pid, day, v) for pid in ("P1", "P2") for day, v in enumerate(VALUES, start=1)]
    con = build(tmp_path, as_of=30, prescriptions=[*titrated("P1"), *titrated("P2")], labs=labs)
    got = con.execute(
        "SELECT patient_id, anc_per_ul, anc_category, benign_ethnic_neutropenia "
        "FROM marts.anc_results ORDER BY patient_id, collected_date"
    ).fetchall()
    assert got == [("P1", float(v), c, False) for v, c in zip(VALUES, GENERAL, strict=True)] + [
        ("P2", float(v), c, True) for v, c in zip(VALUES, BEN, strict=True)
    ]
    actions = dict(
        con.execute(
            "SELECT patient_id || ' ' || CAST(anc_per_ul AS INTEGER), required_action "
            "FROM marts.anc_results"
        ).fetchall()
    )
    assert actions["P1 1500"] == "continue"
    assert actions["P1 1000"].startswith("continue; ANC three times a week")
    assert actions["P1 999"].startswith("interrupt clozapine")
    assert actions["P2 999"].startswith("continue; ANC three times a week")  # BEN: continue
    assert actions["P1 499"] == actions["P2 499"] == "discontinue clozapine; no rechallenge"


def test_treatment_week_and_who_is_included(tmp_path):
    labs = [anc("P1", day, 2000) for day in (-3, 0, 6, 7, 13, 14)] + [anc("P3", 5, 2000)]
    con = build(tmp_path, as_of=30, prescriptions=titrated("P1"), labs=labs)
    assert con.execute(
        "SELECT treatment_day, treatment_week, on_clozapine FROM marts.anc_results "
        "ORDER BY collected_date"
    ).fetchall() == [
        (-3, 0, False),
        (0, 1, True),
        (6, 1, True),
        (7, 2, True),
        (13, 2, True),
        (14, 3, True),
    ]  # P3 has never had clozapine: not listed
