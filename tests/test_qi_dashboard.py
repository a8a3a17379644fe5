"""The quality-indicators dashboard page (issue 18): each indicator by site and month with its
definition and the suppression rule; small counts never reach a figure."""

from __future__ import annotations

import datetime as dt
import html
import json

import pytest

from tests.qi_cases import indicator_mart
from trscohort import qi
from trscohort.config import load_config
from trscohort.dashboards import PAGES, write_dashboards
from trscohort.dashboards import qi as qi_page
from trscohort.dashboards.privacy import suppression_rule

JAN, FEB, MAR, APR = (dt.date(2024, m, 1) for m in (1, 2, 3, 4))


@pytest.fixture(scope="module")
def mart():
    return indicator_mart(
        [
            ("QI-LAX", "all", "north", JAN, 30, 45),  # shown: 66.7 %
            ("QI-LAX", "all", "north", FEB, 5, 20),  # numerator 5: withheld
            ("QI-LAX", "all", "north", MAR, 19, 23),  # complement 4: withheld
            ("QI-LAX", "all", "south", MAR, 0, 8),  # denominator 8: "<11"
            ("QI-LAX", "all", "south", APR, 12, 12),  # complement 0: shown (100 %)
            ("QI-LAX", "osmotic", "north", JAN, 20, 40),
            ("QI-LAX", "stimulant", "north", JAN, 12, 40),
        ]
    )


def test_the_page_is_registered_and_reads_only_the_aggregate_mart():
    assert qi_page.PAGE in PAGES
    assert qi_page.PAGE.reads == ("marts.qi_indicators",)
    ids = [c.id for c in qi_page.PAGE.client.charts]
    assert [c.id for c in qi_page.PAGE.charts] == ["qi_definitions"]  # the only static chart
    assert len(ids) == len(set(ids)) and ids[0] == "qi_overview"
    for d in qi.definitions():
        slug = d.id.removeprefix("QI-").lower().replace("-", "_")
        assert f"qi_{slug}_by_month" in ids
        assert (f"qi_{slug}_by_stratum" in ids) is bool(d.strata)


def test_month_by_month_withholds_rates_on_small_counts(mart):
    config = load_config()
    fig = qi_page.fig_qi_by_month(mart, "QI-LAX", site="north", config=config)
    bars, line = fig.data
    assert list(line.x) == ["2024-01", "2024-02", "2024-03"]
    assert list(line.y) == [66.67, None, None]
    low, high = qi.wilson(30, 45)
    assert line.error_y.arrayminus[0] == pytest.approx(66.67 - 100 * low, abs=0.01)
    assert line.error_y.array[0] == pytest.approx(100 * high - 66.67, abs=0.01)
    assert list(line.text) == [
        f"66.7 % (95 % CI {100 * low:.1f}-{100 * high:.1f}; 30 of 45)",
        "withheld (denominator 20)",
        "withheld (denominator 23)",
    ]
    assert list(bars.text) == ["45", "20", "23"]
    published = json.dumps(fig.to_plotly_json()["data"], default=str)
    assert "19" not in published and " 5 " not in published  # the withheld numerators


def test_small_denominators_are_shown_as_below_11_on_a_hatched_marker(mart):
    fig = qi_page.fig_qi_by_month(mart, "QI-LAX", site="south", config=load_config())
    bars, marker, line = fig.data
    # the suppressed count's own bar is empty (never 0); a marker bar carries "<11"
    assert list(bars.text) == [None, "12"] and list(bars.y) == [None, 12]
    assert list(marker.x) == ["2024-03"] and list(marker.text) == ["<11"]
    assert marker.marker.pattern.shape == "/"
    assert list(line.y) == [None, 100.0]
    assert line.text[0] == "withheld (denominator <11)"


def test_all_sites_and_period_filters(mart):
    config = load_config()
    fig = qi_page.fig_qi_by_month(mart, "QI-LAX", config=config)
    assert list(fig.data[0].text) == ["45", "20", "31", "12"]  # March: 23 + 8 over both sites
    fig = qi_page.fig_qi_by_month(mart, "QI-LAX", period="2024-03", config=config)
    assert list(fig.data[1].x) == ["2024-03"]
    nobody = qi_page.fig_qi_by_month(mart, "QI-POLY", config=config)
    assert list(nobody.data[0].text) == ["0"]
    assert nobody.layout.annotations[0].text.startswith("Nobody in this selection (unit: ")


def test_overview_and_strata(mart):
    config = load_config()
    overview = qi_page.fig_qi_overview(mart, site="north", config=config).data[0]
    cells = dict(zip(overview.cells.values[0], overview.cells.values[2], strict=True))
    low, high = qi.wilson(54, 88)
    assert cells["QI-LAX"] == f"61.4 % (95 % CI {100 * low:.1f}-{100 * high:.1f}; 54 of 88)"
    assert cells["QI-POLY"] == "no patients"
    strata = qi_page.fig_qi_by_stratum(mart, "QI-LAX", site="north", config=config).data[0]
    assert list(strata.x) == ["osmotic", "stimulant"] and list(strata.y) == [50.0, 30.0]


def test_definitions_table_shows_each_definition_with_the_run_thresholds(mart):
    config = json.loads(load_config().to_json())
    config["qi"]["laxative_window_days"] = 21
    table = qi_page.fig_qi_definitions(mart, config=config).data[0]
    columns = table.cells.values
    assert [c.split("<br>")[0] for c in columns[0]] == [d.id for d in qi.definitions()]
    lax = [d.id for d in qi.definitions()].index("QI-LAX")
    assert columns[1][lax] == qi.definition("QI-LAX").numerator
    assert "laxative_window_days = 21" in columns[4][lax]


def test_written_page_states_definitions_and_the_suppression_rule(mart, tmp_path):
    config = load_config()
    published = write_dashboards(
        mart, tmp_path, config=config, pages=["quality_indicators"], check_privacy=False
    )
    page = (published.directory / "quality_indicators.html").read_text()
    assert "Small-count suppression" in page
    assert html.escape(suppression_rule(config)) in page
    for d in qi.definitions():
        assert f"{d.id} (version {d.version})" in page
    assert "Nobody in this selection" in page


def test_run_summary_lists_each_indicator_overall(mart):
    from trscohort.summary import qi_summary

    lines = qi_summary(mart)
    assert lines[0].startswith("Quality indicators (all sites and months")
    assert len(lines) == 1 + len(qi.definitions())
    low, high = qi.wilson(66, 108)  # 30 + 5 + 19 + 0 + 12 of 45 + 20 + 23 + 8 + 12
    assert lines[1 + [d.id for d in qi.definitions()].index("QI-LAX")].split() == [
        "QI-LAX", "66", "of", "108", "61.1", "%", f"({100 * low:.1f}-{100 * high:.1f})"
    ]  # fmt: skip
    assert lines[1 + [d.id for d in qi.definitions()].index("QI-POLY")].split() == [
        "QI-POLY", "0", "of", "0", "-"
    ]  # fmt: skip


def _mart_of_rows(rows: list[tuple]) -> object:
    """The mart's table with these (site, month, numerator, denominator, excluded) rows of
    QI-LAX, stratum all, each a site x month row (no patient behind them)."""
    con = indicator_mart([("QI-LAX", "all", "north", JAN, 1, 2)])  # the mart's own columns
    con.execute("DELETE FROM marts.qi_indicators")
    con.executemany(
        "INSERT INTO marts.qi_indicators (indicator_id, stratum, site, all_sites, month, "
        "all_months, numerator, denominator, excluded, n_values) "
        "VALUES ('QI-LAX', 'all', ?, FALSE, ?, FALSE, ?, ?, ?, 0)",
        rows,
    )
    return con


def test_parts_with_nothing_small_are_the_rows_protect_would_give():
    """January: nothing small (shown as it is, straight to rows); February: a numerator of 3
    (its counts protected, its exclusions all 0 as they are); March: 2 excluded (the other way
    round); April: both small. A patient without a site (NULL) counts in all sites only."""
    from trscohort.dashboards.client import protect_in_parts
    from trscohort.dashboards.common import ALL_SITES, NO_SITE
    from trscohort.publication.suppression import Hierarchy

    rows = [
        ("north", JAN, 40, 100, 0), ("south", JAN, 50, 120, 20), (None, JAN, 30, 60, 0),
        ("north", FEB, 3, 50, 0), ("south", FEB, 45, 90, 0),
        ("north", MAR, 40, 100, 2), ("south", MAR, 50, 120, 0),
        ("north", APR, 5, 5, 1), ("south", APR, 30, 40, 0),
    ]  # fmt: skip
    con = _mart_of_rows(rows)
    data = qi_page.client_data(con, load_config())
    found = data["counts"]["rows"]
    lax = [i["id"] for i in data["indicators"]].index("QI-LAX")
    assert [-1, 0, lax, 0, 120, 280, 20] in found  # January, all sites: NULL site's 30 of 60 in
    assert [0, 0, lax, 0, 40, 100, 0] in found and [1, 0, lax, 0, 50, 120, 20] in found
    assert [r for r in found if r[1] == 1 and r[0] == 0][0][4] == -1  # February's 3: "<11"
    # every part through protect_in_parts, as the page did before parts were told apart
    leaves = {}
    for site, month, numerator, denominator, excluded in rows:
        cell = (site or NO_SITE, month.isoformat()[:7], "QI-LAX", "all")
        leaves[(*cell, qi_page.NUMERATOR)] = numerator
        leaves[(*cell, qi_page.NOT_NUMERATOR)] = denominator - numerator
        leaves[(*cell, qi_page.EXCLUDED)] = excluded
    indicators = [i["id"] for i in data["indicators"]]
    cells = protect_in_parts(
        "reference",
        leaves,
        [
            Hierarchy.flat([*data["sites"], NO_SITE], ALL_SITES),
            Hierarchy.roots(data["months"]),
            Hierarchy.roots(indicators),
            Hierarchy.roots(data["strata"]),
            Hierarchy(
                {
                    qi_page.NUMERATOR: qi_page.DENOMINATOR,
                    qi_page.NOT_NUMERATOR: qi_page.DENOMINATOR,
                    qi_page.DENOMINATOR: None,
                    qi_page.EXCLUDED: None,
                }
            ),
        ],
        part_of=lambda key: (*key[1:4], key[4] == qi_page.EXCLUDED),
        small_max=10,
        published=lambda key: key[0] != NO_SITE and key[4] != qi_page.NOT_NUMERATOR,
    )
    expected = qi_page._count_rows(
        cells,
        {ALL_SITES: -1, **{s: i for i, s in enumerate(data["sites"])}},
        {m: i for i, m in enumerate(data["months"])},
        {x: i for i, x in enumerate(indicators)},
        {x: i for i, x in enumerate(data["strata"])},
    )
    assert found == expected
