"""ANC categories by treatment week band, drawn in the browser (issue 16): the embedded cells
are the protected results table (site x year x week band x category, with all sites and all
weeks), protected year by year together with the monthly abnormal results (a category's months
add up to its year), so the page holds no per-site x year figure and neither table gives a
suppressed cell of the other back. Numbers known by hand (k = 10).

2022, week 1 (February): north normal 40 + mild 20, south normal 25 + mild 15 (no small count);
2024, week 2 (March): north normal 30 + severe 3 (small), south normal 50 + severe 20;
2023, week 1 (May): north normal 12.
"""

from __future__ import annotations

import itertools
import json

import duckdb
import pytest

from tests.security.attacker import code_range, feasible_ranges, recovered
from trscohort.config import load_config
from trscohort.dashboards import anc
from trscohort.dashboards.client import SHOWN_SMALL, SHOWN_WITHHELD

K = 10
ROWS = [  # patient, site, collected, treatment week, category, results
    ("PAT-N-1", "north", "2022-02-01", 1, "normal", 40),
    ("PAT-N-1", "north", "2022-02-02", 1, "mild", 20),
    ("PAT-S-1", "south", "2022-02-01", 1, "normal", 25),
    ("PAT-S-1", "south", "2022-02-02", 1, "mild", 15),
    ("PAT-N-2", "north", "2024-03-01", 2, "normal", 30),
    ("PAT-N-2", "north", "2024-03-02", 2, "severe", 3),
    ("PAT-S-2", "south", "2024-03-01", 2, "normal", 50),
    ("PAT-S-2", "south", "2024-03-02", 2, "severe", 20),
    ("PAT-N-3", "north", "2023-05-01", 1, "normal", 12),
]


def warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging; CREATE SCHEMA marts; CREATE SCHEMA audit")
    con.execute("CREATE TABLE audit.run_parameters AS SELECT DATE '2024-12-31' AS as_of_date")
    con.execute("CREATE TABLE staging.patients (patient_id VARCHAR, site VARCHAR)")
    con.executemany(
        "INSERT INTO staging.patients VALUES (?, ?)", sorted({(r[0], r[1]) for r in ROWS})
    )
    con.execute("CREATE TABLE staging.prescriptions AS SELECT DATE '2022-01-10' AS start_date")
    con.execute(
        "CREATE TABLE marts.anc_results (patient_id VARCHAR, collected_date DATE, "
        "treatment_week INTEGER, anc_category VARCHAR, required_action VARCHAR)"
    )
    con.executemany(
        "INSERT INTO marts.anc_results VALUES (?, ?, ?, ?, '')",
        [(p, d, w, c) for p, _, d, w, c, n in ROWS for _ in range(n)],
    )
    return con


@pytest.fixture(scope="module")
def data() -> dict:
    return anc.client_data(warehouse(), load_config())["weeks"]


def _cells(data: dict) -> dict:
    out = {}
    for s, y, b, c, code in data["rows"]:
        site = "*" if s == -1 else ["north", "south"][s]
        year = "*" if y == -1 else data["years"][y]
        band = "*" if b == -1 else data["bands"][b]
        out[(site, year, band, data["categories"][c])] = code
    return out


def test_week_bands_and_categories_in_reading_order(data):
    assert data["years"] == ["2022", "2023", "2024"]
    assert data["bands"] == ["1", "2"]
    assert data["categories"] == ["normal", "mild", "severe"]  # the ANC table's order


def test_shares_per_week_band_by_hand(data):
    cells = _cells(data)

    def shares(site, year, band):
        n = {c: cells.get((site, year, band, c), 0) for c in data["categories"]}
        if min(n.values()) < 0:  # a suppressed category: the band is withheld as a whole
            return "withheld"
        total = sum(n.values())
        return {c: round(100 * v / total, 1) for c, v in n.items() if v}

    assert shares("*", "2022", "1") == {"normal": 65.0, "mild": 35.0}
    assert shares("north", "2022", "1") == {"normal": 66.7, "mild": 33.3}
    assert shares("south", "2022", "1") == {"normal": 62.5, "mild": 37.5}  # 25 / 40, 15 / 40
    assert shares("north", "2024", "2") == "withheld"  # severe 3: "<11"
    assert cells[("north", "2023", "1", "normal")] == 12
    assert cells[("*", "2022", "*", "mild")] == 35  # all weeks: the category total
    assert not [k for k in cells if k[1] == "*"]  # all years: summed in the page


def test_suppression_codes_by_hand(data):
    cells = _cells(data)
    assert cells[("north", "2024", "2", "severe")] == SHOWN_SMALL  # 3 results
    assert cells[("north", "2024", "*", "severe")] == SHOWN_SMALL  # the same 3
    # south 20 + north 3 = 23: one of the two others must be withheld
    assert SHOWN_WITHHELD in (
        cells[("south", "2024", "2", "severe")],
        cells[("*", "2024", "2", "severe")],
    )
    assert not [v for v in cells.values() if 1 <= v <= K]


def _month_cells(got: dict) -> dict:
    names = ["*", *got["sites"]]
    return {
        (names[s + 1], got["months"][m], "all" if k == -1 else tuple(got["categories"][k])): code
        for s, m, k, code in got["results"]["rows"]
    }


def test_attacker_recovers_nothing_from_both_tables():
    """The reader knows both tables: sites add up to all sites, bands to all weeks; a month's
    abnormal keys and its hidden normal results to its results; and a category's months to its
    year's all-weeks cell (the patients without a site: none, and the reader is told so)."""
    got = anc.client_data(warehouse(), load_config())
    data, cells, months = got["weeks"], _cells(got["weeks"]), _month_cells(got)
    sites, years, bands = ["north", "south"], data["years"], data["bands"]
    keys = [tuple(k) for k in got["categories"]]
    shown, unknown = {}, {}

    def see(cell, code):
        low, high = code_range(code, K)
        (shown.__setitem__(cell, low) if low == high else unknown.__setitem__(cell, (low, high)))

    for key in itertools.product(["*", *sites], years, ["*", *bands], data["categories"]):
        see(("w", *key), cells.get(key, 0))
    for site, month in itertools.product(["*", *sites], got["months"]):
        for k in [*keys, "all"]:
            see(("m", site, month, k), months.get((site, month, k), 0))
        unknown[("m", site, month, "normal")] = (0, float("inf"))  # never published
    relations = []
    for y, b, c in itertools.product(years, ["*", *bands], data["categories"]):
        relations.append({**{("w", s, y, b, c): 1 for s in sites}, ("w", "*", y, b, c): -1})
    for s, y, c in itertools.product(["*", *sites], years, data["categories"]):
        relations.append({**{("w", s, y, b, c): 1 for b in bands}, ("w", s, y, "*", c): -1})
    for month, k in itertools.product(got["months"], [*keys, "all", "normal"]):
        relations.append({**{("m", s, month, k): 1 for s in sites}, ("m", "*", month, k): -1})
    for s, month in itertools.product(["*", *sites], got["months"]):
        parts = {("m", s, month, k): 1 for k in [*keys, "normal"]}
        relations.append({**parts, ("m", s, month, "all"): -1})
    for s, y, c in itertools.product(["*", *sites], years, data["categories"]):
        of_year = [m for m in got["months"] if m.startswith(y)]
        ks = ["normal"] if c == "normal" else [k for k in keys if k[0] == c]
        parts = {("m", s, m, k): 1 for m in of_year for k in ks}
        relations.append({**parts, ("w", s, y, "*", c): -1})
    ranges = feasible_ranges(shown, unknown, relations)
    suppressed = [k for k, v in unknown.items() if v[0] >= 1]
    assert len(suppressed) >= 3
    assert [k for k in recovered(ranges) if k in suppressed] == []


def test_no_identifier_and_no_per_site_year_figure():
    con = warehouse()
    text = json.dumps(anc.client_data(con, load_config()))
    assert "PAT-" not in text
    assert "anc_categories_by_week" not in {c.id for c in anc.PAGE.charts}
    assert "anc_categories_by_week" in {c.id for c in anc.PAGE.client.charts}


def test_category_patients_by_hand():
    """Distinct patients per category (a patient counts once in each): 5 patients had a
    normal result (all small here), and every patient count is a code, never 1-10."""
    got = anc.client_data(warehouse(), load_config())
    categories = got["weeks"]["categories"]
    cells = {(s, y, categories[c]): code for s, y, c, code in got["categoryPatients"]["rows"]}
    assert cells[(-1, -1, "normal")] == SHOWN_SMALL  # N-1, N-2, N-3, S-1, S-2
    assert cells[(-1, -1, "severe")] == SHOWN_SMALL  # N-2, S-2
    assert not [v for v in cells.values() if 1 <= v <= K]
    assert "anc_category_totals" in {c.id for c in anc.PAGE.client.charts}


def test_results_protected_category_by_category_make_the_same_decisions():
    """Categories are never added up in a relation, so the table is protected one category at
    a time (faster); the decisions are those of protecting the whole table."""
    from trscohort.dashboards.client import protect_table_in_parts
    from trscohort.publication.suppression import CountTable, protect

    con, config = warehouse(), load_config()
    table = anc.results_table(con, config)
    whole = protect(table, K)
    parts = protect_table_in_parts(table, lambda key: key[3], K)
    assert parts.status == whole.status
    assert sum(1 for s in parts.status.values() if s.value in ("primary", "secondary")) >= 3
    patients = anc.patients_table(con, config)
    by_year_category = protect_table_in_parts(patients, lambda key: (key[1], key[2]), K)
    assert by_year_category.status == protect(patients, K).status
    crossing = CountTable("crossing")
    for key, value in (("a",), 5), (("b",), 20), (("total",), 25):
        crossing.add(key, value)
    crossing.add_sum(("total",), [("a",), ("b",)])
    with pytest.raises(ValueError, match="ties two parts"):
        protect_table_in_parts(crossing, lambda key: key[0], K)


def test_category_patients_table_by_hand():
    """The unprotected counts: north had 3 patients with a normal result over all years (N-1
    in 2022, N-3 in 2023, N-2 in 2024), one a year; N-1's 40 normal results count once; a
    result without a date counts in all years only (N-3's extra mild result)."""
    con = warehouse()
    con.execute("INSERT INTO marts.anc_results VALUES ('PAT-N-3', NULL, 1, 'mild', '')")
    values = anc.patients_table(con, load_config()).values
    assert values[("north", "*", "normal")] == 3
    assert values[("north", "2022", "normal")] == values[("north", "2024", "normal")] == 1
    assert values[("north", "*", "mild")] == 2  # N-1 (2022) and N-3 (no date)
    assert values[("north", "2022", "mild")] == 1
    assert values.get(("north", "2023", "mild"), 0) == 0
    assert values[("*", "*", "severe")] == 2
    assert values[("*", "*", "normal")] == 5
