"""Issue 16: the adverse-events and ANC pages' aggregate tables, filtered in the browser.

Hand-built marts whose right numbers are known by hand:

* adverse events (marts.clozapine_person_time): events and days at risk per site, year the
  clozapine course started and stratum, one table per event with every margin; strata labelled
  with their units; a small count embedded as a code with a complement withheld, and nothing
  suppressed can be worked out by a reader who knows every relation (linear program);
* ANC (marts.anc_results): results per month in each category other than normal with the
  action the guideline requires (split by benign ethnic neutropenia where the action differs),
  the month's results as N, small counts suppressed with a complement.

No patient identifier is in either table."""

from __future__ import annotations

import json
import math

import duckdb
import pytest

from tests.security.attacker import (
    code_range,
    disclosed,
    feasible_ranges,
    recovered,
    zeros_read_as_possible,
)
from trscohort.config import load_config
from trscohort.dashboards import adverse_events, anc
from trscohort.dashboards.client import SHOWN_SMALL, SHOWN_WITHHELD, script_json
from trscohort.models import Model, build_model, transform_context

K = 10
DAYS_PER_YEAR = 365.25

# ---------------------------------------------------------------------------- adverse events

PT_COLUMNS = (
    "analysis VARCHAR, event_id VARCHAR, patient_id VARCHAR, segment_start DATE, "
    "start_day INTEGER, time_since_start VARCHAR, dose_band VARCHAR, age_band VARCHAR, "
    "sex VARCHAR, course VARCHAR, exposure VARCHAR, events INTEGER, days INTEGER"
)

# (event, patient, segment start, day of the course, weeks band, dose band, events, days)
AE_ROWS = [
    # north, course started 2020-01-01: GI 30 events in 3,653 days
    ("AE-GI", "PAT-N-0001", "2020-01-01", 0, "weeks 0-4", "<300", 30, 3653),
    # north, course started 2020-12-20: its segment from 2021-01-01 (day 12) still counts in 2020
    ("AE-GI", "PAT-N-0002", "2021-01-01", 12, "weeks 0-4", "<300", 20, 7305),
    # south, course started 2021-03-01 (segment from day 31): 5 events, a small count
    ("AE-GI", "PAT-S-0001", "2021-04-01", 31, "weeks 4-18", "300-600", 5, 1826),
    # a rare event on its own scale: 12 events among 40 person-years in the south
    ("AE-NEU", "PAT-S-0001", "2021-04-01", 31, "weeks 4-18", "300-600", 12, 14610),
    ("AE-NEU", "PAT-N-0001", "2020-01-01", 0, "weeks 0-4", "<300", 0, 3653),
]
AE_SITES = {"PAT-N-0001": "north", "PAT-N-0002": "north", "PAT-S-0001": "south"}


def _ae_warehouse(rows=AE_ROWS, sites=AE_SITES) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging; CREATE SCHEMA marts")
    con.execute("CREATE TABLE staging.patients (patient_id VARCHAR, site VARCHAR)")
    con.executemany("INSERT INTO staging.patients VALUES (?, ?)", list(sites.items()))
    con.execute(f"CREATE TABLE marts.clozapine_person_time ({PT_COLUMNS})")
    con.executemany(
        "INSERT INTO marts.clozapine_person_time VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ("all_episodes", e, p, start, day, weeks, dose, "25-34", "F", "first", "on treatment")
            + (n, d)
            for e, p, start, day, weeks, dose, n, d in rows
        ]
        # first-event rows are another analysis: never added to the all-episodes rates
        + [
            ("first_event", "AE-GI", "PAT-N-0001", "2020-01-01", 0, "weeks 0-4", "<300")
            + ("25-34", "F", "first", "on treatment", 1, 40)
        ],
    )
    return con


def _ae_cells(data: dict) -> dict:
    """{(site, year, event, (stratifier, stratum)): (code, days)} from the page data."""
    out = {}
    for s, y, e, k, code, days in data["cells"]["rows"]:
        site = "*" if s == -1 else data["sites"][s]
        year = "*" if y == -1 else data["years"][y]
        out[(site, year, data["events"][e], tuple(data["strata"][k]))] = (code, days)
    return out


@pytest.fixture(scope="module")
def ae_data() -> dict:
    return adverse_events.client_data(_ae_warehouse(), load_config())


@pytest.fixture(scope="module")
def ae_truth() -> dict:
    """Every embedded cell's true count: the same table with suppression off."""
    from tests.dashboard_cases import unsuppressed

    data = adverse_events.client_data(_ae_warehouse(), unsuppressed(load_config()))
    return {key: code for key, (code, _) in _ae_cells(data).items()}


OVERALL = ("overall", "all")


def test_ae_cells_sum_events_by_site_and_course_start_year(ae_data):
    """Events add up over sites and years; the person-time beside them is withheld here: at
    most 2 patients are at risk in any cell (<= small_count_max), so their days would describe
    them (a zero-event cell too: 3,653 days is one patient's course)."""
    cells = _ae_cells(ae_data)
    assert ae_data["years"] == ["2020", "2021"]
    assert cells[("*", "*", "AE-NEU", OVERALL)] == (12, None)
    assert cells[("south", "*", "AE-NEU", OVERALL)] == (12, None)
    assert cells[("north", "*", "AE-NEU", OVERALL)] == (0, None)  # zero events: shown
    assert cells[("*", "2020", "AE-NEU", OVERALL)] == (0, None)
    assert ae_data["personTimeUnit"] == 10
    # PAT-N-0002's segment from 2021-01-01 belongs to a course started in 2020: no one is at
    # risk there, so nothing is embedded, or only a suppressed zero (no GI cell can be shown)
    assert cells.get(("north", "2021", "AE-GI", OVERALL), (SHOWN_SMALL, None)) == (
        SHOWN_SMALL,
        None,
    )


def test_ae_cells_tied_to_a_small_count_are_all_withheld(ae_data):
    """GI: north 50 events (2020), south 5 (2021), nothing else. Every non-zero GI cell is 50,
    55 or 5, and any 50 or 55 shown gives the 5 back (55 - 50): all are withheld."""
    cells = _ae_cells(ae_data)
    truth = {
        ("north", "2020"): 50,
        ("north", "*"): 50,
        ("*", "2020"): 50,
        ("*", "*"): 55,
        ("south", "2021"): 5,
        ("south", "*"): 5,
        ("*", "2021"): 5,
    }
    for (site, year), value in truth.items():
        code = cells[(site, year, "AE-GI", OVERALL)][0]
        assert code == (SHOWN_SMALL if value <= K else SHOWN_WITHHELD), (site, year)


def test_ae_small_count_is_a_code_with_a_complement_and_no_days(ae_data):
    cells = _ae_cells(ae_data)
    small = cells[("south", "2021", "AE-GI", OVERALL)]
    assert small == (SHOWN_SMALL, None)  # 5 events: "<11", and no person-time beside it
    # north 50 + south 5 = 55 overall: one of the two shown cells is withheld
    assert SHOWN_WITHHELD in (
        cells[("north", "*", "AE-GI", OVERALL)][0],
        cells[("*", "*", "AE-GI", OVERALL)][0],
    )
    codes = [code for code, _ in cells.values()]
    assert not [c for c in codes if 1 <= c <= K]
    assert all(days is None for code, days in cells.values() if code < 0)


def test_ae_strata_published_for_one_site_or_one_year_not_both(ae_data):
    cells = _ae_cells(ae_data)
    strata = [k for k in cells if k[3] != OVERALL]
    assert strata
    assert not [k for k in strata if k[0] != "*" and k[1] != "*"]
    assert cells[("*", "2021", "AE-NEU", ("time_since_start", "weeks 4-18"))] == (12, None)
    assert cells[("north", "*", "AE-NEU", ("dose_band", "<300"))] == (0, None)  # 1 patient


def test_ae_nothing_suppressed_can_be_worked_out(ae_data, ae_truth):
    """The reader knows every relation: sites add up to all sites, years to all time, each
    stratifier's strata to the overall count; not-published cells are unknowns. Where a table
    hides a zero, its "<11" are read 0..10."""
    cells = _ae_cells(ae_data)
    sites = [*ae_data["sites"], "*"]
    years = [*ae_data["years"], "*"]
    strata = [tuple(s) for s in ae_data["strata"]]
    shown, unknown = {}, {}
    keys = [(s, y, e, k) for s in sites for y in years for e in ae_data["events"] for k in strata]
    for key in keys:
        code = cells.get(key, (0, 0))[0] if key in cells or _published(key) else None
        low, high = (0, math.inf) if code is None else code_range(code, K)  # None: unpublished
        if low == high:
            shown[key] = low
        else:
            unknown[key] = (low, high)
    relations = []
    for _, y, e, k in {(None, *key[1:]) for key in keys}:
        relations.append({**{(s, y, e, k): 1 for s in sites[:-1]}, ("*", y, e, k): -1})
    for s, _, e, k in {(key[0], None, *key[2:]) for key in keys}:
        relations.append({**{(s, y, e, k): 1 for y in years[:-1]}, (s, "*", e, k): -1})
    for s, y, e in {key[:3] for key in keys}:
        for stratifier in {k[0] for k in strata if k != OVERALL}:
            parts = {(s, y, e, k): 1 for k in strata if k[0] == stratifier}
            relations.append({**parts, (s, y, e, OVERALL): -1})
    suppressed = [k for k, v in unknown.items() if v != (0, math.inf)]
    assert suppressed
    # complements suffice here: zeros are suppressed only once none helps any more
    assert [k for k in suppressed if ae_truth.get(k, 0) == 0] == []
    truth = {key: ae_truth.get(key, 0) for key in keys}  # not embedded: no event
    for event in ae_data["events"]:  # no relation crosses events: each is read on its own
        own = {k: v for k, v in unknown.items() if k[2] == event}
        ranges = feasible_ranges(shown, zeros_read_as_possible(own, truth, K), relations)
        assert disclosed(ranges, suppressed, truth) == [], event


def _published(key) -> bool:
    site, year, _, stratum = key
    return stratum == OVERALL or site == "*" or year == "*"


def test_ae_stratum_labels_carry_their_units(ae_data):
    labels = dict(zip(map(tuple, ae_data["strata"]), ae_data["stratumLabels"], strict=True))
    assert labels[("time_since_start", "weeks 4-18")] == "Weeks 4\u201318 since start"
    assert labels[("dose_band", "<300")] == "Dose < 300 mg/day"
    assert labels[("dose_band", "300-600")] == "Dose 300\u2013600 mg/day"
    assert labels[("age_band", "25-34")] == "Age 25\u201334 y"
    assert labels[("sex", "F")] == "Female"
    assert adverse_events.stratum_text("time_since_start", "weeks >52") == (
        "Weeks > 52 since start"
    )
    assert adverse_events.stratum_text("age_band", "65+") == "Age 65+ y"
    # display order: the config's cuts (weeks 0-4 before 4-18), the overall first
    assert ae_data["strata"][0] == list(OVERALL)
    weeks = [s for s in ae_data["strata"] if s[0] == "time_since_start"]
    assert weeks == [["time_since_start", "weeks 0-4"], ["time_since_start", "weeks 4-18"]]


def test_ae_page_data_holds_no_identifier(ae_data):
    text = script_json(ae_data)
    assert "PAT-" not in text


def test_ae_patients_without_a_site_count_only_in_all_sites():
    data = adverse_events.client_data(
        _ae_warehouse(sites={**AE_SITES, "PAT-S-0001": None}), load_config()
    )
    assert data["sites"] == ["north"]
    cells = _ae_cells(data)
    assert cells[("*", "*", "AE-NEU", OVERALL)][0] in (12, SHOWN_WITHHELD)
    assert not [k for k in cells if k[0] == "(no site)"]


def _crowd(north: int, south: int, days: int, events_south: int) -> list[tuple]:
    """AE-NEU rows: `north` patients with 0 events and `south` with `events_south` events
    in all, each patient `days` days at risk (course started 2021-01-01)."""
    rows = [
        ("AE-NEU", f"PAT-N-{i:04d}", "2021-01-01", 0, "weeks 0-4", "<300", 0, days)
        for i in range(north)
    ]
    rows += [
        (
            "AE-NEU",
            f"PAT-S-{i:04d}",
            "2021-01-01",
            0,
            "weeks 0-4",
            "<300",
            int(i == 0) * events_south,
            days,
        )
        for i in range(south)
    ]
    return rows


def _crowd_sites(north: int, south: int) -> dict[str, str]:
    return {
        **{f"PAT-N-{i:04d}": "north" for i in range(north)},
        **{f"PAT-S-{i:04d}": "south" for i in range(south)},
    }


def test_ae_person_years_rounded_and_withheld_by_hand():
    """AE-* person-time (publication.person_time_unit_years = 10): north 12 patients x 1,000
    days = 32.85 PY -> 30 PY shown (0 events, 12 patients at risk); south 11 patients x 1,000
    days, 3 events: "<11" and no person-time; all sites 23 patients, 62.97 PY -> 60 PY beside
    its events, or withheld with them. All sites less north (60 - 30) is 30 PY +- 10: one
    south patient's 2.7 PY cannot be told from it."""
    data = adverse_events.client_data(
        _ae_warehouse(rows=_crowd(12, 11, 1000, 3), sites=_crowd_sites(12, 11)), load_config()
    )
    cells = _ae_cells(data)
    assert cells[("north", "*", "AE-NEU", OVERALL)] == (0, 30)
    assert cells[("north", "2021", "AE-NEU", OVERALL)] == (0, 30)
    assert cells[("south", "*", "AE-NEU", OVERALL)] == (SHOWN_SMALL, None)
    events, person_years = cells[("*", "*", "AE-NEU", OVERALL)]
    assert (events, person_years) in ((SHOWN_SMALL, None), (SHOWN_WITHHELD, None))
    assert all(py is None or py % 10 == 0 for _, py in cells.values())


def test_ae_person_years_withheld_where_few_patients_are_at_risk():
    """10 patients at risk (= small_count_max) with 0 events: withheld; 11: shown, rounded to
    the unit (11 x 400 days = 12.05 PY -> 10); 11 patients with 4 days each (0.12 PY): rounds to
    0 and is withheld, not shown as 0."""
    config = load_config()
    unit = adverse_events.published_person_years
    assert unit(10 * 400, 0, 10, config) is None
    assert unit(11 * 400, 0, 11, config) == 10
    assert unit(11 * 4, 0, 11, config) is None
    assert unit(365_250, 25, 400, config) == 1000  # 1,000 PY exactly
    assert unit(365_250, SHOWN_SMALL, 400, config) is None  # suppressed events
    assert unit(365_250, SHOWN_WITHHELD, 400, config) is None
    data = adverse_events.client_data(
        _ae_warehouse(rows=_crowd(10, 11, 400, 0), sites=_crowd_sites(10, 11)), config
    )
    cells = _ae_cells(data)
    assert cells[("north", "*", "AE-NEU", OVERALL)] == (0, None)  # 10 patients
    assert cells[("south", "*", "AE-NEU", OVERALL)] == (0, 10)  # 11 patients, 12.05 PY
    assert cells[("*", "*", "AE-NEU", OVERALL)] == (0, 20)  # 21 patients, 23.0 PY


# ---------------------------------------------------------------------------- ANC by month

INTERRUPT = "interrupt clozapine; ANC daily until >= 1000/uL, then resume"
BEN_CONTINUE = "continue; ANC three times a week until >= 1000/uL; haematology consultation"
DISCONTINUE = "discontinue clozapine; no rechallenge"

# (patient, site, date, category, action, results)
ANC_ROWS = [
    ("PAT-N-0001", "north", "2024-03-04", "normal", "continue", 30),
    ("PAT-N-0001", "north", "2024-03-11", "severe", DISCONTINUE, 12),
    ("PAT-N-0002", "north", "2024-03-12", "moderate", INTERRUPT, 3),
    ("PAT-N-0003", "north", "2024-03-13", "moderate", BEN_CONTINUE, 11),
    ("PAT-S-0001", "south", "2024-03-05", "normal", "continue", 25),
    ("PAT-S-0001", "south", "2024-03-20", "moderate", INTERRUPT, 15),
    ("PAT-S-0001", "south", "2024-04-02", "normal", "continue", 40),
    # 2023: the same month without a small count (each year is protected on its own)
    ("PAT-N-0001", "north", "2023-06-04", "normal", "continue", 30),
    ("PAT-N-0001", "north", "2023-06-11", "severe", DISCONTINUE, 12),
    ("PAT-N-0003", "north", "2023-06-13", "moderate", BEN_CONTINUE, 11),
    ("PAT-S-0001", "south", "2023-06-05", "normal", "continue", 25),
    ("PAT-S-0001", "south", "2023-06-20", "moderate", INTERRUPT, 15),
]


@pytest.fixture(scope="module")
def anc_data() -> dict:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging; CREATE SCHEMA marts")
    con.execute("CREATE TABLE staging.patients (patient_id VARCHAR, site VARCHAR)")
    con.executemany(
        "INSERT INTO staging.patients VALUES (?, ?)", sorted({(r[0], r[1]) for r in ANC_ROWS})
    )
    con.execute(
        "CREATE TABLE marts.anc_results (patient_id VARCHAR, collected_date DATE, "
        "anc_category VARCHAR, required_action VARCHAR, treatment_week INTEGER DEFAULT 1)"
    )
    con.executemany(
        "INSERT INTO marts.anc_results (patient_id, collected_date, anc_category, "
        "required_action) VALUES (?, ?, ?, ?)",
        [(p, d, c, a) for p, _, d, c, a, n in ANC_ROWS for _ in range(n)],
    )
    return anc.client_data(con, load_config())


def _anc_cells(data: dict) -> dict:
    out = {}
    for s, m, k, code in data["results"]["rows"]:
        site = "*" if s == -1 else data["sites"][s]
        key = "all" if k == -1 else tuple(data["categories"][k])
        out[(site, data["months"][m], key)] = code
    return out


def test_anc_abnormal_results_per_month_with_the_required_action(anc_data):
    cells = _anc_cells(anc_data)
    categories = [tuple(c) for c in anc_data["categories"]]
    # most urgent first; a moderate result's action depends on benign ethnic neutropenia
    assert categories[0] == ("severe", DISCONTINUE)
    assert ("moderate", INTERRUPT) in categories and ("moderate", BEN_CONTINUE) in categories
    # no mild result in the warehouse: listed with the guideline's action, zero in every month
    assert ("mild", anc.GUIDELINE_ACTIONS["mild"]) in categories
    # 2023-06, no small count: 30 + 12 + 11 + 25 + 15 results, all shown
    assert cells[("*", "2023-06", "all")] == 93
    assert cells[("*", "2023-06", ("severe", DISCONTINUE))] == 12
    assert cells[("north", "2023-06", ("moderate", BEN_CONTINUE))] == 11
    assert cells[("south", "2023-06", "all")] == 40
    assert ("*", "2024-04", ("severe", DISCONTINUE)) not in cells  # zero: not embedded
    # 2024: north's 3 moderate results (interrupt) in March. The year's week-band table ties a
    # category's months to its year (one week band here): north's moderate results of the year
    # (3 + 11) beside the 11 would give the 3 back, and so on through March's totals, so all
    # of March is withheld but the "<11" itself. April holds 40 results, all normal, nothing
    # small: shown, at south and for all sites.
    codes_2024 = {k: v for k, v in cells.items() if k[1].startswith("2024")}
    assert codes_2024.pop(("north", "2024-03", ("moderate", INTERRUPT))) == SHOWN_SMALL
    april = {k: codes_2024.pop(k) for k in list(codes_2024) if k[1] == "2024-04"}
    assert april == {("south", "2024-04", "all"): 40, ("*", "2024-04", "all"): 40}
    assert len(codes_2024) == 9 and set(codes_2024.values()) == {SHOWN_WITHHELD}


def test_anc_small_monthly_count_suppressed_with_a_complement(anc_data):
    cells = _anc_cells(anc_data)
    assert cells[("north", "2024-03", ("moderate", INTERRUPT))] == SHOWN_SMALL  # 3 results
    # north 3 + south 15 = 18: one of the two others is withheld
    assert SHOWN_WITHHELD in (
        cells[("south", "2024-03", ("moderate", INTERRUPT))],
        cells[("*", "2024-03", ("moderate", INTERRUPT))],
    )
    assert not [v for v in cells.values() if 1 <= v <= K]


def test_anc_nothing_suppressed_can_be_worked_out(anc_data):
    cells = _anc_cells(anc_data)
    sites = [*anc_data["sites"], "*"]
    keys = [tuple(c) for c in anc_data["categories"]]
    shown, unknown = {}, {}
    relations = []
    for month in anc_data["months"]:
        for site in sites:
            for key in [*keys, "all"]:
                code = cells.get((site, month, key), 0)
                cell = (site, month, key)
                low, high = code_range(code, K)
                if low == high:
                    shown[cell] = low
                else:
                    unknown[cell] = (low, high)
            unknown[(site, month, "normal")] = (0, math.inf)  # never published
            relations.append(
                {**{(site, month, k): 1 for k in [*keys, "normal"]}, (site, month, "all"): -1}
            )
        for key in [*keys, "all", "normal"]:
            relations.append({**{(s, month, key): 1 for s in sites[:-1]}, ("*", month, key): -1})
    ranges = feasible_ranges(shown, unknown, relations)
    suppressed = [k for k, v in unknown.items() if v != (0, math.inf)]
    assert len(suppressed) >= 2
    assert [k for k in recovered(ranges) if k in suppressed] == []


def test_anc_page_data_holds_no_identifier(anc_data):
    assert "PAT-" not in json.dumps(anc_data)


def test_ae_stratum_missing_in_the_mart_is_unknown_not_all():
    """A NULL stratum (not expected from the mart, which writes 'unknown') is counted as
    unknown, never mistaken for the overall row."""
    con = _ae_warehouse()
    con.execute("UPDATE marts.clozapine_person_time SET age_band = NULL")
    data = adverse_events.client_data(con, load_config())
    strata = [tuple(s) for s in data["strata"]]
    assert ("age_band", "unknown") in strata and ("age_band", "all") not in strata
    cells = _ae_cells(data)
    assert cells[("*", "*", "AE-NEU", ("age_band", "unknown"))] == (12, None)


def test_ae_patients_at_risk_counted_by_hand():
    """Distinct patients with days at risk, by hand: N1 has two segments (weeks 0-4 and 5-18,
    one course started 2021) at risk of AE-NEU and AE-GI; N2 one segment of AE-GI only (its
    AE-NEU segment has 0 days: not at risk); S1 (south) a course started 2022, AE-GI. A
    patient counts once per stratum, whatever its segments or events; all years and all sites
    count each patient once. The same with one event per query (the events' bits split). One
    site's strata in one course start year are never published, so not counted."""
    rows = [
        ("AE-NEU", "PAT-N-0001", "2021-01-01", 0, "weeks 0-4", "<300", 0, 28),
        ("AE-NEU", "PAT-N-0001", "2021-01-29", 28, "weeks 5-18", "<300", 0, 98),
        ("AE-GI", "PAT-N-0001", "2021-01-01", 0, "weeks 0-4", "<300", 1, 28),
        ("AE-GI", "PAT-N-0001", "2021-01-29", 28, "weeks 5-18", "<300", 0, 98),
        ("AE-NEU", "PAT-N-0002", "2021-03-01", 0, "weeks 0-4", "<300", 0, 0),
        ("AE-GI", "PAT-N-0002", "2021-03-01", 0, "weeks 0-4", "<300", 0, 20),
        ("AE-GI", "PAT-S-0001", "2022-05-01", 0, "weeks 0-4", "300-599", 0, 10),
    ]
    con = _ae_warehouse(rows=rows)  # N1, N2 north; S1 south (AE_SITES)
    expected = {
        ("north", "2021", "AE-GI", OVERALL): 2,
        ("*", "2021", "AE-GI", ("time_since_start", "weeks 0-4")): 2,
        ("*", "2021", "AE-GI", ("time_since_start", "weeks 5-18")): 1,
        ("*", "2021", "AE-GI", ("dose_band", "<300")): 2,
        ("north", "2021", "AE-NEU", OVERALL): 1,
        ("*", "2021", "AE-NEU", ("time_since_start", "weeks 0-4")): 1,
        ("*", "2021", "AE-NEU", ("time_since_start", "weeks 5-18")): 1,
        ("south", "2022", "AE-GI", OVERALL): 1,
        ("*", "2022", "AE-GI", ("dose_band", "300-599")): 1,
        ("*", "*", "AE-GI", OVERALL): 3,
        ("*", "*", "AE-GI", ("dose_band", "<300")): 2,
        ("*", "2021", "AE-NEU", ("dose_band", "<300")): 1,
        ("north", "*", "AE-GI", ("age_band", "25-34")): 2,
        ("*", "*", "AE-NEU", ("sex", "F")): 1,
    }
    found = adverse_events._patients_at_risk(con, load_config())
    assert {k: found.get(k) for k in expected} == expected
    assert ("south", "2022", "AE-NEU", OVERALL) not in found
    assert ("*", "2021", "AE-NEU", ("time_since_start", "weeks 0-4")) in found
    assert ("north", "2021", "AE-GI", ("dose_band", "<300")) not in found  # never published


def test_ae_patients_at_risk_of_more_events_than_one_integer_has_bits():
    """Each event is a bit of one integer, 62 per chunk: with 64 events, event k at risk for
    the first k + 1 of 64 patients (by hand: AE-X00 1 patient ... AE-X63 64), each event's
    count is its own, across the chunk boundary too."""
    patients = [f"PAT-N-{i:04d}" for i in range(1, 65)]
    rows = [
        (f"AE-X{k:02d}", patient, "2021-01-01", 0, "weeks 0-4", "<300", 0, 28)
        for k in range(64)
        for patient in patients[: k + 1]
    ]
    con = _ae_warehouse(rows=rows, sites=dict.fromkeys(patients, "north"))
    found = adverse_events._patients_at_risk(con, load_config())
    overall = {k[2]: n for k, n in found.items() if k[:2] == ("north", "2021") and k[3] == OVERALL}
    assert overall == {f"AE-X{k:02d}": k + 1 for k in range(64)}


def test_anc_week_bands_by_hand_and_named_from_their_first_week():
    """Bands of the default schedule, by hand: weekly to 26, two-weekly to 52, four-weekly
    to 104, then '>104' (a result without a week too); counting by a band's first week (the
    results mart per month, marts.anc_results_by_month) and naming it after gives every week
    the band of its own."""
    con = duckdb.connect()
    band = f"(SELECT {anc.WEEK_BAND_SQL} FROM (SELECT CAST(? AS INTEGER) AS treatment_week))"

    def named(week):
        return con.execute(f"SELECT {band}", [week]).fetchone()[0]

    by_hand = {-2: "baseline", 0: "baseline", 1: "001", 26: "026", 27: "027-028", 28: "027-028"}
    by_hand |= {52: "051-052", 53: "053-056", 56: "053-056", 104: "101-104", 105: ">104"}
    assert {w: named(w) for w in by_hand} == by_hand
    assert named(None) == ">104"
    weeks = [None, *range(-3, 200)]
    # each week's one result in a month of its own: the mart's row of that month is its band
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.anc_results AS SELECT 'P1' AS patient_id, 'A' AS site, "
        "CAST(DATE '2000-01-01' + INTERVAL (i) MONTH AS DATE) AS collected_date, "
        "w AS treatment_week, 'normal' AS anc_category, 'continue' AS required_action "
        "FROM (SELECT unnest(?) AS w, generate_subscripts(?, 1) AS i)",
        [weeks, weeks],
    )
    build_model(con, Model("marts", "anc_results_by_month"), transform_context(load_config()))
    firsts = [
        row[0]
        for row in con.execute(
            "SELECT week_band_start FROM marts.anc_results_by_month ORDER BY month"
        ).fetchall()
    ]
    assert len(firsts) == len(weeks)
    assert [named(f) for f in firsts] == [named(w) for w in weeks]
