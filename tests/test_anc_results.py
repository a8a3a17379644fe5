"""ANC categories (2015 US REMS table), with and without benign ethnic neutropenia (BEN)."""

from __future__ import annotations

from tests.test_clozapine_helpers import anc, build, d, lab, rx, titrated

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


# A result written with a bound proves only what the bound implies (issue 13): written values,
# their units and the category each proves, for P1 (general population) and P2 (BEN).
BOUNDS = [
    ("<0.5", "10^9/L", "severe", "severe"),  # x < 500
    ("<=499", "/uL", "severe", "severe"),  # x <= 499 < 500
    ("<=500", "/uL", "moderate_or_severe", "moderate_or_severe"),  # 500 itself is moderate
    ("<1000", "/uL", "moderate_or_severe", "moderate_or_severe"),
    ("<=1000", "/uL", "mild_or_worse", "indeterminate"),  # BEN: 1000 is normal
    ("<1.5", "10^9/L", "mild_or_worse", "indeterminate"),
    (">=1000", "/uL", "mild_or_normal", "normal"),
    (">1.5", "10^9/L", "normal", "normal"),
    (">499", "/uL", "indeterminate", "indeterminate"),  # 499.5 would be severe
    (">=500", "/uL", "not_severe", "not_severe"),
]


def test_anc_table_a_bound_proves_only_its_category(tmp_path):
    labs = [
        lab(pid, day, "ANC", value, unit)
        for pid in ("P1", "P2")
        for day, (value, unit, _, _) in enumerate(BOUNDS, start=1)
    ]
    con = build(tmp_path, as_of=30, prescriptions=[*titrated("P1"), *titrated("P2")], labs=labs)
    got = con.execute(
        "SELECT patient_id, treatment_day, anc_category, category_proven, required_action "
        "FROM marts.anc_results ORDER BY patient_id, treatment_day"
    ).fetchall()
    expected = [
        (pid, day, bound[2 if pid == "P1" else 3])
        for pid in ("P1", "P2")
        for day, bound in enumerate(BOUNDS, start=1)
    ]
    assert [(p, day, c) for p, day, c, _, _ in got] == expected
    actions = {(p, day): (proven, action) for p, day, _, proven, action in got}
    assert actions[("P1", 1)] == (True, "discontinue clozapine; no rechallenge")
    assert actions[("P1", 3)][0] is False
    assert actions[("P1", 3)][1].startswith(
        "interrupt clozapine; repeat ANC at once (below 1000/uL"
    )
    assert actions[("P2", 3)][1].startswith(
        "repeat ANC at once (below 1000/uL, severe not excluded)"
    )
    assert actions[("P1", 9)][1].startswith("repeat ANC with a measured value")


def test_one_qualifier_rule_for_ae_neu_saf_rec_and_saf_anc_action(tmp_path):
    # "<0.5 x10^9/L" on day 20 proves severe neutropenia; "<=500 /uL" on day 10 does not.
    # Clozapine continues to day 40, stops, and restarts on day 100 (a rechallenge).
    prescriptions = [*titrated("P1", until=40), rx("P1", 100, None, 100)]
    labs = [lab("P1", 10, "ANC", "<=500", "/uL"), lab("P1", 20, "ANC", "<0.5", "10^9/L")]
    con = build(tmp_path, as_of=120, prescriptions=prescriptions, labs=labs)
    ae = con.execute(
        "SELECT evidence_date, detail FROM intermediate.ae_evidence WHERE event_id = 'AE-NEU'"
    ).fetchall()
    assert ae == [(d(20), "ANC <500/uL")]
    flags = con.execute(
        "SELECT flag_id, flag_date FROM marts.safety_flags ORDER BY flag_date, flag_id"
    ).fetchall()
    # Both results required at least an interruption (SAF-ANC-ACTION); only the proven severe one
    # makes the restart a rechallenge (SAF-REC).
    assert flags == [
        ("SAF-ANC-ACTION", d(10)),
        ("SAF-ANC-ACTION", d(20)),
        ("SAF-REC", d(100)),
    ]
