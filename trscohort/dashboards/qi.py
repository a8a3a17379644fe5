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

import numpy as np
import plotly.graph_objects as go

from trscohort import qi
from trscohort.dashboards import privacy
from trscohort.dashboards.client import ClientChart, ClientPage, protect_in_parts
from trscohort.dashboards.common import (
    ALL_SITES,
    NO_SITE,
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
from trscohort.publication.suppression import Hierarchy

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


# --------------------------------------------------------------------------- browser-side page

NUMERATOR, NOT_NUMERATOR, DENOMINATOR, EXCLUDED = "numerator", "not", "denominator", "excluded"
N_VALUES = "n_values"


def _client_sites(con) -> list[str]:
    """The sites of the mart (not the patients without one, whose rows stay hidden)."""
    rows = con.execute(
        f"SELECT DISTINCT site FROM {QI_MART} WHERE NOT all_sites AND site IS NOT NULL "
        f"AND site <> {sql_text(NO_SITE)} ORDER BY site"
    ).fetchall()
    return [str(r[0]) for r in rows]


# The mart's site x month rows: numerator, denominator and exclusions of every unit counted.
_MART_ROWS = (
    "SELECT coalesce(site, ?) AS site, strftime(month, '%Y-%m') AS month, indicator_id, "
    "stratum, CAST(coalesce(numerator, 0) AS BIGINT) AS numerator, "
    "CAST(coalesce(denominator, 0) AS BIGINT) AS denominator, "
    f"CAST(coalesce(excluded, 0) AS BIGINT) AS excluded FROM {QI_MART} "
    "WHERE NOT all_sites AND NOT all_months AND month IS NOT NULL "
    "AND (denominator > 0 OR excluded > 0)"
)


def _client_leaves(con, small_max: int) -> tuple[dict[tuple, int], dict[str, np.ndarray]]:
    """({(site, month, indicator, stratum, measure): units} to protect, every row of the mart
    as columns with `has_small`), from the mart's site x month rows (one query).

    A month, indicator and stratum has two parts: its counts (numerator and `not` =
    denominator - numerator, a hidden cell) and its exclusions. Where no count of either lies
    in 1..k, both are shown as they are (`client.protect_in_parts` would not solve them
    either): on a big warehouse that is most of them, and their rows are kept as columns, not
    as a cell each. The others' cells go to `protect_in_parts`."""
    small = f"BETWEEN 1 AND {int(small_max)}" if small_max > 0 else "< 0"
    rows = con.execute(
        f"""
        WITH leaf AS ({_MART_ROWS})
        SELECT *,
            bool_or(numerator < 0 OR denominator - numerator < 0 OR excluded < 0
                    OR numerator {small} OR denominator - numerator {small} OR excluded {small})
                OVER (PARTITION BY month, indicator_id, stratum) AS has_small
        FROM leaf
        """,
        [NO_SITE],
    ).fetchnumpy()
    leaves: dict[tuple, int] = {}
    cells = zip(rows["site"], rows["month"], rows["indicator_id"], rows["stratum"], strict=True)
    for cell, numerator, denominator, excluded, has_small in zip(
        cells,
        rows["numerator"].tolist(),
        rows["denominator"].tolist(),
        rows["excluded"].tolist(),
        rows["has_small"].tolist(),
        strict=True,
    ):
        if has_small:
            leaves[(*cell, NUMERATOR)] = numerator
            leaves[(*cell, NOT_NUMERATOR)] = denominator - numerator
            leaves[(*cell, EXCLUDED)] = excluded
    return leaves, rows


def _client_values(con, small_max: int, site_dim: Hierarchy) -> dict[tuple[str, str], list]:
    """{(site, indicator): [n_values code, median, q1, q3]} over all months, stratum 'all':
    the number of values protected across sites; the median only beside a shown count."""
    rows = con.execute(
        f"SELECT coalesce(site, {sql_text(NO_SITE)}), indicator_id, n_values, value_median, "
        f"value_q1, value_q3 FROM {QI_MART} WHERE NOT all_sites AND all_months "
        "AND stratum = 'all' AND n_values > 0"
    ).fetchall()
    leaves = {(site, indicator): int(n) for site, indicator, n, *_ in rows}
    cells = protect_in_parts(
        "quality indicator values",
        leaves,
        [site_dim, Hierarchy.roots(sorted({k[1] for k in leaves}))],
        part_of=lambda key: key[1],
        small_max=small_max,
        published=lambda key: key[0] != NO_SITE,
    )
    stats = {(site, indicator): rest for site, indicator, _n, *rest in rows}
    stats.update(
        {
            (ALL_SITES, r[0]): r[1:]
            for r in con.execute(
                f"SELECT indicator_id, value_median, value_q1, value_q3 FROM {QI_MART} "
                "WHERE all_sites AND all_months AND stratum = 'all' AND n_values > 0"
            ).fetchall()
        }
    )
    out = {}
    for key, (_value, code) in cells.items():
        if code >= 0 and key in stats and stats[key][0] is not None:
            out[key] = [code, *(round(float(v), 4) for v in stats[key])]
        elif code < 0:
            out[key] = [code, None, None, None]
    return out


def _count_rows(
    cells: Mapping[tuple, tuple[int, int]],
    site_index: Mapping[str, int],
    month_index: Mapping[str, int],
    indicator_index: Mapping[str, int],
    stratum_index: Mapping[str, int],
) -> list[list[int]]:
    """[site, month, indicator, stratum, numerator, denominator, excluded] (embedded values)
    of every published cell with a denominator or exclusions, sorted (by the positions)."""
    none = (0, 0)
    rows = []
    for key, (value, code) in cells.items():
        if key[4] != DENOMINATOR:
            continue
        site, month, indicator, stratum, _ = key
        excluded = cells.get((site, month, indicator, stratum, EXCLUDED), none)
        if value > 0 or excluded[0] > 0:
            numerator = cells.get((site, month, indicator, stratum, NUMERATOR), none)
            rows.append(
                [
                    site_index[site],
                    month_index[month],
                    indicator_index[indicator],
                    stratum_index[stratum],
                    numerator[1],
                    code,
                    excluded[1],
                ]
            )
    rows.sort()  # lists of whole numbers: a third of the time of sorting the keys' strings
    return rows


def _rows_as_they_are(mart: Mapping[str, np.ndarray], shown: np.ndarray, index: dict) -> np.ndarray:
    """The count rows (`_count_rows`' columns) of the months, indicators and strata where
    nothing is small, neither counts nor exclusions: each site's row as the mart has it (every
    row has a denominator or exclusions) and all sites added up, as whole-number columns."""
    positions = [
        np.fromiter(map(index[c].get, mart[c][shown].tolist()), np.int64, int(shown.sum()))
        for c in ("site", "month", "indicator_id", "stratum")
    ]
    counts = [mart[c][shown].astype(np.int64) for c in ("numerator", "denominator", "excluded")]
    by_site = np.column_stack([*positions, *counts])
    by_site = by_site[mart["site"][shown] != NO_SITE]
    sizes = [len(index[c]) for c in ("month", "indicator_id", "stratum")]
    group = (positions[1] * sizes[1] + positions[2]) * sizes[2] + positions[3]
    found, at = np.unique(group, return_inverse=True)
    sums = np.zeros((len(found), 3), np.int64)
    np.add.at(sums, at, np.column_stack(counts))
    month, rest = np.divmod(found, sizes[1] * sizes[2])
    indicator, stratum = np.divmod(rest, sizes[2])
    all_sites = np.column_stack([np.full(len(found), -1), month, indicator, stratum, sums])
    all_sites = all_sites[(sums[:, 1] > 0) | (sums[:, 2] > 0)]
    return np.concatenate([by_site, all_sites])


def client_data(con, config: Mapping[str, Any]) -> dict:
    """The page's aggregate table: numerator, denominator and exclusions by site (and all
    sites) x month x indicator x stratum, protected part by part (one month, indicator and
    stratum, the exclusions apart: no relation crosses them); `not in the numerator` is a hidden cell, so that a
    small complement (19 of 23) is never given away. The browser sums months and computes the
    Wilson interval from the summed n and N (the mart's formula, `trscohort.qi.wilson`)."""
    config = resolve_config(con, config)
    require(con, QI_MART, COLUMNS)
    small_max = privacy.small_count_max(config)
    site_list = _client_sites(con)
    site_dim = Hierarchy.flat([*site_list, NO_SITE], ALL_SITES)
    leaves, mart = _client_leaves(con, small_max)
    months = sorted(set(mart["month"].tolist()))
    defs = qi.definitions()
    known = [d.id for d in defs]
    indicators = known + sorted(set(mart["indicator_id"].tolist()) - set(known))
    strata = ["all", *sorted(set(mart["stratum"].tolist()) - {"all"})]
    measure_dim = Hierarchy(
        {NUMERATOR: DENOMINATOR, NOT_NUMERATOR: DENOMINATOR, DENOMINATOR: None, EXCLUDED: None}
    )
    cells = protect_in_parts(
        "quality indicators",
        leaves,
        [
            site_dim,
            Hierarchy.roots(months),
            Hierarchy.roots(indicators),
            Hierarchy.roots(strata),
            measure_dim,
        ],
        part_of=lambda key: (*key[1:4], key[4] == EXCLUDED),  # no relation ties them either
        small_max=small_max,
        published=lambda key: key[0] != NO_SITE and key[4] != NOT_NUMERATOR,
    )
    as_they_are = ~mart["has_small"]  # nothing to protect: straight to rows
    site_index = {ALL_SITES: -1, **{s: i for i, s in enumerate(site_list)}}
    month_index = {m: i for i, m in enumerate(months)}
    indicator_index = {x: i for i, x in enumerate(indicators)}
    stratum_index = {x: i for i, x in enumerate(strata)}
    index = {
        "site": {**site_index, NO_SITE: -2},
        "month": month_index,
        "indicator_id": indicator_index,
        "stratum": stratum_index,
    }
    found = np.concatenate(
        [
            np.array(
                _count_rows(cells, site_index, month_index, indicator_index, stratum_index),
                np.int64,
            ).reshape(-1, 7),
            _rows_as_they_are(mart, as_they_are, index),
        ]
    )
    rows = found[np.lexsort(found.T[::-1])].tolist()  # as sorting the lists would
    values = _client_values(con, small_max, site_dim)
    level = float(config["qi"]["ci_level"])
    by_id = {d.id: d for d in defs}
    return {
        "sites": site_list,
        "months": months,
        "strata": strata,
        "level": level,
        "z": qi.z_value(level),
        "indicators": [
            {
                "id": x,
                "title": by_id[x].title if x in by_id else x,
                "higherIsBetter": by_id[x].higher_is_better if x in by_id else True,
                "version": by_id[x].version if x in by_id else "",
                "unit": by_id[x].unit if x in by_id else "",
                "stratified": bool(by_id[x].strata) if x in by_id else False,
                "slug": _slug(x),
            }
            for x in indicators
        ],
        "counts": {
            "columns": ["site", "month", "indicator", "stratum", NUMERATOR, DENOMINATOR, EXCLUDED],
            "rows": rows,
        },
        "values": {
            "columns": ["site", "indicator", N_VALUES, "median", "q1", "q3"],
            "rows": [
                [site_index[s], indicator_index[i], *v]
                for (s, i), v in sorted(values.items())
                if i in indicator_index
            ],
        },
    }


# --------------------------------------------------------------------------- the page


def _slug(indicator_id: str) -> str:
    return indicator_id.removeprefix("QI-").lower().replace("-", "_")


def _client_charts() -> tuple[ClientChart, ...]:
    """The overview, then each indicator by month and, when stratified, by stratum."""
    charts = [
        ClientChart(
            "qi_overview",
            "overview",
            "All indicators",
            "Rate over the selected months with its Wilson interval (recomputed from the summed "
            "numerator and denominator), units excluded, and the median of each indicator's "
            "value (all time only: a median cannot be summed over months).",
        )
    ]
    for d in qi.definitions():
        charts.append(
            ClientChart(f"qi_{_slug(d.id)}_by_month", "month", f"{d.id}: {d.title}", d.text())
        )
        if d.strata:
            charts.append(
                ClientChart(
                    f"qi_{_slug(d.id)}_by_stratum",
                    "stratum",
                    f"{d.id} by stratum",
                    f"Strata: {d.strata}. The selected months.",
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
        "definition file the warehouse was built from. Counts of 1-10 are shown as \u201c<11\u201d, "
        "with complementary suppression, and a rate resting on a suppressed count is withheld "
        "(see the suppression rule below). Filters are computed in your browser from the "
        "published table."
    ),
    charts=(
        Chart(
            fig_qi_definitions,
            "Definitions",
            "From trscohort/sql/intermediate/qi_*.definition.yml; thresholds from the "
            "configuration used.",
            filters=(),
            reads=(QI_MART,),
        ),
    ),
    client=ClientPage(build=client_data, reads=(QI_MART,), charts=_client_charts()),
)
