"""Safety flags (SAF-*): rechallenge, high dose without anticonvulsant, interactions,
pregnancy/lactation, ANC actions not taken, dispensing without a recent ANC."""

from __future__ import annotations

import functools

from tests import test_clozapine_helpers
from tests.test_clozapine_helpers import anc, d, dispensing, dx, lab, rx, titrated

# The tables these cases read: only they and the models they read are built.
TABLES = (
    "marts.patient_clozapine_status",
    "marts.safety_flags",
)
build = functools.partial(test_clozapine_helpers.build, targets=TABLES)


def flags(con, flag_id=None) -> list[tuple]:
    sql = "SELECT patient_id, flag_id, flag_date, detail FROM marts.safety_flags"
    if flag_id:
        sql += f" WHERE flag_id = '{flag_id}'"
    return con.execute(sql + " ORDER BY patient_id, flag_id, flag_date").fetchall()


def test_rechallenge_after_severe_neutropenia_is_flagged(tmp_path):
    # P1: ANC 400 (severe) on day 50, clozapine stopped day 51, restarted day 100 -> SAF-REC.
    # P3: ANC 600 (moderate) on day 50, same course: interrupting and resuming is allowed.
    prescriptions = [
        *titrated("P1", until=51),
        rx("P1", 100, None, 25),
        *titrated("P3", until=51),
        rx("P3", 100, None, 25),
    ]
    labs = [anc("P1", 50, 400), anc("P3", 50, 600)]
    con = build(tmp_path, as_of=150, prescriptions=prescriptions, labs=labs)
    assert flags(con, "SAF-REC") == [
        (
            "P1",
            "SAF-REC",
            d(100),
            f"clozapine restarted {d(100)} after severe neutropenia (ANC 400/uL) on {d(50)}; "
            "rechallenge is contraindicated",
        )
    ]
    # stopping the day after the result is acting on it (safety.anc_action_days = 2)
    assert flags(con, "SAF-ANC-ACTION") == []


def test_rechallenge_after_myocarditis_diagnosis(tmp_path):
    prescriptions = [*titrated("P1", until=20), rx("P1", 60, None, 25)]
    con = build(tmp_path, as_of=90, prescriptions=prescriptions, diagnoses=[dx("P1", 18, "I40.9")])
    assert [(f[0], f[2]) for f in flags(con, "SAF-REC")] == [("P1", d(60))]
    assert "myocarditis (diagnosis I409)" in flags(con, "SAF-REC")[0][3]


def test_myocarditis_from_troponin_and_crp_in_weeks_1_to_8(tmp_path):
    prescriptions = [*titrated("P1", until=30), rx("P1", 60, None, 25)]
    labs = [
        lab("P1", 20, "Troponin I", 80, "ng/L", "14"),
        lab("P1", 22, "CRP", 120, "mg/L"),
    ]
    con = build(tmp_path, as_of=90, prescriptions=prescriptions, labs=labs)
    (flag,) = flags(con, "SAF-REC")
    assert flag[2] == d(60)
    assert "myocarditis (troponin 80 above its reference 14, CRP 120 mg/L) on 2024-01-21" in flag[3]


def test_dose_above_600_without_anticonvulsant(tmp_path):
    prescriptions = [
        # P1: 650 mg/day from day 30 with valproate throughout: no flag
        *titrated("P1", until=29),
        rx("P1", 30, None, 650),
        rx("P1", 25, None, 1000, drug="sodium valproate"),
        # P2: 650 mg/day from day 30, no anticonvulsant: flag on day 30
        *titrated("P2", until=29),
        rx("P2", 30, None, 650),
        # P3: 600 mg/day is not above 600; then 700 from day 50 with valproate only from day 60
        *titrated("P3", until=29),
        rx("P3", 30, 49, 600),
        rx("P3", 50, None, 700),
        rx("P3", 60, 70, 500, drug="valproate"),
    ]
    con = build(tmp_path, as_of=90, prescriptions=prescriptions)
    got = flags(con, "SAF-DOSE")
    assert [(pid, day) for pid, _, day, _ in got] == [("P2", d(30)), ("P3", d(50))]
    assert got[0][3] == (
        f"clozapine 650 mg/day (more than 600) from {d(30)} without an anticonvulsant "
        f"(valproate preferred) on {d(30)}"
    )


def test_valproate_gap_inside_a_high_dose_period(tmp_path):
    prescriptions = [
        *titrated("P1", until=29),
        rx("P1", 30, None, 650),
        rx("P1", 20, 40, 1000, drug="valproate"),
    ]
    con = build(tmp_path, as_of=90, prescriptions=prescriptions)
    assert [f[2] for f in flags(con, "SAF-DOSE")] == [d(41)]


def test_fluvoxamine_co_prescription(tmp_path):
    prescriptions = [
        *titrated("P1"),
        rx("P1", 40, 60, 100, drug="fluvoxamine"),
        *titrated("P3", until=30),
        rx("P3", 40, 60, 100, drug="fluvoxamine"),  # after clozapine ended: no flag
        *titrated("P2"),
        rx("P2", -30, None, 1, drug="lorazepam"),  # already on it when clozapine starts
    ]
    con = build(tmp_path, as_of=90, prescriptions=prescriptions)
    assert flags(con, "SAF-DDI") == [
        (
            "P1",
            "SAF-DDI",
            d(40),
            f"fluvoxamine (cyp1a2_inhibitor) co-prescribed with clozapine from {d(40)}",
        ),
        (
            "P2",
            "SAF-DDI",
            d(0),
            f"lorazepam (benzodiazepine, cns_depressant) co-prescribed with clozapine from {d(0)}",
        ),
    ]


def test_clozapine_across_a_pregnancy_and_lactation(tmp_path):
    diagnoses = [
        dx("P1", -100, "Z34.0"),  # before clozapine: no flag
        dx("P1", 60, "Z34.0"),
        dx("P1", 120, "O80"),
        dx("P1", 130, "Z39.1"),
    ]
    con = build(tmp_path, as_of=200, prescriptions=titrated("P1"), diagnoses=diagnoses)
    assert flags(con, "SAF-PREG") == [
        (
            "P1",
            "SAF-PREG",
            d(60),
            f"pregnancy diagnosis Z340 on {d(60)} while on clozapine (episode from {d(0)}), "
            "2 such diagnoses",
        )
    ]
    assert [f[2] for f in flags(con, "SAF-LACT")] == [d(130)]


def test_clozapine_continued_through_an_anc_that_requires_action(tmp_path):
    prescriptions = [*titrated("P1"), *titrated("P2"), *titrated("P3", until=41)]
    labs = [
        anc("P1", 40, 800),  # moderate, general population: interrupt -> continued: flag
        anc("P2", 40, 800),  # moderate with BEN: continue is right
        anc("P3", 40, 800),  # stopped the next day: acted on
    ]
    con = build(tmp_path, as_of=90, prescriptions=prescriptions, labs=labs)
    assert flags(con, "SAF-ANC-ACTION") == [
        (
            "P1",
            "SAF-ANC-ACTION",
            d(40),
            f"moderate ANC 800/uL on {d(40)} but clozapine continued to {d(90)} (ongoing); "
            "required: interrupt clozapine; ANC daily until >= 1000/uL, then resume",
        )
    ]


def test_dispensing_needs_a_recent_anc_for_the_phase(tmp_path):
    labs = [anc("P1", -1, 2000), anc("P1", 12, 2000), anc("P1", 200, 2000)]
    dispensings = [
        dispensing("P1", 0, 7),  # ANC the day before: fine
        dispensing("P1", 19, 7),  # weekly phase, last ANC day 12 = 7 days before: fine
        dispensing("P1", 20, 7),  # 8 days: flag
        dispensing("P1", 214, 14),  # every-2-weeks phase (day > 182), ANC 14 days before: fine
        dispensing("P1", 215, 14),  # 15 days: flag
    ]
    con = build(
        tmp_path, as_of=230, prescriptions=titrated("P1"), labs=labs, dispensings=dispensings
    )
    got = flags(con, "SAF-DISPENSE")
    assert [f[2] for f in got] == [d(20), d(215)]
    assert (
        got[0][3]
        == f"clozapine dispensed {d(20)} (treatment day 20) with no ANC in the 7 days before"
    )


def test_clz2_above_the_900_mg_maximum(tmp_path):
    # 900 mg/day from day 30 is the maximum (not above it); 925 from day 60 is.
    prescriptions = [*titrated("P1", until=29), rx("P1", 30, 59, 900), rx("P1", 60, None, 925)]
    con = build(tmp_path, as_of=90, prescriptions=prescriptions)
    assert flags(con, "CLZ-2") == [
        (
            "P1",
            "CLZ-2",
            d(60),
            f"clozapine 925 mg/day from {d(60)} to {d(90)}, above the 900 mg/day maximum (CLZ-2)",
        )
    ]
    status = con.execute(
        "SELECT above_max_dose, reasons FROM marts.patient_clozapine_status WHERE patient_id = 'P1'"
    ).fetchone()
    assert status[0] is True
    assert "CLZ-2: 925 mg/day prescribed, above the 900 mg/day maximum" in status[1]
