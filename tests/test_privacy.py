"""Small-count suppression and the privacy of every published byte (issue 6)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import duckdb
import pytest
from plotly.offline import get_plotlyjs

from trscohort.config import Config, load_config
from trscohort.dashboards import PrivacyError, privacy, write_dashboards
from trscohort.dashboards.privacy import check_published, count, share

try:  # `tests` is importable as a package only when the repository root is on sys.path
    from tests.dashboard_cases import published_site
except ModuleNotFoundError:
    from dashboard_cases import published_site

CONFIG = load_config()


def with_publication(**values) -> Config:
    data = json.loads(CONFIG.to_json())
    data["publication"].update(values)
    return Config(data)


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("n", "label", "value"),
    [(0, "0", 0), (1, "<11", None), (10, "<11", None), (11, "11", 11), (1234, "1,234", 1234)],
)
def test_counts_1_to_10_are_shown_as_below_11(n, label, value):
    c = count(n, CONFIG)
    assert (c.label, c.value) == (label, value)
    assert c.plot_value == (value or 0)


def test_threshold_comes_from_config():
    cfg = with_publication(small_count_max=5)
    assert count(5, cfg).label == "<6"
    assert count(6, cfg).label == "6"
    assert "publication.small_count_max = 5" in privacy.suppression_rule(cfg)


@pytest.mark.parametrize(
    ("num", "den", "shown"),
    [
        (50, 100, True),
        (5, 100, False),  # numerator small
        (0, 8, False),  # denominator small
        (95, 100, False),  # complement (5 missed) small
        (89, 100, True),
        (0, 100, True),  # nothing observed of 100: no small count
        (100, 100, True),
        (0, 0, False),  # nothing due
    ],
)
def test_percentages_are_withheld_on_small_counts(num, den, shown):
    s = share(num, den, CONFIG)
    assert (s.pct is not None) is shown
    if not shown:
        assert "%" not in s.label


def test_rates_are_withheld_on_small_event_counts():
    assert privacy.rate_allowed(0, CONFIG)
    assert not privacy.rate_allowed(1, CONFIG)
    assert not privacy.rate_allowed(10, CONFIG)
    assert privacy.rate_allowed(11, CONFIG)


def _patients(*rows: tuple[str, str]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging")
    con.execute("CREATE TABLE staging.patients (patient_id VARCHAR, birth_date DATE)")
    con.executemany("INSERT INTO staging.patients VALUES (?, CAST(? AS DATE))", rows)
    return con


def test_identifier_scan_matches_whole_ids_and_birth_dates(tmp_path):
    page = tmp_path / "p.html"
    page.write_text("<p>week P10 and colour #P1A; born 1980-01-02</p>")
    check_published(_patients(("P1", "1970-05-05")), [page])  # neither P1 nor its birth date
    with pytest.raises(PrivacyError, match=r"p.html \(1 patient id\)"):
        check_published(_patients(("P10", "1970-05-05")), [page])
    with pytest.raises(PrivacyError, match=r"p.html \(1 birth date\)"):
        check_published(_patients(("P7", "1980-01-02")), [page])


def test_writer_refuses_to_publish_an_identifier_without_quoting_it(tmp_path):
    con = _patients(("P0000042", "1980-01-02"))
    page = tmp_path / "leak.html"
    page.write_text("<p>P0000042</p>")
    with pytest.raises(PrivacyError) as caught:
        check_published(con, [page])
    assert "leak.html" in str(caught.value) and "P0000042" not in str(caught.value)


# --------------------------------------------------------------------------- published files


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, Path]:
    return published_site(tmp_path_factory.getbasetemp())


def _input_identifiers(warehouse: Path) -> tuple[set[str], set[str]]:
    """Every patient_id in every input extract file, and every birth date, read from the CSVs."""
    ids, births = set(), set()
    for path in (warehouse.parent / "input").glob("*.csv"):
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                if row.get("patient_id"):
                    ids.add(row["patient_id"])
                if path.stem == "patients" and row.get("birth_date"):
                    births.add(row["birth_date"])
    return ids, births


def test_no_patient_id_or_birth_date_in_any_published_byte(site):
    warehouse, directory = site
    ids, births = _input_identifiers(warehouse)
    assert len(ids) >= 300 and births
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    assert len(files) >= 7
    id_pattern = re.compile("|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True)))
    birth_pattern = re.compile("|".join(re.escape(b) for b in births))
    for path in files:
        text = path.read_bytes().decode("utf-8")
        assert not id_pattern.search(text), f"{path.name}: {id_pattern.search(text).group(0)}"
        if path.name == "plotly.min.js":
            # the vendor bundle, byte for byte as shipped by plotly: it holds no data (it
            # happens to contain dates such as 2000-01-01 of its own)
            assert text == get_plotlyjs()
        else:
            assert not birth_pattern.search(text), f"{path.name}: birth date"


def test_no_exact_date_except_the_as_of_date_and_configuration(site):
    """Calendar aggregation is by month (YYYY-MM); an exact date is never an individual's."""
    warehouse, directory = site
    with duckdb.connect(str(warehouse), read_only=True) as con:
        as_of = con.execute("SELECT as_of_date FROM audit.run_parameters").fetchone()[0]
    allowed = {as_of.isoformat(), *re.findall(r"\d{4}-\d{2}-\d{2}", CONFIG.to_json())}
    for path in directory.glob("*.html"):
        dates = set(re.findall(r"(?<![\d-])\d{4}-\d{2}-\d{2}(?![\d-])", path.read_text()))
        assert dates <= allowed, f"{path.name}: {sorted(dates - allowed)[:5]}"


def _published_charts(directory: Path) -> dict[str, dict]:
    charts = {}
    for path in directory.glob("*.html"):
        match = re.search(
            r'<script type="application/json" id="chart-data">(.*?)</script>',
            path.read_text(),
            re.S,
        )
        if match:
            charts.update(json.loads(match.group(1).replace("<\\/", "</")))
    return charts


COUNT_CHARTS = (  # the other pages' counts are in their embedded tables (below)
    "chart-quarantine_by_extract",
)


def test_no_count_from_1_to_10_in_any_published_count_chart(site):
    charts = _published_charts(site[1])
    assert set(COUNT_CHARTS) <= set(charts)
    checked = 0
    for chart_id in COUNT_CHARTS:
        for variant in charts[chart_id]["variants"].values():
            for trace in variant.get("figure", {}).get("data", []):
                values = trace.get(
                    "x" if trace.get("orientation") == "h" or trace["type"] == "funnel" else "y", []
                )
                numbers = [v for v in values if isinstance(v, int | float)]
                assert not [v for v in numbers if 1 <= v <= 10], (chart_id, trace.get("name"))
                checked += len(numbers)
    # Data-quality counts are not patient counts (never suppressed); the time to action moved
    # into the ANC page's embedded table (issue 16), checked below.
    assert checked > 10


# Columns of the embedded tables that are not counts: indices into the page's lists, medians and
# person-years (person-time rounded to publication.person_time_unit_years, shown only beside a
# shown event count with more than small_count_max patients at risk).
NOT_COUNTS = {
    "site", "month", "rule", "flag", "key", "indicator", "stratum", "median", "q1", "q3",
    "start year", "event", "person-years", "category and action", "year", "week band",
    "category", "days to action", "severity",
}  # fmt: skip


def test_no_count_from_1_to_10_in_the_embedded_aggregate_tables(site):
    """Issue 16: the tables the browser filters hold counts or suppression codes (-1 "<11",
    -2 "withheld"), never a count from 1 to 10."""
    checked, pages = 0, set()
    for path in site[1].glob("*.html"):
        match = re.search(r'id="page-data">(.*?)</script>', path.read_text(), re.S)
        if not match:
            continue
        data = json.loads(match.group(1).replace("<\\/", "</"))
        for table in data.values():
            if not (isinstance(table, dict) and "rows" in table and "columns" in table):
                continue
            counts = [i for i, c in enumerate(table["columns"]) if c not in NOT_COUNTS]
            for row in table["rows"]:
                values = [row[i] for i in counts]
                assert not [v for v in values if 1 <= v <= 10], (path.name, row)
                checked += len(values)
            pages.add(path.name)
    assert checked > 100
    assert {
        "funnel.html", "quality_indicators.html", "monitoring.html", "adverse_events.html",
        "anc.html",
    } <= pages  # fmt: skip


def test_withheld_rates_carry_no_number(site):
    """Adverse events (issue 16: rates computed in the page): a cell whose events are
    suppressed carries no person-time, so the page cannot compute its rate; person-time is
    published in whole units of publication.person_time_unit_years (10)."""
    text = (site[1] / "adverse_events.html").read_text()
    match = re.search(r'id="page-data">(.*?)</script>', text, re.S)
    data = json.loads(match.group(1).replace("<\\/", "</"))
    withheld = shown = 0
    assert data["personTimeUnit"] == 10
    for *_, code, person_years in data["cells"]["rows"]:
        if code < 0:
            assert person_years is None
            withheld += 1
        elif person_years is not None:
            assert person_years > 0 and person_years % 10 == 0
            shown += 1
    assert withheld and shown


def test_data_quality_observed_values_are_not_published(site):
    text = (site[1] / "safety_quality.html").read_text()
    assert "expect_column_values_to_not_be_null" in text
    assert "born" not in text and "e.g." not in text


def test_a_higher_threshold_suppresses_more(site, tmp_path):
    warehouse, _ = site
    cfg = with_publication(small_count_max=50)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        published = write_dashboards(con, tmp_path, config=cfg, pages=["funnel"])
    text = (published.directory / "funnel.html").read_text()
    assert "&lt;51" in text or "<51" in text
    assert "publication.small_count_max = 50" in text
