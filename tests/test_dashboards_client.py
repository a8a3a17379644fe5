"""Issue 16: the monitoring page's aggregate table, filtered in the browser.

Hand-built windows whose counts are known: the embedded cells went through primary and
complementary suppression (no count 1..10 is embedded, nothing suppressed can be worked out
from the embedded cells and the relations a reader knows), patients without a site never
appear, and the patient-level "fully adherent" counts follow the definition."""

from __future__ import annotations

import math

import duckdb
import pytest

from tests.security.attacker import feasible_ranges, recovered
from trscohort.config import load_config
from trscohort.dashboards import monitoring
from trscohort.dashboards.client import SHOWN_SMALL, SHOWN_WITHHELD

K = 10


def _warehouse(windows: list[tuple[str, str, str, bool, int]], sites: dict[str, str | None]):
    """staging.patients (id, site) and intermediate.monitoring_windows: each window row
    (patient, month, rule, observed) repeated `n` times (one window per day of the month)."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging; CREATE SCHEMA intermediate")
    con.execute("CREATE TABLE staging.patients (patient_id VARCHAR, site VARCHAR)")
    con.executemany("INSERT INTO staging.patients VALUES (?, ?)", list(sites.items()))
    con.execute(
        "CREATE TABLE intermediate.monitoring_windows (patient_id VARCHAR, rule_id VARCHAR, "
        "window_start DATE, is_observed BOOLEAN)"
    )
    rows = []
    for patient, month, rule, observed, n in windows:
        rows += [(patient, rule, f"{month}-{1 + i % 28:02d}", observed) for i in range(n)]
    con.executemany("INSERT INTO intermediate.monitoring_windows VALUES (?, ?, ?, ?)", rows)
    return con


def _cells(data: dict) -> dict:
    """{(site, month, rule, measure): embedded value} from the page data."""
    names = ["observed", "missed", "expected"]
    out = {}
    for s, m, r, *values in data["windows"]["rows"]:
        site = "*" if s == -1 else data["sites"][s]
        for name, v in zip(names, values, strict=True):
            out[(site, data["months"][m], data["rules"][r], name)] = v
    return out


@pytest.fixture
def small_site_case():
    """north: 50 observed, 3 missed MON-ANC-1 windows in 2024-03; south: 40 observed, 20
    missed; a patient without a site: 30 observed. All sites: 120 observed, 23 missed."""
    con = _warehouse(
        [
            ("N1", "2024-03", "MON-ANC-1", True, 50),
            ("N1", "2024-03", "MON-ANC-1", False, 3),
            ("S1", "2024-03", "MON-ANC-1", True, 40),
            ("S1", "2024-03", "MON-ANC-1", False, 20),
            ("X1", "2024-03", "MON-ANC-1", True, 30),
        ],
        {"N1": "north", "S1": "south", "X1": None},
    )
    return monitoring.client_data(con, load_config())


def test_small_count_is_embedded_as_a_code_and_a_complement_withheld(small_site_case):
    cells = _cells(small_site_case)
    assert cells[("north", "2024-03", "MON-ANC-1", "missed")] == SHOWN_SMALL
    # 3 missed = expected - observed: one of north's other two cells must be withheld
    north = [cells[("north", "2024-03", "MON-ANC-1", m)] for m in ("observed", "expected")]
    assert SHOWN_WITHHELD in north
    # and all sites minus south would give north back: something more is withheld
    assert sum(v < 0 for v in cells.values()) >= 3
    assert not [v for v in cells.values() if 1 <= v <= K]
    assert small_site_case["sites"] == ["north", "south"]  # no "(no site)" row


def test_nothing_suppressed_can_be_worked_out_from_the_embedded_table(small_site_case):
    """The reader's linear program over the embedded month: sites add up to all sites (plus
    the hidden patients without a site), observed + missed = expected, the pooled line."""
    cells = _cells(small_site_case)
    shown = {k: v for k, v in cells.items() if v >= 0}
    unknown = {k: ((1, K) if v == SHOWN_SMALL else (K + 1, math.inf)) for k, v in cells.items()}
    unknown = {k: r for k, r in unknown.items() if k not in shown}
    relations = []
    keys = {(k[0], k[1], k[2]) for k in cells}
    for site, month, rule in keys:
        relations.append(
            {
                (site, month, rule, "observed"): 1,
                (site, month, rule, "missed"): 1,
                (site, month, rule, "expected"): -1,
            }
        )
    for measure in ("observed", "missed", "expected"):
        no_site = ("(no site)", "2024-03", "MON-ANC-1", measure)
        unknown[no_site] = (0, math.inf)  # hidden: the reader knows nothing of it
        relations.append(
            {
                ("north", "2024-03", "MON-ANC-1", measure): 1,
                ("south", "2024-03", "MON-ANC-1", measure): 1,
                no_site: 1,
                ("*", "2024-03", "MON-ANC-1", measure): -1,
            }
        )
    # the pooled ANC line (weeks 1 on) is the sum of the phases
    pooled = small_site_case["pooled"]
    for site in ("north", "south", "*"):
        for measure in ("observed", "missed", "expected"):
            relations.append(
                {
                    (site, "2024-03", "MON-ANC-1", measure): 1,
                    (site, "2024-03", pooled, measure): -1,
                }
            )
    ranges = feasible_ranges(shown, unknown, relations)
    assert [k for k in recovered(ranges) if k[0] != "(no site)"] == []


def test_fully_adherent_patients_per_month():
    """P1 every ANC window of March observed, P2 one missed: 1 of 2 fully adherent; both
    small, so both embedded as "<11". At 12 and 11 patients the share is shown."""
    windows = [(f"A{i}", "2024-03", "MON-ANC-1", True, 1) for i in range(12)]
    windows += [(f"B{i}", "2024-03", "MON-ANC-1", True, 1) for i in range(11)]
    windows += [(f"B{i}", "2024-03", "MON-ANC-2", False, 1) for i in range(11)]
    sites = {f"A{i}": "north" for i in range(12)} | {f"B{i}": "north" for i in range(11)}
    data = monitoring.client_data(_warehouse(windows, sites), load_config())
    rows = {(r[0], data["months"][r[1]]): r[2:] for r in data["patients"]["rows"]}
    # the B patients' missed window is MON-ANC-2: counted in the month, so not fully adherent
    assert rows[(0, "2024-03")] == [12, 11, 23]
    assert rows[(-1, "2024-03")] == [12, 11, 23]


def test_months_before_the_first_data_are_not_offered(small_site_case):
    assert small_site_case["months"] == ["2024-03"]
