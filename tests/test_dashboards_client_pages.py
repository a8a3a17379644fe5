"""Issue 16: the funnel and quality-indicator pages filtered in the browser from one embedded,
already-protected aggregate table each.

Hand-built warehouses whose counts are known by hand: the embedded cells are those counts or
their suppression codes (primary and complementary), nothing suppressed can be worked out from
the embedded cells and the relations a reader knows, the browser's sums over a suppressed
month stay suppressed, its Wilson interval is statsmodels' one, filters change the figures,
and the CSV under every chart holds exactly the table's rows; no identifier is embedded."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from pathlib import Path

import duckdb
import pytest

from tests.browser_tools import browser_only, choose, open_browser
from tests.qi_cases import indicator_mart
from tests.security.attacker import feasible_ranges, recovered
from trscohort.config import load_config
from trscohort.dashboards import funnel, write_dashboards
from trscohort.dashboards import qi as qi_page
from trscohort.dashboards.client import SHOWN_SMALL, SHOWN_WITHHELD

K = 10
JAN, FEB, MAR, APR = (dt.date(2024, m, 1) for m in (1, 2, 3, 4))

# --------------------------------------------------------------------------- the funnel

# Patients by the deepest funnel step they reach: 1 schizophrenia only, 2 a trial, 3 enough
# failed trials but not TRS ("3p" pseudo-resistant, "3n" not yet), 4 TRS without clozapine,
# 6 an adequate clozapine trial (responder), 7 clozapine-resistant.
DEPTHS = {
    "north": {"1": 11, "2": 11, "3p": 12, "4": 20, "6": 15, "7": 3},
    "south": {"1": 20, "2": 20, "3p": 4, "3n": 11, "4": 12, "6": 25},
    None: {"6": 15},  # patients without a site: hidden, 15 at each of the first six steps
}
# Steps by hand: north 72, 61, 50, 38, 18, 18, 3; south 92, 72, 52, 37, 25, 25, 0; all sites
# 179, 148, 117, 90, 58, 58, 3; no drop-out between two steps is 1..10 (but the last: north
# 15, all sites 55). Pseudo-resistant: north 12, south 4, all sites 16. Responders: north 15,
# south 25, all sites 55; clozapine-resistant: north 3, all sites 3.
ALL_SITES_STEPS = [179, 148, 117, 90, 58, 58, 3]


def funnel_warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging; CREATE SCHEMA marts")
    con.execute("CREATE TABLE staging.patients (patient_id VARCHAR, site VARCHAR)")
    con.execute(
        "CREATE TABLE marts.patient_trs_status (patient_id VARCHAR, schizophrenia_dx BOOLEAN, "
        "n_trials INTEGER, n_distinct_failed_drugs INTEGER, trs_status VARCHAR, "
        "clozapine_start_date DATE, clozapine_without_documented_trs BOOLEAN)"
    )
    con.execute(
        "CREATE TABLE marts.patient_clozapine_status (patient_id VARCHAR, "
        "clozapine_status VARCHAR, adequate_trial_date DATE)"
    )
    status = {6: "responder", 7: "clozapine_resistant"}
    patients, trs, clozapine = [], [], []
    for site, depths in DEPTHS.items():
        for kind, n in depths.items():
            depth = int(kind[0])
            for i in range(n):
                pid = f"PX{site or 'none'}{kind}{i:03d}"
                patients.append((pid, site))
                trs_status = "trs" if depth >= 4 else "not_trs"
                trs_status = "pseudo_resistant" if kind == "3p" else trs_status
                started = dt.date(2023, 1, 1) if depth >= 5 else None
                trs.append(
                    (pid, True, int(depth >= 2), 2 * (depth >= 3), trs_status, started, False)
                )
                if depth >= 5:
                    clozapine.append((pid, status[depth], dt.date(2023, 6, 1)))
    con.executemany("INSERT INTO staging.patients VALUES (?, ?)", patients)
    con.executemany("INSERT INTO marts.patient_trs_status VALUES (?, ?, ?, ?, ?, ?, ?)", trs)
    con.executemany("INSERT INTO marts.patient_clozapine_status VALUES (?, ?, ?)", clozapine)
    return con


@pytest.fixture(scope="module")
def funnel_case():
    con = funnel_warehouse()
    return con, funnel.client_data(con, load_config())


def _funnel_cells(data: dict) -> dict:
    sites = [*data["sites"], "*"]
    return {(sites[s], *data["keys"][k]): code for s, k, code in data["counts"]["rows"]}


def test_funnel_counts_by_site_come_from_one_grouped_query_of_the_model(funnel_case):
    con, _ = funnel_case
    config = load_config()
    names, counts = funnel.site_counts(con, config)
    steps = [s for s, kind in names if kind == "funnel"]
    assert len(steps) == 7
    assert [counts["north"][("step", s)] for s in steps] == [72, 61, 50, 38, 18, 18, 3]
    assert [counts["south"][("step", s)] for s in steps] == [92, 72, 52, 37, 25, 25, 0]
    assert [counts["(no site)"].get(("step", s), 0) for s in steps] == [15] * 6 + [0]
    # the all-sites figures of the model itself (rendered over every patient) agree
    model = {s: n for _, s, _, n in funnel._trs_funnel_rows(con, None, config)}
    for step, n in zip(steps[:5], ALL_SITES_STEPS, strict=False):
        assert model[step] == n
    assert model["pseudo-resistant"] == 16


def test_funnel_page_embeds_protected_counts(funnel_case):
    _, data = funnel_case
    cells = _funnel_cells(data)
    steps = [name for kind, name in data["keys"] if kind == "funnel"]
    assert [cells[("*", "funnel", s)] for s in steps] == [*ALL_SITES_STEPS[:6], SHOWN_SMALL]
    assert [cells[("north", "funnel", s)] for s in steps] == [72, 61, 50, 38, 18, 18, SHOWN_SMALL]
    assert [cells[("south", "funnel", s)] for s in steps] == [92, 72, 52, 37, 25, 25, 0]
    # south's 4 pseudo-resistant = all sites 16 - north 12 (no one without a site): north's
    # count, the smallest shown part, is withheld
    assert cells[("south", "aside", "pseudo-resistant")] == SHOWN_SMALL
    assert cells[("north", "aside", "pseudo-resistant")] == SHOWN_WITHHELD
    assert cells[("*", "aside", "pseudo-resistant")] == 16
    assert cells[("*", "status", "responder")] == 55
    assert cells[("north", "status", "clozapine resistant")] == SHOWN_SMALL
    assert data["sites"] == ["north", "south"]  # never the patients without a site
    assert not [v for v in cells.values() if 1 <= v <= K]
    assert "PX" not in json.dumps(data)  # no patient identifier


def test_no_funnel_step_or_drop_out_can_be_worked_out(funnel_case):
    """The reader knows the embedded cells, that sites (and the hidden patients without a
    site) add up to all sites, and that each step lies within the one before."""
    con, data = funnel_case
    cells = _funnel_cells(data)
    names, counts = funnel.site_counts(con, load_config())
    steps = [s for s, kind in names if kind == "funnel"]
    shown = {k: v for k, v in cells.items() if v >= 0 and k[1] == "funnel"}
    unknown = {
        k: (1, K) if v == SHOWN_SMALL else (K + 1, math.inf)
        for k, v in cells.items()
        if v < 0 and k[1] == "funnel"
    }
    relations, secret = [], {}
    for site in ["north", "south", "(no site)", "*"]:
        for before, after in zip(steps, steps[1:], strict=False):
            left = ("left", site, after)
            unknown[left] = (0, math.inf)
            relations.append({(site, "funnel", before): -1, (site, "funnel", after): 1, left: 1})
            if site != "*":
                secret[left] = counts[site][("step", before)] - counts[site][("step", after)]
    for step in steps:
        unknown[("(no site)", "funnel", step)] = (0, math.inf)
        relations.append(
            {(s, "funnel", step): 1 for s in ("north", "south", "(no site)")}
            | {("*", "funnel", step): -1}
        )
    ranges = feasible_ranges(shown, unknown, relations)
    targets = [k for k, v in unknown.items() if v[0] >= 1] + [
        k for k, v in secret.items() if 1 <= v <= K
    ]
    assert targets
    assert [k for k in recovered(ranges) if k in targets] == []


# --------------------------------------------------------------------------- quality indicators

QI_CELLS = [
    ("QI-LAX", "all", "north", JAN, 30, 45),  # shown: 66.7 %
    ("QI-LAX", "all", "north", FEB, 5, 20),  # numerator 5: "<11"
    ("QI-LAX", "all", "north", MAR, 19, 23),  # complement 4 (hidden): withheld
    ("QI-LAX", "all", "south", MAR, 0, 8),  # denominator 8: "<11"
    ("QI-LAX", "all", "south", APR, 12, 12),  # complement 0: shown (100 %)
    ("QI-LAX", "osmotic", "north", JAN, 20, 40),
    ("QI-LAX", "stimulant", "north", JAN, 12, 40),
]


@pytest.fixture(scope="module")
def qi_case():
    con = indicator_mart(QI_CELLS)
    return con, qi_page.client_data(con, load_config())


def _qi_cells(data: dict) -> dict:
    sites = [*data["sites"], "*"]
    out = {}
    for s, m, i, st, n, d, x in data["counts"]["rows"]:
        key = (sites[s], data["months"][m], data["indicators"][i]["id"], data["strata"][st])
        out[key] = (n, d, x)
    return out


def test_qi_page_embeds_protected_numerators_and_denominators(qi_case):
    """By hand: north February 5 of 20 ("<11" of 20); north March 19 of 23 gives away the 4
    units not in the numerator, so both counts are withheld; then all sites in March (19 of
    31, south 0 of "<11") would give north's numerator back (19 - 0): withheld too."""
    _, data = qi_case
    cells = _qi_cells(data)
    assert data["sites"] == ["north", "south"]
    assert data["months"] == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert cells[("north", "2024-01", "QI-LAX", "all")] == (30, 45, 0)
    assert cells[("north", "2024-02", "QI-LAX", "all")] == (SHOWN_SMALL, 20, 0)
    assert cells[("north", "2024-03", "QI-LAX", "all")] == (SHOWN_WITHHELD, SHOWN_WITHHELD, 0)
    assert cells[("south", "2024-03", "QI-LAX", "all")] == (0, SHOWN_SMALL, 0)
    assert cells[("*", "2024-03", "QI-LAX", "all")] == (SHOWN_WITHHELD, SHOWN_WITHHELD, 0)
    assert cells[("south", "2024-04", "QI-LAX", "all")] == (12, 12, 0)
    assert cells[("*", "2024-01", "QI-LAX", "osmotic")] == (20, 40, 0)
    assert not [v for c in cells.values() for v in c if 1 <= v <= K]
    assert "C0U" not in json.dumps(data)  # the made-up unit ids


def test_qi_interval_level_is_the_configured_one(qi_case):
    from statsmodels.stats.proportion import proportion_confint

    _, data = qi_case
    assert data["level"] == 0.95
    low, high = proportion_confint(30, 45, alpha=0.05, method="wilson")
    z = data["z"]  # the browser's formula, written out here in Python
    p, z2n = 30 / 45, z * z / 45
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / 45 + z2n / (4 * 45))
    assert (centre - half, centre + half) == pytest.approx((low, high), abs=1e-12)


# --------------------------------------------------------------------------- in the browser

websockets_sync = pytest.importorskip("websockets.sync.client")


@pytest.fixture(scope="module")
def hand_pages(tmp_path_factory, qi_case, funnel_case) -> Path:
    out = tmp_path_factory.mktemp("hand_pages")
    config = load_config()
    write_dashboards(qi_case[0], out / "qi", config=config, pages=["quality_indicators"])
    write_dashboards(funnel_case[0], out / "funnel", config=config, pages=["funnel"])
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    yield from open_browser(tmp_path_factory, "chromium-hand")


def _table(browser, chart_id: str) -> tuple[list[list[str]], list[list[str]]]:
    """(the table's rows as shown, the CSV download's rows), header first in both."""
    text = browser.evaluate(
        f"""(() => {{
        const sec = document.getElementById('table-{chart_id}');
        const t = sec.querySelector('table.data'), a = sec.querySelector('a.csv');
        return JSON.stringify({{
          rows: [...t.rows].map(r => [...r.cells].map(c => c.textContent)),
          csv: decodeURIComponent(a.href.split(',').slice(1).join(','))}});
        }})()"""
    )
    found = json.loads(text)
    return found["rows"], list(csv.reader(io.StringIO(found["csv"])))


def _row(rows: list[list[str]], first: str) -> dict[str, str]:
    header = rows[0]
    (row,) = [r for r in rows[1:] if r[0] == first]
    return dict(zip(header, row, strict=True))


@browser_only
@pytest.mark.parametrize("width", [1440, 390])
def test_hand_built_pages_open_without_errors(browser, hand_pages, width):
    browser.resize(width)
    for page in ("qi/dashboards/quality_indicators.html", "funnel/dashboards/funnel.html"):
        browser.open((hand_pages / page).as_uri())
        state = browser.state()
        assert browser.errors() == []  # no console error, no request beyond file://
        assert state["drawn"] == state["plots"] > 0, state["missing"]


@browser_only
def test_qi_filters_sums_and_csv_in_the_browser(browser, hand_pages):
    from statsmodels.stats.proportion import proportion_confint

    browser.resize(1440)
    browser.open((hand_pages / "qi/dashboards/quality_indicators.html").as_uri())
    browser.state()
    choose(browser, "filter-mode", "all")
    choose(browser, "filter-site", "north")
    rows, csv_rows = _table(browser, "qi_overview")
    assert csv_rows == rows  # the download is exactly the published table
    lax = _row(rows, "QI-LAX")
    # January 30 of 45 + February "<11" of 20 + March withheld: the sums stay suppressed
    assert lax["numerator (n)"] == "suppressed" and lax["denominator (N)"] == "suppressed"
    assert lax["rate %"] == "withheld"
    # January alone (a date range): 30 of 45 with statsmodels' Wilson interval
    choose(browser, "filter-mode", "range")
    choose(browser, "filter-from", "2024-01")
    choose(browser, "filter-to", "2024-01")
    lax = _row(_table(browser, "qi_overview")[0], "QI-LAX")
    low, high = proportion_confint(30, 45, alpha=0.05, method="wilson")
    assert (lax["numerator (n)"], lax["denominator (N)"], lax["rate %"]) == ("30", "45", "66.7")
    assert lax["95 % CI"] == f"{100 * low:.1f}-{100 * high:.1f}"
    # south over all time: 0 + 12 shown, "<11" + 12 suppressed: no rate
    choose(browser, "filter-mode", "all")
    choose(browser, "filter-site", "south")
    lax = _row(_table(browser, "qi_overview")[0], "QI-LAX")
    assert (lax["numerator (n)"], lax["denominator (N)"], lax["rate %"]) == (
        "12",
        "suppressed",
        "withheld",
    )
    # the month chart follows the filters: April only shown for south in 2024-Q2
    choose(browser, "filter-mode", "quarter")
    choose(browser, "filter-quarter", "2024-Q2")
    months, _ = _table(browser, "qi_lax_by_month")
    assert [r[:4] for r in months[1:]] == [["2024-04", "12", "12", "100.0"]]
    # the previous period beside it (2024-Q1): a second trace and its columns
    browser.evaluate(
        "(() => { const c = document.getElementById('filter-compare'); c.checked = true;"
        " c.dispatchEvent(new Event('change')); })()"
    )
    names = json.loads(
        browser.evaluate(
            "JSON.stringify(document.getElementById('chart-qi_overview').data"
            ".filter(t => t.type === 'bar').map(t => t.name))"
        )
    )
    assert len(names) == 2 and names[1].startswith("previous period, 2024-01 to 2024-03")
    lax = _row(_table(browser, "qi_overview")[0], "QI-LAX")
    # south in 2024-Q1: March alone, 0 of "<11" (one suppressed cell keeps its own label)
    assert (lax["previous n / N"], lax["previous rate %"]) == ("0 / <11", "withheld")
    assert browser.errors() == []


@browser_only
def test_browser_wilson_interval_is_statsmodels(browser, hand_pages):
    from statsmodels.stats.proportion import proportion_confint

    browser.open((hand_pages / "qi/dashboards/quality_indicators.html").as_uri())
    browser.state()
    cases = [(0, 1), (1, 1), (0, 12), (12, 12), (30, 45), (5, 20), (499, 500), (7, 1000)]
    found = json.loads(
        browser.evaluate(
            f"JSON.stringify({json.dumps(cases)}.map(([n, N]) => QI.wilson(n, N, FILTER.D.z)))"
        )
    )
    for (n, total), interval in zip(cases, found, strict=True):
        assert interval == pytest.approx(
            list(proportion_confint(n, total, alpha=0.05, method="wilson")), abs=1e-12
        ), (n, total)


@browser_only
def test_funnel_site_filter_and_csv_in_the_browser(browser, hand_pages):
    browser.resize(1440)
    browser.open((hand_pages / "funnel/dashboards/funnel.html").as_uri())
    browser.state()
    rows, csv_rows = _table(browser, "cohort_funnel")
    assert csv_rows == rows
    assert [r[1] for r in rows[1:]] == ["179", "148", "117", "90", "58", "58", "<11"]
    assert _row(rows, "TRS")["% of previous step"] == "76.9 %"  # 90 / 117
    choose(browser, "filter-site", "south")
    rows, csv_rows = _table(browser, "cohort_funnel")
    assert csv_rows == rows
    assert [r[1] for r in rows[1:]] == ["92", "72", "52", "37", "25", "25", "0"]
    asides, _ = _table(browser, "funnel_asides")
    assert _row(asides, "pseudo-resistant")["patients (n)"] == "<11"
    text = browser.evaluate("document.body.innerText")
    assert not re.search(r"\bPX", text)
    assert browser.errors() == []
