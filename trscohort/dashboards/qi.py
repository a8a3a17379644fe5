"""Quality-improvement indicators page (QI-*, issue 18): each indicator by site and month, with
its definition and the suppression rule.

Reads only the aggregate `marts.qi_indicators` (never the patient-level
`marts.qi_indicator_patients`, which is for internal review). The definitions shown come from the
same files the mart is built from (`trscohort.qi`, one `qi_*.definition.yml` beside each SQL
model); the thresholds shown are those of the configuration the warehouse was built with.

Publication rule (`trscohort.dashboards.privacy`): numerators and denominators of 1-10 are shown
as "<11"; a rate and its interval are withheld when the numerator, the denominator or their
difference is such a count; a median and quartiles are withheld when they summarise 1-10 values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from trscohort import qi
from trscohort.dashboards import privacy
from trscohort.dashboards.common import (
    Chart,
    Page,
    Period,
    base_layout,
    count_bars,
    filter_note,
    period_bounds,
    require,
    resolve_config,
    sql_text,
)

QI_MART = "marts.qi_indicators"
COLUMNS = ("indicator_id", "stratum", "site", "all_sites", "month", "all_months", "numerator")
LINE = "#1d3557"
BAR = "#a8dadc"


# --------------------------------------------------------------------------- reading the mart


def _site_filter(site: str | None) -> str:
    return "all_sites" if site is None else f"NOT all_sites AND site = {sql_text(site)}"


def _period_filter(period: Period) -> str:
    bounds = period_bounds(period)
    if bounds is None:
        return "TRUE"
    return f"month >= DATE '{bounds[0].isoformat()}' AND month < DATE '{bounds[1].isoformat()}'"


def monthly_counts(
    con, indicator_id: str, *, site: str | None = None, period: Period = None, stratum: str = "all"
) -> list[tuple[dt.date, int, int]]:
    """(month, numerator, denominator) of one indicator and stratum, month by month."""
    require(con, QI_MART, COLUMNS)
    return con.execute(
        f"SELECT month, numerator, denominator FROM {QI_MART} WHERE indicator_id = ? "
        f"AND stratum = ? AND NOT all_months AND {_site_filter(site)} AND {_period_filter(period)} "
        "ORDER BY month",
        [indicator_id, stratum],
    ).fetchall()


def totals(con, *, site: str | None = None, period: Period = None) -> dict[tuple[str, str], dict]:
    """{(indicator, stratum): numerator, denominator, excluded and, over all months, the value's
    median and quartiles} for the site (all sites when None) and period (all months when None)."""
    require(con, QI_MART, COLUMNS)
    if period is None:
        rows = con.execute(
            f"SELECT indicator_id, stratum, numerator, denominator, excluded, n_values, "
            f"value_median, value_q1, value_q3 FROM {QI_MART} WHERE all_months AND "
            f"{_site_filter(site)}"
        ).fetchall()
    else:  # sums over the period's months: a median cannot be summed
        rows = con.execute(
            f"SELECT indicator_id, stratum, sum(numerator), sum(denominator), sum(excluded), "
            f"0, NULL, NULL, NULL FROM {QI_MART} WHERE NOT all_months AND {_site_filter(site)} "
            f"AND {_period_filter(period)} GROUP BY 1, 2"
        ).fetchall()
    names = ("numerator", "denominator", "excluded", "n_values", "median", "q1", "q3")
    return {(r[0], r[1]): dict(zip(names, r[2:], strict=True)) for r in rows}


# --------------------------------------------------------------------------- publishable text


def rate_label(numerator: int, denominator: int, config: Mapping[str, Any]) -> str:
    """ "45.0 % (95 % CI 31.2-59.5; 9 of 20)"; when the rate is withheld only the denominator is
    shown, since a numerator beside it would give away a small complement (19 of 23 = 4 not)."""
    share = privacy.share(numerator, denominator, config)
    if share.pct is None:
        return f"withheld (denominator {share.denominator.label})" if denominator else "no patients"
    level = float(config["qi"]["ci_level"])
    low, high = qi.wilson(numerator, denominator, level)
    counts = f"{share.numerator.label} of {share.denominator.label}"
    return f"{share.pct:.1f} % ({100 * level:g} % CI {100 * low:.1f}-{100 * high:.1f}; {counts})"


def value_label(row: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """Median (quartiles) of the indicator's value, withheld over 1-10 values."""
    n = int(row.get("n_values") or 0)
    if row.get("median") is None or n == 0:
        return ""
    if privacy.is_small(n, config):
        return f"withheld ({privacy.suppressed_label(config)} values)"
    return f"{row['median']:.4g} ({row['q1']:.4g}-{row['q3']:.4g}; n = {n:,})"


def thresholds_note(definition: qi.Definition, config: Mapping[str, Any], sep: str = ", ") -> str:
    """The config keys the indicator reads, with this run's values (`qi.` left out)."""
    return sep.join(f"{k.removeprefix('qi.')} = {v}" for k, v in definition.thresholds(config))


# --------------------------------------------------------------------------- figures


def _table(header: list[str], columns: list[list[str]], widths: list[int]) -> go.Table:
    return go.Table(
        columnwidth=widths,
        header={
            "values": header,
            "fill_color": "#1d3557",
            "font": {"color": "white"},
            "align": "left",
        },
        cells={"values": columns, "align": "left", "font": {"size": 11}},
    )


def fig_qi_overview(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Every indicator: rate with its Wilson interval, numerator of denominator, exclusions and
    the value's median (all months only)."""
    config = resolve_config(con, config)
    found = totals(con, site=site, period=period)
    rows = []
    for d in qi.definitions():
        row = found.get((d.id, "all"), {"numerator": 0, "denominator": 0, "excluded": 0})
        rows.append(
            [
                d.id,
                d.title,
                rate_label(int(row["numerator"] or 0), int(row["denominator"] or 0), config),
                privacy.count(row["excluded"], config).label,
                value_label(row, config),
                "higher" if d.higher_is_better else "lower",
                d.version,
            ]
        )
    header = ["indicator", "title", "rate", "excluded", "value: median (IQR)", "better", "version"]
    columns = [[r[i] for r in rows] for i in range(len(header))]
    fig = go.Figure(_table(header, columns, [70, 220, 190, 60, 120, 50, 50]))
    base_layout(fig, f"Quality indicators{filter_note(site, period)}", height=160 + 46 * len(rows))
    return fig


def fig_qi_definitions(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """The definition of every indicator, from its definition file, with this run's thresholds."""
    config = resolve_config(con, config)
    defs = qi.definitions()
    header = [
        "indicator",
        "numerator",
        "denominator, exclusions",
        "look-back",
        "thresholds",
        "source",
    ]
    columns = [
        [f"{d.id}<br>version {d.version}" for d in defs],
        [d.numerator for d in defs],
        [
            f"{d.denominator} Unit: {d.unit}. Exclusions: {'; '.join(d.exclusions) or 'none'}."
            for d in defs
        ],
        [f"{d.look_back}. Month: {d.month}." for d in defs],
        [thresholds_note(d, config, "<br>") for d in defs],
        [d.source for d in defs],
    ]
    fig = go.Figure(_table(header, columns, [80, 230, 230, 130, 220, 170]))
    base_layout(fig, "Indicator definitions", height=1900)
    return fig


def _nobody(definition: qi.Definition, site: str | None, period: Period) -> go.Figure:
    """An indicator nobody qualifies for in the selection: a zero bar and a sentence."""
    fig = go.Figure(
        count_bars(
            ["all months"],
            [privacy.Count(0, "0")],
            colour=BAR,
            name="denominator",
            hover="%{x}: %{text} in the denominator<extra></extra>",
        )
    )
    base_layout(fig, f"{definition.id}{filter_note(site, period)}", height=300)
    fig.update_yaxes(title="denominator", range=[0, 1])
    fig.add_annotation(
        text=f"Nobody in this selection (unit: {definition.unit}).",
        x=0.5,
        y=0.6,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 14, "color": "#6c757d"},
    )
    return fig


def fig_qi_by_month(
    con,
    indicator_id: str,
    *,
    site: str | None = None,
    period: Period = None,
    config: Mapping[str, Any] | None = None,
) -> go.Figure:
    """One indicator month by month: the denominator as bars (counts of 1-10 shown as "<11") and
    the rate with its Wilson interval as a line; a month whose rate would rest on a count of 1-10
    is withheld (a gap in the line)."""
    config = resolve_config(con, config)
    definition = qi.definition(indicator_id)
    cells = monthly_counts(con, indicator_id, site=site, period=period)
    if not cells:
        return _nobody(definition, site, period)
    level = float(config["qi"]["ci_level"])
    months, rates, lows, highs, texts = [], [], [], [], []
    for month, numerator, denominator in cells:
        share = privacy.share(numerator, denominator, config)
        months.append(month.isoformat()[:7])
        texts.append(rate_label(numerator, denominator, config))
        if share.pct is None:
            rates.append(None)
            lows.append(None)
            highs.append(None)
            continue
        low, high = qi.wilson(numerator, denominator, level)
        rates.append(round(share.pct, 2))
        lows.append(round(share.pct - 100 * low, 2))
        highs.append(round(100 * high - share.pct, 2))
    denominators = [privacy.count(c[2], config) for c in cells]
    fig = go.Figure()
    fig.add_traces(
        count_bars(
            months,
            denominators,
            colour=BAR,
            name="denominator",
            hover="%{x}: %{customdata} in the denominator<extra></extra>",
            config=config,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=months,
            y=rates,
            yaxis="y2",
            mode="lines+markers",
            connectgaps=False,
            line={"color": LINE},
            error_y={"type": "data", "array": highs, "arrayminus": lows, "color": LINE},
            text=texts,
            hovertemplate="%{x}: %{text}<extra></extra>",
            name=f"rate ({100 * level:g} % Wilson interval)",
        )
    )
    better = "higher" if definition.higher_is_better else "lower"
    title = f"{indicator_id} by month ({better} is better){filter_note(site, period)}"
    base_layout(
        fig,
        title,
        height=400,
        yaxis2={
            "title": "% of the denominator",
            "overlaying": "y",
            "side": "right",
            "range": [0, 105],
            "tickvals": [0, 20, 40, 60, 80, 100],
            "showgrid": False,
        },
    )
    fig.update_layout(yaxis={"title": "denominator", "rangemode": "tozero"})
    fig.update_xaxes(title="month", type="category")
    return fig


def fig_qi_by_stratum(
    con,
    indicator_id: str,
    *,
    site: str | None = None,
    period: Period = None,
    config: Mapping[str, Any] | None = None,
) -> go.Figure:
    """One indicator's breakdown (laxative kind, augmentation kind, delay band, ...) over the
    selection: the rate of each stratum with its interval, withheld on small counts."""
    config = resolve_config(con, config)
    definition = qi.definition(indicator_id)
    found = totals(con, site=site, period=period)
    strata = sorted(s for (i, s) in found if i == indicator_id and s != "all")
    if not strata:
        return _nobody(definition, site, period)
    level = float(config["qi"]["ci_level"])
    rates, lows, highs, texts = [], [], [], []
    for stratum in strata:
        row = found[(indicator_id, stratum)]
        numerator, denominator = int(row["numerator"] or 0), int(row["denominator"] or 0)
        share = privacy.share(numerator, denominator, config)
        texts.append(rate_label(numerator, denominator, config))
        if share.pct is None:
            rates.append(0)
            lows.append(0)
            highs.append(0)
            continue
        low, high = qi.wilson(numerator, denominator, level)
        rates.append(round(share.pct, 2))
        lows.append(round(share.pct - 100 * low, 2))
        highs.append(round(100 * high - share.pct, 2))
    fig = go.Figure(
        go.Bar(
            x=strata,
            y=rates,
            text=[
                "withheld" if "withheld" in t else f"{r:.1f} %"
                for t, r in zip(texts, rates, strict=True)
            ],
            textposition="outside",
            marker={"color": LINE},
            error_y={"type": "data", "array": highs, "arrayminus": lows},
            customdata=texts,
            hovertemplate="%{x}: %{customdata}<extra></extra>",
        )
    )
    base_layout(fig, f"{indicator_id} by stratum, all months{filter_note(site, period)}")
    fig.update_yaxes(title="% of the denominator", range=[0, 110])
    return fig


# --------------------------------------------------------------------------- the page


def _slug(indicator_id: str) -> str:
    return indicator_id.removeprefix("QI-").lower().replace("-", "_")


def _indicator_charts(definition: qi.Definition) -> tuple[Chart, ...]:
    """The month-by-month chart (by site) and, for a stratified indicator, its breakdown."""

    def by_month(con, *, site=None, period=None, config=None) -> go.Figure:
        return fig_qi_by_month(con, definition.id, site=site, period=period, config=config)

    by_month.__name__ = f"fig_qi_{_slug(definition.id)}_by_month"
    charts = [
        Chart(
            by_month,
            f"{definition.id}: {definition.title}",
            definition.text(),
            filters=("site",),
            reads=(QI_MART,),
        )
    ]
    if definition.strata:

        def by_stratum(con, *, site=None, period=None, config=None) -> go.Figure:
            return fig_qi_by_stratum(con, definition.id, site=site, period=period, config=config)

        by_stratum.__name__ = f"fig_qi_{_slug(definition.id)}_by_stratum"
        charts.append(
            Chart(
                by_stratum,
                f"{definition.id} by stratum",
                f"Strata: {definition.strata}. All months of the selection.",
                filters=("site",),
                reads=(QI_MART,),
            )
        )
    return tuple(charts)


PAGE = Page(
    slug="quality_indicators",
    title="Quality indicators",
    summary=(
        "Quality-improvement indicators of clozapine and TRS care (QI-*): each indicator's rate "
        "by site and month with its Wilson 95 % interval, its breakdowns, and its definition "
        "(numerator, denominator, exclusions, look-back, source, version) as written in the "
        "definition file the warehouse was built from. Counts of 1-10 are shown as \u201c<11\u201d "
        "and a rate resting on one is withheld (see the suppression rule below)."
    ),
    charts=(
        Chart(
            fig_qi_overview,
            "All indicators",
            "Rate with its Wilson interval, numerator of denominator, units excluded and the "
            "median of each indicator's value (all months only). A period sums its months.",
            reads=(QI_MART,),
        ),
        Chart(
            fig_qi_definitions,
            "Definitions",
            "From trscohort/sql/intermediate/qi_*.definition.yml; thresholds from the "
            "configuration used.",
            filters=(),
            reads=(QI_MART,),
        ),
        *(chart for d in qi.definitions() for chart in _indicator_charts(d)),
    ),
)
