"""Dashboard pages and figure functions (issue 6): what each page states, filters, targets and
bands from config, and pages that render what exists when a mart is missing."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path

import duckdb
import plotly.graph_objects as go
import pytest

from trscohort.config import Config, load_config
from trscohort.dashboards import PAGES, Unavailable, publish
from trscohort.dashboards.adverse_events import fig_ae_cumulative_incidence, fig_ae_rates
from trscohort.dashboards.common import period_bounds, periods, sites
from trscohort.dashboards.funnel import fig_cohort_funnel, funnel_steps
from trscohort.dashboards.monitoring import (
    fig_anc_adherence_by_month,
    fig_anc_adherence_by_phase,
)
from trscohort.dashboards.publish import PLOTLY_JS
from trscohort.publication import cores
from trscohort.publication.suppression import record_exposed

try:  # `tests` is importable as a package only when the repository root is on sys.path
    from tests.dashboard_cases import BARE_DROP, published_site
except ModuleNotFoundError:
    from dashboard_cases import BARE_DROP, published_site

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, Path]:
    return published_site(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def con(site):
    with duckdb.connect(str(site[0]), read_only=True) as connection:
        yield connection


def config_with(**sections) -> Config:
    data = json.loads(load_config().to_json())
    for section, values in sections.items():
        data[section].update(values)
    return Config(data)


# --------------------------------------------------------------------------- the pages


def test_every_page_is_written_and_linked_from_the_index(site):
    directory = site[1]
    index = (directory / "index.html").read_text()
    for page in PAGES:
        assert (directory / page.file_name).is_file()
        assert f'href="{page.file_name}"' in index
    assert [p.name for p in directory.glob("*.js")] == [PLOTLY_JS]


def test_the_index_shows_the_sum_the_safety_page_publishes(site):
    directory = site[1]
    page = (directory / "safety_quality.html").read_text()
    data = json.loads(
        re.search(r'id="page-data">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</")
    )
    cells = [row[-1] for row in data["raised"]["rows"] if row[0] == -1]
    assert cells, "the test warehouse raises safety flags"
    shown = sum(c for c in cells if c >= 0)
    expected = f"at least {shown:,}" if min(cells) < 0 else f"{shown:,}"
    index = (directory / "index.html").read_text()
    card = re.search(
        r'<div>Safety flags raised</div><div class="value">([^<]*)</div>', index
    ).group(1)
    assert html.unescape(card) == expected


def test_pages_work_offline_with_plotly_beside_them(site):
    for path in site[1].glob("*.html"):
        text = path.read_text()
        sources = re.findall(r'<script[^>]* src="([^"]+)"', text)
        assert sources in ([], [PLOTLY_JS]), path.name
        assert "cdn." not in text and "https://" not in text.split("<pre>")[0]


def test_each_page_states_as_of_inputs_configuration_and_rule(site, con):
    as_of = con.execute("SELECT as_of_date FROM audit.run_parameters").fetchone()[0]
    shas = [
        r[0]
        for r in con.execute("SELECT sha256 FROM audit.ingest_log WHERE sha256 <> ''").fetchall()
    ]
    assert shas
    for path in site[1].glob("*.html"):
        text = path.read_text()
        assert f'<span id="as-of">{as_of.isoformat()}</span>' in text, path.name
        assert all(sha in text for sha in shas), path.name
        assert "Configuration used" in text and "small_count_max" in text
        assert "Small-count suppression" in text and "&lt;11" in text


def test_site_and_period_filters_offered_where_the_data_has_them(site, con):
    assert sites(con) and periods(con)
    # monitoring: the filters are built in the browser from the page's aggregate table
    monitoring = (site[1] / "monitoring.html").read_text()
    data = json.loads(
        re.search(r'id="page-data">(.*?)</script>', monitoring, re.S).group(1).replace("<\\/", "</")
    )
    assert data["sites"] == sites(con)
    assert data["months"][0][:4] <= periods(con)[0]  # from the first month with data
    # ANC (issue 16): the same shared filter, built in the browser from its months and sites
    anc = (site[1] / "anc.html").read_text()
    anc_data = json.loads(
        re.search(r'id="page-data">(.*?)</script>', anc, re.S).group(1).replace("<\\/", "</")
    )
    assert 'id="filter-period"' not in anc and 'id="client-filters"' in anc
    assert anc_data["sites"] == sites(con) and anc_data["months"]
    adverse = (site[1] / "adverse_events.html").read_text()
    assert "filter-site" not in adverse  # the rate marts have no site


def test_missing_marts_become_panels(tmp_path_factory):
    _, directory = published_site(
        tmp_path_factory.getbasetemp(), "bare", standins=False, patients=120, drop=BARE_DROP
    )
    text = (directory / "adverse_events.html").read_text()
    assert text.count("Not available in this warehouse yet") == 1
    assert "needs marts.ae_cumulative_incidence, which this warehouse does not have" in text
    # the person-time and attrition marts are not dropped: the rates (computed in the page
    # from marts.clozapine_person_time, not from marts.ae_rates) and the attrition are drawn
    assert '<div class="plot" id="chart-ae_incidence">' in text
    assert '<div class="plot" id="chart-ae_attrition">' in text
    assert "Not available in this warehouse yet" in (directory / "safety_quality.html").read_text()
    assert 'id="chart-safety_flags"' in (directory / "safety_quality.html").read_text()


def test_pages_built_side_by_side_are_those_built_one_after_another(
    site, con, tmp_path, monkeypatch
):
    """Forked children reading through the parent (two workers) write the same bytes, index
    headlines included, and report the same exposed tables, in page order, as one process."""
    render = publish.render_page

    def exposing(page_con, page, **kwargs):
        record_exposed(f"{page.slug} table", len(page.slug))  # as protect would report it
        return render(page_con, page, **kwargs)

    monkeypatch.setattr(publish, "render_page", exposing)
    built = {}
    for workers in ("1", "2"):
        monkeypatch.setenv(cores.WORKERS_ENV, workers)
        built[workers] = publish.write_dashboards(con, tmp_path / workers)
    one, two = built["1"], built["2"]
    assert sorted(p.name for p in two.files) == sorted(p.name for p in one.files)
    for path in one.files:
        assert (two.directory / path.name).read_bytes() == path.read_bytes(), path.name
    assert two.exposed == one.exposed == [(f"{p.slug} table", len(p.slug)) for p in PAGES]
    assert (two.charts, two.unavailable) == (one.charts, one.unavailable)
    assert "Safety flags raised" in (two.directory / "index.html").read_text()


# --------------------------------------------------------------------------- figure functions


def test_figure_functions_return_figures_for_notebooks(con):
    for page in PAGES:
        for chart in page.charts:
            fig = chart.func(con)
            assert isinstance(fig, go.Figure), chart.id
            assert fig.layout.template.layout.paper_bgcolor is not None  # styled


def test_missing_table_raises_unavailable():
    con = duckdb.connect()
    with pytest.raises(Unavailable, match="needs marts.anc_results"):
        from trscohort.dashboards.anc import fig_anc_categories_by_week

        fig_anc_categories_by_week(con, config=load_config())


def test_funnel_per_site_adds_up_to_the_mart(con):
    overall = funnel_steps(con)
    mart = con.execute("SELECT step, patients FROM marts.trs_funnel ORDER BY step_order").fetchall()
    assert {s["step"]: s["patients"] for s in overall if s["step"] in dict(mart)} == dict(mart)
    per_site = [funnel_steps(con, site=s) for s in sites(con)]
    for i, step in enumerate(overall):
        assert sum(steps[i]["patients"] for steps in per_site) <= step["patients"]
    assert (
        sum(steps[0]["patients"] for steps in per_site) == overall[0]["patients"]
        or (con.execute("SELECT count(*) FROM staging.patients WHERE site IS NULL").fetchone()[0])
    )
    names = [s["step"] for s in overall]
    assert "adequate clozapine trial (CLZ-5)" in names
    assert "clozapine-resistant (CLZ-6)" in names
    assert "pseudo-resistant" in names


def test_funnel_figure_shows_suppressed_steps_as_below_11(con):
    """A suppressed step has no value (never 0) and a hatched marker bar labelled "<11" or
    "withheld" (complementary suppression)."""
    fig = fig_cohort_funnel(con, site=sites(con)[0])
    counts, *markers = fig.data
    suppressed = [y for y, x in zip(counts.y, counts.x, strict=True) if x is None]
    for value in counts.x:
        assert value is None or value == 0 or value > 10
    if suppressed:
        (marker,) = markers
        assert list(marker.y) == suppressed
        assert all(t.startswith(("<11", "withheld")) for t in marker.text)
        assert marker.marker.pattern.shape == "/"


def test_monitoring_target_line_comes_from_config(con):
    fig = fig_anc_adherence_by_phase(
        con, config=config_with(publication={"monitoring_target_pct": 90})
    )
    lines = [s for s in fig.layout.shapes if s.y0 == s.y1]
    assert [s.y0 for s in lines] == [90]
    default = fig_anc_adherence_by_phase(con)
    assert [s.y0 for s in default.layout.shapes if s.y0 == s.y1] == [95]


def test_period_filter_restricts_months(con):
    year = periods(con)[-2]
    fig = fig_anc_adherence_by_month(con, period=year)
    months = {x for trace in fig.data for x in trace.x}
    assert months and all(m.startswith(year) for m in months)


@pytest.mark.parametrize(
    ("period", "bounds"),
    [
        (None, None),
        ("2024", (dt.date(2024, 1, 1), dt.date(2025, 1, 1))),
        ("2024-12", (dt.date(2024, 12, 1), dt.date(2025, 1, 1))),
        ((dt.date(2024, 3, 1), dt.date(2024, 6, 1)), (dt.date(2024, 3, 1), dt.date(2024, 6, 1))),
    ],
)
def test_period_bounds(period, bounds):
    assert period_bounds(period) == bounds


def test_published_ranges_drawn_as_bands_from_config(con):
    fig = fig_ae_cumulative_incidence(con)
    bands = {(s.y0, s.y1) for s in fig.layout.shapes if s.y0 != s.y1}
    assert {(0.8, 2.0), (0.7, 1.2), (1.0, 5.0), (14.0, 60.0)} <= bands
    custom = config_with(publication={"published_ranges_pct": {"AE-NEU": [0.5, 3]}})
    fig = fig_ae_cumulative_incidence(con, config=custom)
    assert {(s.y0, s.y1) for s in fig.layout.shapes if s.y0 != s.y1} == {(0.5, 3.0)}


def test_ranges_are_not_literals_in_code():
    source = (ROOT / "trscohort" / "dashboards" / "adverse_events.py").read_text()
    assert "0.8" not in source and "14, 60" not in source and "1.2" not in source


def test_rates_overall_rows(con):
    fig = fig_ae_rates(con)
    labels = list(fig.data[0].y)
    assert any(label.startswith("AE-NEU") for label in labels)


# --------------------------------------------------------------------------- Dagster and run


def test_dashboards_asset_depends_only_on_marts_that_exist():
    from trscohort.models import SQL_DIR
    from trscohort.orchestration.assets.dashboards import dashboards

    deps = {key.path[0] + "/" + key.path[-1] for key in dashboards.dependency_keys}
    assert "audit/run_parameters" in deps
    for dep in deps - {"audit/run_parameters"}:
        layer, name = dep.split("/")
        assert (SQL_DIR / layer / f"{name}.sql").is_file() or (
            SQL_DIR / layer / f"{name}.yml"
        ).is_file()
    assert "marts/trs_funnel" in deps


def test_dashboards_asset_writes_into_the_settings_out_dir(site, tmp_path):
    from dagster import materialize
    from dagster_duckdb import DuckDBResource

    from trscohort.orchestration.assets.dashboards import dashboards
    from trscohort.orchestration.resources import TrsEngine, TrsSettings

    warehouse = tmp_path / "w.duckdb"  # a copy: the module's read-only connection holds site[0]
    warehouse.write_bytes(site[0].read_bytes())
    result = materialize(
        [dashboards],
        resources={
            "duckdb": DuckDBResource(database=str(warehouse)),
            "settings": TrsSettings(out_dir=str(tmp_path / "out")),
            "engine": TrsEngine(),  # the DuckDB engine (issue 20)
        },
    )
    assert result.success
    assert (tmp_path / "out" / "dashboards" / "index.html").is_file()


@pytest.mark.skipif(
    not (ROOT / "data" / "sample" / "patients.csv").is_file(), reason="no data/sample yet"
)
def test_trscohort_run_writes_the_dashboards(sample_warehouse):
    directory = sample_warehouse.parent / "out" / "dashboards"
    assert (directory / "index.html").is_file()
    for page in PAGES:
        assert (directory / page.file_name).is_file()
    ids = {
        line.split(",")[0]
        for line in (ROOT / "data" / "sample" / "patients.csv").read_text().splitlines()[1:]
    }
    for path in directory.glob("*.html"):
        text = path.read_text()
        assert not [i for i in ids if i in text], path.name


def test_no_cyclic_garbage_collection_while_pages_are_written():
    import gc

    from trscohort.dashboards.common import publishing

    assert gc.isenabled()
    with publishing():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()  # a caller that had it off gets it back off
    try:
        with publishing():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
