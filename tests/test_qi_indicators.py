"""Quality-improvement indicators (issue 18): hand-built patients at each numerator's and
denominator's boundary, named by indicator id. Day offsets are from DAY0 = 2024-01-01 (day 0 =
the first clozapine dose unless a case says otherwise)."""

from __future__ import annotations

import pytest

from tests.qi_cases import (
    assessment,
    build_cohort,
    clozapine,
    d,
    dispensing,
    dx,
    lab,
    rows_of,
    rx,
    unit,
)

# --------------------------------------------------------------------------- QI-LAX

LAX_IDS = ["L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8"]


@pytest.fixture(scope="module")
def lax(tmp_path_factory):
    prescriptions = [
        *clozapine("L1"),
        rx("L1", 28, None, 15, "senna"),  # first taken on day 28: counts
        *clozapine("L2"),
        rx("L2", 29, None, 15, "senna"),  # day 29: too late
        *clozapine("L3"),
        rx("L3", -30, 0, 200, "docusate"),  # started before, still taken on day 0
        *clozapine("L4"),
        rx("L4", -30, -1, 200, "docusate"),  # stopped the day before day 0
        *clozapine("L5"),
        *clozapine("L6"),
        rx("L6", 0, None, 15, "senna"),
        *clozapine("L7", start=173),  # day 28 would be day 201 > as-of 200
        *clozapine("L8", start=172),  # day 28 is the as-of date: judged
    ]
    return build_cohort(
        tmp_path_factory.mktemp("qi_lax"),
        ids=LAX_IDS,
        as_of=200,
        prescriptions=prescriptions,
        dispensings=[dispensing("L5", 5, 30, "lactulose")],  # a dispensing counts too
        diagnoses=[dx("L6", -300, "F20.0")],  # 300 days of history: possible prevalent user
    )


@pytest.mark.parametrize(
    ("pid", "in_numerator", "value", "stratum"),
    [
        ("L1", True, 28, "stimulant"),
        ("L2", False, None, None),
        ("L3", True, 0, "stool softener"),
        ("L4", False, None, None),
        ("L5", True, 5, "osmotic"),
        ("L8", False, None, None),
    ],
)
def test_qi_lax_day_28_counts_day_29_does_not(lax, pid, in_numerator, value, stratum):
    row = unit(lax, "QI-LAX", pid)
    assert row["in_denominator"] and row["exclusion"] is None
    assert row["in_numerator"] is in_numerator
    assert row["value"] == value
    for kind in ("stool softener", "osmotic", "stimulant"):
        assert unit(lax, "QI-LAX", pid, kind)["in_numerator"] is (kind == stratum)


def test_qi_lax_evidence_names_the_laxative_and_its_day(lax):
    assert unit(lax, "QI-LAX", "L1")["evidence"] == (
        "first clozapine dose 2024-01-01; senna (stimulant) on day 28 (2024-01-29)"
    )
    assert unit(lax, "QI-LAX", "L2")["evidence"] == (
        "first clozapine dose 2024-01-01; no stool softener, osmotic or stimulant laxative on "
        "days 0-28"
    )


def test_qi_lax_exclusions_prevalent_user_and_window_after_the_as_of_date(lax):
    prevalent = unit(lax, "QI-LAX", "L6")
    assert not prevalent["in_denominator"] and not prevalent["in_numerator"]
    assert prevalent["exclusion"] == (
        "possible prevalent user: 300 days of history before the first clozapine dose "
        "(fewer than 365)"
    )
    late = unit(lax, "QI-LAX", "L7")
    assert late["exclusion"] == "fewer than 28 days from the first dose to the as-of date"
    assert late["index_date"] == d(173)


def test_qi_lax_mart_counts_sites_and_months(lax):
    overall = rows_of(
        lax,
        "SELECT numerator, denominator, excluded, rate FROM marts.qi_indicators "
        "WHERE indicator_id = 'QI-LAX' AND stratum = 'all' AND all_sites AND all_months",
    )
    assert overall == [{"numerator": 3, "denominator": 6, "excluded": 2, "rate": 0.5}]
    # north: L1, L3, L5, L7 (excluded); south: L2, L4, L6 (excluded), L8
    by_site = rows_of(
        lax,
        "SELECT site, numerator, denominator FROM marts.qi_indicators WHERE indicator_id = "
        "'QI-LAX' AND stratum = 'all' AND NOT all_sites AND all_months ORDER BY site",
    )
    assert by_site == [
        {"site": "north", "numerator": 3, "denominator": 3},
        {"site": "south", "numerator": 0, "denominator": 3},
    ]
    by_month = rows_of(
        lax,
        "SELECT month, numerator, denominator FROM marts.qi_indicators WHERE indicator_id = "
        "'QI-LAX' AND stratum = 'all' AND all_sites AND NOT all_months ORDER BY month",
    )
    assert [(r["month"], r["denominator"]) for r in by_month] == [(d(0), 5), (d(152), 1)]


# --------------------------------------------------------------------------- QI-RETITRATE


@pytest.fixture(scope="module")
def retitrate(tmp_path_factory):
    def stopped_then_restarted(pid: str, restart_day: int, dose: float) -> list[str]:
        return [*clozapine(pid, until=40), rx(pid, restart_day, None, dose)]

    prescriptions = [
        *stopped_then_restarted("R1", 43, 300),  # days 41-42 off: 2 days = 48 hours
        *stopped_then_restarted("R2", 44, 300),  # days 41-43 off: 3 days, more than 48 hours
        *stopped_then_restarted("R3", 44, 25),  # re-titrated from 25 mg/day
        *stopped_then_restarted("R4", 44, 26),  # above the titration start
    ]
    return build_cohort(
        tmp_path_factory.mktemp("qi_retitrate"),
        ids=["R1", "R2", "R3", "R4"],
        as_of=120,
        prescriptions=prescriptions,
    )


def test_qi_retitrate_48_hours_off_is_no_restart_more_than_48_is(retitrate):
    assert unit(retitrate, "QI-RETITRATE", "R1") is None
    row = unit(retitrate, "QI-RETITRATE", "R2")
    assert row["index_date"] == d(44) and row["in_denominator"] and row["in_numerator"]
    assert row["evidence"] == (
        "restarted 2024-02-14 after 3 days without clozapine (more than 2) at 300 mg/day "
        "(above the titration start, at most 25)"
    )


@pytest.mark.parametrize(("pid", "above"), [("R3", False), ("R4", True)])
def test_qi_retitrate_restart_dose_25_is_a_titration_start_26_is_not(retitrate, pid, above):
    row = unit(retitrate, "QI-RETITRATE", pid)
    assert row["in_denominator"] and row["in_numerator"] is above
    assert row["value"] == (26 if above else 25)


def test_qi_retitrate_gap_threshold_from_config(tmp_path):
    con = build_cohort(
        tmp_path,
        ids=["R1"],
        as_of=120,
        prescriptions=[*clozapine("R1", until=40), rx("R1", 43, None, 300)],
        config={"qi": {"retitration_gap_days": 1}},
    )
    assert unit(con, "QI-RETITRATE", "R1")["in_numerator"] is True


# --------------------------------------------------------------------------- QI-SEIZ


@pytest.fixture(scope="module")
def seiz(tmp_path_factory):
    prescriptions = [
        *clozapine("S1", 600),  # 600 mg/day is not above 600
        *clozapine("S2", 601),  # above, no anticonvulsant
        *clozapine("S3", 650),
        rx("S3", 50, None, 1000, "sodium valproate"),
        *clozapine("S4", 700, until=60),
        rx("S4", 61, None, 400),
        rx("S4", 61, None, 200, "lamotrigine"),  # only once back at 400 mg/day
        *clozapine("S5", 700),
        rx("S5", 20, 30, 1000, "levetiracetam"),  # overlaps the first high-dose day (14)
    ]
    return build_cohort(
        tmp_path_factory.mktemp("qi_seiz"),
        ids=["S1", "S2", "S3", "S4", "S5"],
        as_of=120,
        prescriptions=prescriptions,
    )


def test_qi_seiz_600_mg_is_not_above_601_is(seiz):
    assert unit(seiz, "QI-SEIZ", "S1") is None
    row = unit(seiz, "QI-SEIZ", "S2")
    assert row["in_denominator"] and not row["in_numerator"]
    assert row["index_date"] == d(14) and row["value"] == 601
    assert row["evidence"].endswith("no anticonvulsant on those days")


@pytest.mark.parametrize(
    ("pid", "covered", "stratum"),
    [("S3", True, "valproate"), ("S4", False, None), ("S5", True, "other anticonvulsant")],
)
def test_qi_seiz_anticonvulsant_on_a_day_above_the_dose(seiz, pid, covered, stratum):
    assert unit(seiz, "QI-SEIZ", pid)["in_numerator"] is covered
    for kind in ("valproate", "lamotrigine", "other anticonvulsant"):
        assert unit(seiz, "QI-SEIZ", pid, kind)["in_numerator"] is (kind == stratum)


def test_qi_seiz_mart(seiz):
    assert rows_of(
        seiz,
        "SELECT stratum, numerator, denominator FROM marts.qi_indicators WHERE indicator_id = "
        "'QI-SEIZ' AND all_sites AND all_months ORDER BY stratum",
    ) == [
        {"stratum": "all", "numerator": 2, "denominator": 4},
        {"stratum": "lamotrigine", "numerator": 0, "denominator": 4},
        {"stratum": "other anticonvulsant", "numerator": 1, "denominator": 4},
        {"stratum": "valproate", "numerator": 1, "denominator": 4},
    ]


# --------------------------------------------------------------------------- QI-TRS-NOCLZ, QI-TRS-DELAY


def trs_history(pid: str, offset: int = 0) -> dict[str, list[str]]:
    """Two adequate failed trials (olanzapine 25 mg/day for 91 days, risperidone 8 mg/day for 92
    days, both dispensed) and persistent PANSS after each: TRS on day offset + 214."""
    o = offset
    return {
        "prescriptions": [
            rx(pid, o, o + 90, 25, "olanzapine"),
            rx(pid, o + 120, o + 211, 8, "risperidone"),
        ],
        "dispensings": [
            dispensing(pid, o, 91, "olanzapine"),
            dispensing(pid, o + 120, 92, "risperidone"),
        ],
        "assessments": [assessment(pid, o + 95, 85), assessment(pid, o + 214, 90)],
    }


TRS_CASES = {  # patient: (history offset, clozapine start day or None)
    "T1": (310, None),  # TRS on day 524, exactly 90 days before the as-of date 614
    "T2": (311, None),  # TRS on day 525, 89 days before: too early to judge
    "T3": (0, 244),  # clozapine 30 days after TRS
    "T4": (0, 214 + 366),  # 366 days: a long delay
    "T5": (0, 214 + 365),  # 365 days: not more than 365
    "T6": (0, None),  # died 50 days after TRS
    "T7": (0, 214 + 90),  # 90 days: the first band
    "T8": (0, 214 + 91),  # 91 days: the second band
}


@pytest.fixture(scope="module")
def trs(tmp_path_factory):
    extracts: dict[str, list[str]] = {"prescriptions": [], "dispensings": [], "assessments": []}
    for pid, (offset, start) in TRS_CASES.items():
        for name, lines in trs_history(pid, offset).items():
            extracts[name] += lines
        if start is not None:
            extracts["prescriptions"] += clozapine(pid, start=start)
    return build_cohort(
        tmp_path_factory.mktemp("qi_trs"),
        ids=list(TRS_CASES),
        as_of=614,
        deaths={"T6": 264},
        **extracts,
    )


def test_the_trs_cases_are_trs_on_the_day_of_the_second_failure(trs):
    found = rows_of(trs, "SELECT patient_id, trs_status, trs_date FROM marts.patient_trs_status")
    assert {r["patient_id"]: (r["trs_status"], r["trs_date"]) for r in found} == {
        pid: ("trs", d(offset + 214)) for pid, (offset, _) in TRS_CASES.items()
    }


def test_qi_trs_noclz_follow_up_of_90_days_and_death(trs):
    never = unit(trs, "QI-TRS-NOCLZ", "T1")
    assert never["in_denominator"] and never["in_numerator"] and never["value"] == 90
    assert never["evidence"] == (
        "TRS from 2025-06-08; no clozapine prescription or dispensing up to the as-of date "
        "(90 days later)"
    )
    assert unit(trs, "QI-TRS-NOCLZ", "T2")["exclusion"] == (
        "TRS documented fewer than 90 days before the as-of date"
    )
    assert unit(trs, "QI-TRS-NOCLZ", "T6")["exclusion"] == "died within 90 days of the TRS date"
    started = unit(trs, "QI-TRS-NOCLZ", "T3")
    assert started["in_denominator"] and not started["in_numerator"]
    assert rows_of(
        trs,
        "SELECT numerator, denominator, excluded FROM marts.qi_indicators WHERE indicator_id = "
        "'QI-TRS-NOCLZ' AND all_sites AND all_months",
    ) == [{"numerator": 1, "denominator": 6, "excluded": 2}]


@pytest.mark.parametrize(
    ("pid", "delay", "long", "band"),
    [
        ("T3", 30, False, "0-90 days"),
        ("T7", 90, False, "0-90 days"),
        ("T8", 91, False, "91-365 days"),
        ("T5", 365, False, "91-365 days"),
        ("T4", 366, True, "366-730 days"),
    ],
)
def test_qi_trs_delay_365_is_not_a_long_delay_366_is(trs, pid, delay, long, band):
    row = unit(trs, "QI-TRS-DELAY", pid)
    assert row["in_denominator"] and row["value"] == delay and row["in_numerator"] is long
    assert row["index_date"] == d(214 + delay)
    for stratum in ("0-90 days", "91-365 days", "366-730 days", "over 730 days"):
        assert unit(trs, "QI-TRS-DELAY", pid, stratum)["in_numerator"] is (stratum == band)


def test_qi_trs_delay_median_and_exclusions(trs):
    assert unit(trs, "QI-TRS-DELAY", "T1")["exclusion"] == (
        "no clozapine up to the as-of date (counted by QI-TRS-NOCLZ)"
    )
    overall = rows_of(
        trs,
        "SELECT numerator, denominator, excluded, n_values, value_median, value_q1, value_q3 "
        "FROM marts.qi_indicators WHERE indicator_id = 'QI-TRS-DELAY' AND stratum = 'all' "
        "AND all_sites AND all_months",
    )
    # delays 30, 90, 91, 365, 366: median 91, quartiles (linear) 90 and 365
    assert overall == [
        {
            "numerator": 1,
            "denominator": 5,
            "excluded": 3,
            "n_values": 5,
            "value_median": 91.0,
            "value_q1": 90.0,
            "value_q3": 365.0,
        }
    ]


# --------------------------------------------------------------------------- QI-AUG, QI-LEVEL


def resistant(pid: str) -> tuple[list[str], list[str], list[str]]:
    """(prescriptions, labs, assessments): clozapine 350 mg/day, levels 400 and 420 ng/mL on
    days 30 and 37 (CLZ-3 basis day 37, adequate trial day 127), PANSS 90 on day 125 (before the
    adequate trial: does not count) and 85 on day 130: called resistant on day 130."""
    return (
        clozapine(pid),
        [lab(pid, 30, "Clozapine", 400, "ng/mL"), lab(pid, 37, "Clozapine", 420, "ng/mL")],
        [assessment(pid, 125, 90), assessment(pid, 130, 85)],
    )


@pytest.fixture(scope="module")
def aug(tmp_path_factory):
    prescriptions: list[str] = []
    labs: list[str] = []
    assessments: list[str] = []
    for pid in ("A1", "A2", "A3", "A4", "A5", "A6"):
        p, lb, a = resistant(pid)
        prescriptions += p
        labs += lb
        assessments += a
    prescriptions += [
        rx("A1", 130, None, 10, "aripiprazole"),
        rx("A2", 100, None, 400, "amisulpride"),  # already running when called resistant
        rx("A3", 200, None, 50, "sertraline"),
        rx("A4", 140, None, 1000, "valproate"),
        rx("A6", 50, 100, 10, "haloperidol"),  # stopped before resistance: no augmentation
        *clozapine("A7", 500),  # no level at all: CLZ-4 basis day 14, adequate day 104
        *clozapine("A8"),
        *clozapine("N1"),
        *clozapine("N2"),
        *clozapine("N3"),
    ]
    p, lb, _ = resistant("A8")
    labs += lb
    labs += [
        lab("N1", 90, "Clozapine", 200, "ng/mL"),  # a level on the day non-response is seen
        lab("N2", 91, "Clozapine", 200, "ng/mL"),  # the day after
        lab("N3", 60, "Clozapine", 200, "ng/mL"),
    ]
    assessments += [
        assessment("A7", 110, 80),
        assessment("A8", 130, 60),  # not persistent
        assessment("A8", 160, 75),  # persistent: called resistant now
        assessment("N1", 90, 85),  # 90 days into the course: non-responding
        assessment("N2", 90, 85),
        assessment("N3", 89, 85),  # 89 days: too early
    ]
    return build_cohort(
        tmp_path_factory.mktemp("qi_aug"),
        ids=["A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "N1", "N2", "N3"],
        as_of=300,
        prescriptions=prescriptions,
        labs=labs,
        assessments=assessments,
        diagnoses=[dx("A5", -400, "F20.0"), dx("A5", 150, "ECT01", "LOCAL")],
        concepts={"diagnoses": {"ECT01": "ect"}},
    )


def test_the_aug_cases_are_resistant_on_the_expected_day(aug):
    found = {
        r["patient_id"]: (r["resistance_kind"], r["index_date"])
        for r in rows_of(aug, "SELECT * FROM intermediate.qi_resistance")
    }
    expected = {pid: ("clozapine_resistant", d(130)) for pid in ("A1", "A2", "A3", "A4", "A5")}
    expected |= {"A6": ("clozapine_resistant", d(130)), "A7": ("clozapine_resistant", d(110))}
    expected |= {"A8": ("clozapine_resistant", d(160))}
    expected |= {"N1": ("non_responding", d(90)), "N2": ("non_responding", d(90))}
    assert found == expected


@pytest.mark.parametrize(
    ("pid", "kind", "days"),
    [
        ("A1", "aripiprazole", 0),
        ("A2", "amisulpride", 0),
        ("A3", "antidepressant", 70),
        ("A4", "valproate or lamotrigine", 10),
        ("A5", "ECT", 20),
        ("A6", None, None),
    ],
)
def test_qi_aug_kind_and_days_from_resistance(aug, pid, kind, days):
    row = unit(aug, "QI-AUG", pid)
    assert row["in_denominator"] and row["in_numerator"] is (kind is not None)
    assert row["value"] == days
    kinds = [
        "aripiprazole",
        "amisulpride",
        "other antipsychotic",
        "valproate or lamotrigine",
        "antidepressant",
        "ECT",
    ]
    for stratum in kinds:
        assert unit(aug, "QI-AUG", pid, stratum)["in_numerator"] is (stratum == kind)


def test_qi_aug_ect_is_recognised_only_through_the_site_vocabulary(aug):
    staged = rows_of(
        aug, "SELECT code, mapped_by FROM staging.diagnoses WHERE source_code = 'ECT01'"
    )
    assert staged == [{"code": None, "mapped_by": "site_vocabulary"}]
    assert unit(aug, "QI-AUG", "A5", "ECT")["evidence"] == (
        "clozapine-resistant from 2024-05-10 (PANSS 85 on 2024-05-10); ECT (code ECT01) with "
        "clozapine from 2024-05-30, 20 days after"
    )
    unmapped = aug.execute("SELECT count(*) FROM staging.diagnoses WHERE mapped_by IS NULL")
    assert unmapped.fetchone() == (0,)


@pytest.mark.parametrize(
    ("pid", "stratum", "has_level"),
    [
        ("A1", "clozapine_resistant", True),  # levels on days 30 and 37, resistant on day 130
        ("A7", "clozapine_resistant", False),  # CLZ-4 dose basis: no level
        ("N1", "non_responding", True),  # level on the day non-response is seen
        ("N2", "non_responding", False),  # level the day after
    ],
)
def test_qi_level_a_level_on_the_day_counts_the_day_after_not(aug, pid, stratum, has_level):
    row = unit(aug, "QI-LEVEL", pid)
    assert row["in_denominator"] and row["in_numerator"] is has_level
    assert unit(aug, "QI-LEVEL", pid, stratum)["in_numerator"] is has_level
    other = "non_responding" if stratum == "clozapine_resistant" else "clozapine_resistant"
    assert unit(aug, "QI-LEVEL", pid, other) is None
    assert unit(aug, "QI-LEVEL", "N3") is None  # a persistent PANSS 89 days in: not yet


def test_qi_level_evidence(aug):
    assert unit(aug, "QI-LEVEL", "A7")["evidence"] == (
        "clozapine resistant from 2024-04-20 (PANSS 80 on 2024-04-20); no clozapine level in "
        "the course since 2024-01-01 (basis: dose_500)"
    )


# --------------------------------------------------------------------------- QI-MET-ACT

MET_IDS = ["M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9", "M10"]


@pytest.fixture(scope="module")
def met(tmp_path_factory):
    prescriptions = [line for pid in MET_IDS for line in clozapine(pid)]
    prescriptions += [
        rx("M1", 120, None, 1000, "metformin"),  # day 90 after the result
        rx("M2", 121, None, 1000, "metformin"),  # day 91
        rx("M10", -100, None, 20, "atorvastatin"),  # already taken: counts from the result day
    ]
    labs = [
        lab("M1", 30, "HbA1c", 48, "mmol/mol"),
        lab("M2", 30, "HbA1c", 48, "mmol/mol"),
        lab("M3", 30, "HbA1c", 47, "mmol/mol"),  # below 48: not abnormal
        lab("M4", 30, "LDL cholesterol", 190, "mg/dL"),
        lab("M4", 30, "Total cholesterol", 200, "mg/dL"),  # the same day is no repeat
        lab("M4", 60, "LDL cholesterol", 150, "mg/dL"),  # a repeat 30 days later
        lab("M5", -10, "Weight", 100, "kg"),
        lab("M5", 60, "Weight", 107, "kg"),  # +7 %: not more than 7 %
        lab("M6", -10, "Weight", 100, "kg"),
        lab("M6", 60, "Weight", 107.1, "kg"),  # +7.1 %
        lab("M7", 250, "HbA1c", 60, "mmol/mol"),  # day 90 after it is after the as-of date
        lab("M8", 30, "HbA1c", ">50", "mmol/mol"),  # proves >= 48
        lab("M9", 30, "HbA1c", "<60", "mmol/mol"),  # proves nothing about 48
        lab("M10", 30, "Triglycerides", 500, "mg/dL"),
    ]
    return build_cohort(
        tmp_path_factory.mktemp("qi_met"),
        ids=MET_IDS,
        as_of=300,
        prescriptions=prescriptions,
        labs=labs,
        diagnoses=[dx("M8", -400, "F20.0"), dx("M8", 40, "E11.9")],
    )


@pytest.mark.parametrize(
    ("pid", "kind", "acted", "days"),
    [
        ("M1", "HbA1c", True, 90),
        ("M2", "HbA1c", False, None),
        ("M4", "lipids", True, 30),
        ("M6", "weight gain", False, None),
        ("M8", "HbA1c", True, 10),
        ("M10", "lipids", True, 0),
    ],
)
def test_qi_met_act_day_90_counts_day_91_does_not(met, pid, kind, acted, days):
    row = unit(met, "QI-MET-ACT", pid)
    assert row["in_denominator"] and row["in_numerator"] is acted and row["value"] == days
    assert row["index_date"] == d(30 if pid != "M6" else 60)
    assert unit(met, "QI-MET-ACT", pid, kind)["in_numerator"] is acted


@pytest.mark.parametrize("pid", ["M3", "M5", "M9"])
def test_qi_met_act_results_that_are_not_abnormal(met, pid):
    assert unit(met, "QI-MET-ACT", pid) is None


def test_qi_met_act_evidence_and_exclusion(met):
    assert unit(met, "QI-MET-ACT", "M4")["evidence"] == (
        "LDL cholesterol 190 mg/dL (at least 190) on 2024-01-31; repeat ldl on 2024-03-01 (day 30)"
    )
    assert unit(met, "QI-MET-ACT", "M6")["evidence"] == (
        "weight 107.1 kg (+7.1 % over the baseline 100 kg of 2023-12-22, more than 7 %) on "
        "2024-03-01; no action by day 90"
    )
    assert unit(met, "QI-MET-ACT", "M8")["evidence"].endswith(
        "diagnosis E119 on 2024-02-10 (day 10)"
    )
    late = unit(met, "QI-MET-ACT", "M7")
    assert not late["in_denominator"]
    assert late["exclusion"] == "fewer than 90 days from the result to the as-of date"


# --------------------------------------------------------------------------- QI-POLY, QI-HDAT

CENSUS = d(181)  # 2024-06-30, the as-of date and the last day of June


@pytest.fixture(scope="module")
def census(tmp_path_factory):
    prescriptions = [
        rx("Y1", 0, None, 10, "olanzapine"),
        rx("Y1", 92, None, 5, "haloperidol"),  # 90 days together on the census day
        rx("Y2", 0, None, 10, "olanzapine"),
        rx("Y2", 91, None, 5, "haloperidol"),  # 91 days
        *clozapine("Y3"),
        rx("Y3", 30, None, 400, "amisulpride"),  # clozapine augmentation
        rx("Y4", 0, None, 10, "olanzapine"),
        rx("H1", 0, None, 20, "olanzapine"),  # 100 %
        rx("H2", 0, None, 10, "olanzapine"),
        rx("H2", 0, None, 11, "haloperidol"),  # 50 % + 55 % = 105 %
        rx(
            "H3", 0, None, None, "haloperidol decanoate", route="lai", dose_mg=300, interval_days=28
        ),
        *clozapine("H4", 900),  # 100 %
        *clozapine("H5", 600),
        rx("H5", 0, None, 15, "aripiprazole"),  # 66.7 % + 50 %
        rx("H6", 0, None, 10, "fluphenazine"),  # no BNF maximum in the reference
        rx("H7", 0, None, 10, "fluphenazine"),
        rx("H7", 0, None, 25, "olanzapine"),  # 125 % already
        rx("H8", 0, 181, 20, "olanzapine"),
        rx("H8", 181, None, 20, "olanzapine"),  # a renewal overlapping on the census day
    ]
    ids = ["Y1", "Y2", "Y3", "Y4", "H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8"]
    return build_cohort(
        tmp_path_factory.mktemp("qi_census"), ids=ids, as_of=181, prescriptions=prescriptions
    )


def test_qi_census_days_are_the_last_days_of_the_latest_12_months(census):
    found = census.execute("SELECT census_day FROM intermediate.qi_census_days ORDER BY 1")
    days = [r[0] for r in found.fetchall()]
    assert len(days) == 12 and days[-1] == CENSUS and str(days[0]) == "2023-07-31"


@pytest.mark.parametrize(
    ("pid", "in_denominator", "in_numerator", "days"),
    [
        ("Y1", True, False, 90),
        ("Y2", True, True, 91),
        ("Y3", False, False, None),
        ("Y4", True, False, None),
    ],
)
def test_qi_poly_90_days_is_not_more_than_90_91_is(census, pid, in_denominator, in_numerator, days):
    row = unit(census, "QI-POLY", pid, index_date=CENSUS)
    assert row["in_denominator"] is in_denominator and row["in_numerator"] is in_numerator
    assert row["value"] == days
    if pid == "Y3":
        assert row["exclusion"] == "clozapine augmentation (amisulpride + clozapine)"


@pytest.mark.parametrize(
    ("pid", "in_numerator", "total"),
    [
        ("H1", False, 100),
        ("H2", True, 105),
        ("H3", False, 100),
        ("H4", False, 100),
        ("H5", True, 116.666667),
        ("H7", True, 125),
        ("H8", False, 100),
    ],
)
def test_qi_hdat_100_percent_is_not_high_dose(census, pid, in_numerator, total):
    row = unit(census, "QI-HDAT", pid, index_date=CENSUS)
    assert row["in_denominator"] and row["in_numerator"] is in_numerator
    assert row["value"] == pytest.approx(total, abs=1e-6)


def test_qi_hdat_unknown_maximum_and_evidence(census):
    unknown = unit(census, "QI-HDAT", "H6", index_date=CENSUS)
    assert not unknown["in_denominator"]
    assert unknown["exclusion"] == "total not known: fluphenazine (no BNF maximum in the reference)"
    assert unit(census, "QI-HDAT", "H7", index_date=CENSUS)["evidence"] == (
        "census 2024-06-30: fluphenazine 10 mg/day + olanzapine 25 mg/day = 125 %; total at "
        "least 125 % of the BNF maximum"
    )
    assert unit(census, "QI-HDAT", "H3", index_date=CENSUS)["evidence"] == (
        "census 2024-06-30: haloperidol (long-acting) 10.7 mg/day = 100 %; total 100 % of the "
        "BNF maximum"
    )
