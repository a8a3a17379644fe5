"""SAF-ANC-ACTION on the ANC page (issue 16): time from the first moderate or severe ANC that
requires interrupting clozapine to the end of the clozapine episode, binned in SQL and drawn in
the browser from the protected cells. Hand-built episodes, answers known by hand
(safety.anc_action_days = 2; publication.anc_action_bins_days = [7, 14, 28]; k = 10).

Every boundary is one episode of its own, result on 2024-01-10, clozapine ending `days` later:
0 and 2 days (within anc_action_days), 3 and 7, 8 and 14, 15 and 28, 29, still ongoing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from pathlib import Path

import duckdb
import pytest

from tests.browser_tools import browser_only, choose, open_browser
from tests.security.attacker import code_range, feasible_ranges, recovered
from trscohort.config import Config, load_config
from trscohort.dashboards import anc, write_dashboards
from trscohort.dashboards.client import SHOWN_SMALL, SHOWN_WITHHELD

K = 10
INTERRUPT = "interrupt clozapine"
DISCONTINUE = "discontinue; no rechallenge"
BOUNDARY = [  # (days to the end of the episode or None = ongoing, category, expected bin)
    (0, "moderate", "0-2 days"),
    (2, "severe", "0-2 days"),
    (3, "moderate", "3-7 days"),
    (7, "moderate", "3-7 days"),
    (8, "severe", "8-14 days"),
    (14, "moderate", "8-14 days"),
    (15, "moderate", "15-28 days"),
    (28, "severe", "15-28 days"),
    (29, "moderate", "> 28 days"),
    (None, "severe", "not stopped by the as-of date"),
]
RESULT_DAY = dt.date(2024, 1, 10)


def _episodes() -> tuple[list, list, list]:
    """(patients, results, exposure episodes)."""
    patients, results, episodes = [], [], []
    for i, (days, category, _) in enumerate(BOUNDARY):
        pid = f"PAT-B-{i:02d}"
        patients.append((pid, "north"))
        end = RESULT_DAY + dt.timedelta(days=days if days is not None else 300)
        reason = "ongoing" if days is None else "stopped"
        episodes.append((pid, dt.date(2023, 12, 1), end, reason))
        action = DISCONTINUE if category == "severe" else INTERRUPT
        results.append((pid, RESULT_DAY, category, action))
    # The first qualifying result counts (moderate, 19 days), not the later severe one (10).
    patients.append(("PAT-FIRST", "south"))
    episodes.append(("PAT-FIRST", dt.date(2024, 1, 15), dt.date(2024, 2, 20), "stopped"))
    results += [
        ("PAT-FIRST", dt.date(2024, 2, 1), "moderate", INTERRUPT),
        ("PAT-FIRST", dt.date(2024, 2, 10), "severe", DISCONTINUE),
    ]
    # Same day moderate and severe: the severe one (1 day to action).
    patients.append(("PAT-SAMEDAY", "south"))
    episodes.append(("PAT-SAMEDAY", dt.date(2024, 2, 1), dt.date(2024, 3, 6), "stopped"))
    results += [
        ("PAT-SAMEDAY", dt.date(2024, 3, 5), "moderate", INTERRUPT),
        ("PAT-SAMEDAY", dt.date(2024, 3, 5), "severe", DISCONTINUE),
    ]
    # Not counted: a moderate result with benign ethnic neutropenia (continue), a mild result,
    # and a severe result outside any clozapine episode.
    patients += [("PAT-BEN", "south"), ("PAT-MILD", "south"), ("PAT-OUT", "south")]
    episodes += [
        ("PAT-BEN", dt.date(2024, 1, 1), dt.date(2024, 1, 20), "stopped"),
        ("PAT-MILD", dt.date(2024, 1, 1), dt.date(2024, 1, 20), "stopped"),
        ("PAT-OUT", dt.date(2024, 1, 1), dt.date(2024, 1, 20), "stopped"),
    ]
    results += [
        ("PAT-BEN", dt.date(2024, 1, 5), "moderate", "continue with more monitoring (BEN)"),
        ("PAT-MILD", dt.date(2024, 1, 5), "mild", "continue, ANC 3x/week"),
        ("PAT-OUT", dt.date(2024, 2, 5), "severe", DISCONTINUE),
    ]
    # One patient, two episodes: two episodes counted (5 days and 40 days).
    patients.append(("PAT-TWICE", "south"))
    episodes += [
        ("PAT-TWICE", dt.date(2024, 1, 1), dt.date(2024, 1, 15), "stopped"),
        ("PAT-TWICE", dt.date(2024, 3, 1), dt.date(2024, 5, 1), "stopped"),
    ]
    results += [
        ("PAT-TWICE", dt.date(2024, 1, 10), "severe", DISCONTINUE),
        ("PAT-TWICE", dt.date(2024, 3, 22), "severe", DISCONTINUE),
    ]
    return patients, results, episodes


def warehouse(extra: tuple[list, list, list] = ([], [], [])) -> duckdb.DuckDBPyConnection:
    patients, results, episodes = (a + b for a, b in zip(_episodes(), extra, strict=True))
    con = duckdb.connect()
    con.execute(
        "CREATE SCHEMA staging; CREATE SCHEMA marts; CREATE SCHEMA audit; "
        "CREATE SCHEMA intermediate"
    )
    con.execute("CREATE TABLE audit.run_parameters AS SELECT DATE '2024-12-31' AS as_of_date")
    con.execute("CREATE TABLE staging.patients (patient_id VARCHAR, site VARCHAR)")
    con.executemany("INSERT INTO staging.patients VALUES (?, ?)", patients)
    con.execute("CREATE TABLE staging.prescriptions AS SELECT DATE '2023-01-10' AS start_date")
    con.execute(
        "CREATE TABLE marts.anc_results (patient_id VARCHAR, collected_date DATE, "
        "anc_category VARCHAR, required_action VARCHAR, treatment_week INTEGER DEFAULT 5)"
    )
    con.executemany(
        "INSERT INTO marts.anc_results (patient_id, collected_date, anc_category, "
        "required_action) VALUES (?, ?, ?, ?)",
        results,
    )
    con.execute(
        "CREATE TABLE intermediate.clozapine_exposure (patient_id VARCHAR, episode_start DATE, "
        "episode_end DATE, end_reason VARCHAR)"
    )
    con.executemany("INSERT INTO intermediate.clozapine_exposure VALUES (?, ?, ?, ?)", episodes)
    return con


def test_bins_follow_the_configured_bounds():
    config = load_config()
    assert anc.action_labels(config) == [
        "0-2 days",
        "3-7 days",
        "8-14 days",
        "15-28 days",
        "> 28 days",
        "not stopped by the as-of date",
    ]
    data = config.to_json()
    changed = Config(
        {
            **{k: config[k] for k in config},
            "safety": {**config["safety"], "anc_action_days": 10},
            "publication": {**config["publication"], "anc_action_bins_days": [7, 30]},
        }
    )
    # a configured bound at or below anc_action_days is folded into the first bin
    assert anc.action_labels(changed) == [
        "0-10 days",
        "11-30 days",
        "> 30 days",
        "not stopped by the as-of date",
    ]
    assert config.to_json() == data


def test_saf_anc_action_boundaries_by_hand():
    """SAF-ANC-ACTION: exactly anc_action_days, 7, 14 and 28 days fall in the bin they end;
    one day more in the next; an ongoing episode is "not stopped"."""
    con = warehouse()
    counts = anc.time_to_action_counts(con, site="north", config=load_config())
    want: dict[str, list[int]] = {label: [0, 0] for label in anc.action_labels(load_config())}
    for _, category, label in BOUNDARY:
        want[label][anc.SEVERITIES.index(category)] += 1
    assert counts == {k: tuple(v) for k, v in want.items()}
    assert counts["0-2 days"] == (1, 1) and counts["> 28 days"] == (1, 0)


def test_first_result_per_episode_and_what_does_not_count():
    """South: the first qualifying result of an episode (moderate, 19 days), severe first on
    the same day (1 day), two episodes of one patient (5 and 40 days); a BEN 'continue', a mild
    result and a result outside any episode count nowhere."""
    con = warehouse()
    counts = anc.time_to_action_counts(con, site="south", config=load_config())
    assert counts == {
        "0-2 days": (0, 1),
        "3-7 days": (0, 1),
        "8-14 days": (0, 0),
        "15-28 days": (1, 0),
        "> 28 days": (0, 1),
        "not stopped by the as-of date": (0, 0),
    }
    # an episode counts in the month of its first qualifying result
    assert anc.time_to_action_counts(con, period="2024-02", config=load_config()) == {
        "0-2 days": (0, 0),
        "3-7 days": (0, 0),
        "8-14 days": (0, 0),
        "15-28 days": (1, 0),
        "> 28 days": (0, 0),
        "not stopped by the as-of date": (0, 0),
    }
    total = anc.time_to_action_counts(con, config=load_config())
    assert sum(m + s for m, s in total.values()) == len(BOUNDARY) + 4


def test_leaves_come_from_one_grouped_query():
    """The SQL groups by site, month, bin and severity; no row is binned in Python."""
    con = warehouse()
    sql = anc.time_to_action_sql(con, load_config())
    assert "GROUP BY ALL" in sql and "CASE" in sql
    rows = con.execute(sql).fetchall()
    assert ("north", "2024-01", 0, "moderate", 1) in rows  # 0 days
    assert ("south", "2024-03", 0, "severe", 1) in rows  # same day: severe, 1 day
    assert len(rows) == len(set(r[:4] for r in rows))


# 12 more north episodes (3-7 days, moderate, April) and 3 south: all sites 15 + 1 = 16.
CROWD = (
    [(f"PAT-C-{i:02d}", "north" if i < 12 else "south") for i in range(15)],
    [(f"PAT-C-{i:02d}", dt.date(2024, 4, 2), "moderate", INTERRUPT) for i in range(15)],
    [(f"PAT-C-{i:02d}", dt.date(2024, 3, 1), dt.date(2024, 4, 7), "stopped") for i in range(15)],
)


@pytest.fixture(scope="module")
def page_data() -> dict:
    return anc.client_data(warehouse(CROWD), load_config())


def _embedded(data: dict) -> dict:
    a = data["action"]
    names = ["*" if s == -1 else data["sites"][s] for s in range(-1, len(data["sites"]))]
    return {
        (names[s + 1], data["months"][m], a["bins"][b], a["severities"][c]): code
        for s, m, b, c, code in a["rows"]
    }


def test_embedded_cells_are_protected_by_hand(page_data):
    """April, 3-7 days, moderate: north 12, south 3 ("<11"), all sites 15. The total and
    north together give the 3 back, so the smaller non-total, north, is withheld."""
    cells = _embedded(page_data)
    assert page_data["action"]["actionDays"] == 2
    april = ("2024-04", "3-7 days", "moderate")
    assert cells[("south", *april)] == SHOWN_SMALL
    assert cells[("north", *april)] == SHOWN_WITHHELD
    assert cells[("*", *april)] == 15
    # January's ten boundary episodes are all north: each alone, so "<11" at the site and
    # in all sites (no complement needed: both are suppressed)
    assert cells[("north", "2024-01", "0-2 days", "moderate")] == SHOWN_SMALL
    assert cells[("*", "2024-01", "0-2 days", "moderate")] == SHOWN_SMALL
    assert not [v for v in cells.values() if 1 <= v <= K]
    assert "PAT-" not in str(page_data)


def test_attacker_recovers_no_episode_count(page_data):
    """The reader knows each month's cells (sites add up to all sites) and sums over months:
    no suppressed cell has a single possible value."""
    cells = _embedded(page_data)
    a = page_data["action"]
    sites = page_data["sites"]
    shown, unknown, relations = {}, {}, []
    for month in {k[1] for k in cells}:
        for b in a["bins"]:
            for c in a["severities"]:
                keys = [(s, month, b, c) for s in [*sites, "*"]]
                for key in keys:
                    low, high = code_range(cells.get(key, 0), K)
                    if low == high:
                        shown[key] = low
                    else:
                        unknown[key] = (low, high)
                relations.append({**{k: 1 for k in keys[:-1]}, keys[-1]: -1})
    assert len(unknown) >= 5
    ranges = feasible_ranges(shown, unknown, relations)
    assert recovered(ranges) == []
    assert all(math.isfinite(lo) for lo, _ in ranges.values())


# --------------------------------------------------------------------------- in the browser

websockets_sync = pytest.importorskip("websockets.sync.client")


@pytest.fixture(scope="module")
def anc_page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("anc_action_page")
    published = write_dashboards(warehouse(CROWD), out, config=load_config(), pages=["anc"])
    return published.directory / "anc.html"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    yield from open_browser(tmp_path_factory, "chromium-anc-action")


def _action_table(browser) -> tuple[dict[str, list[str]], list[list[str]], list[list[str]]]:
    found = json.loads(
        browser.evaluate(
            """(() => { const sec = document.getElementById('table-time_to_action');
            return JSON.stringify({
              rows: [...sec.querySelector('table.data').rows].map(r => [...r.cells].map(c => c.textContent)),
              csv: decodeURIComponent(sec.querySelector('a.csv').href.split(',').slice(1).join(','))});
            })()"""
        )
    )
    rows = found["rows"]
    return {r[0]: r[1:] for r in rows[1:]}, rows, list(csv.reader(io.StringIO(found["csv"])))


@browser_only
@pytest.mark.parametrize("width", [1440, 390])
def test_time_to_action_in_the_browser_by_hand(browser, anc_page, width):
    """Hand-built page: the shared filter (site, quarter, date range, previous period) changes
    the time-to-action figures, which are the protected cells or their sums; the CSV is the
    table; no console error, no request beyond the file."""
    browser.resize(width)
    browser.open(anc_page.as_uri())
    state = browser.state()
    assert state["drawn"] == state["plots"] == 4, state["missing"]
    choose(browser, "filter-mode", "quarter")
    choose(browser, "filter-quarter", "2024-Q2")
    by_bin, rows, csv_rows = _action_table(browser)
    assert csv_rows == rows
    # April: all sites 15 moderate episodes 3-7 days (north withheld, south "<11")
    assert by_bin["3-7 days"] == ["15", "0"]
    assert by_bin["0-2 days"] == ["0", "0"]
    y = browser.evaluate(
        "JSON.stringify(document.getElementById('chart-time_to_action').data[0].y)"
    )
    assert json.loads(y)[1] == 15
    choose(browser, "filter-site", "north")
    assert _action_table(browser)[0]["3-7 days"] == ["withheld", "0"]
    choose(browser, "filter-site", "south")
    assert _action_table(browser)[0]["3-7 days"] == ["<11", "0"]
    choose(browser, "filter-site", "")
    browser.evaluate(
        "(() => { const c = document.getElementById('filter-compare'); c.checked = true;"
        " c.dispatchEvent(new Event('change')); })()"
    )
    by_bin, rows, csv_rows = _action_table(browser)
    assert rows[0][-2:] == ["previous period: moderate (n)", "previous period: severe (n)"]
    # previous quarter (Q1): January's two 3-7 day moderate episodes, one "<11" cell
    assert by_bin["3-7 days"] == ["15", "0", "<11", "<11"]
    assert csv_rows == rows
    # a sum over months with a suppressed month is suppressed: January to April
    browser.evaluate(
        "(() => { const c = document.getElementById('filter-compare'); c.checked = false;"
        " c.dispatchEvent(new Event('change')); })()"
    )
    choose(browser, "filter-mode", "range")
    choose(browser, "filter-from", "2024-01")
    choose(browser, "filter-to", "2024-04")
    assert _action_table(browser)[0]["3-7 days"] == ["suppressed", "<11"]
    assert browser.errors() == []
