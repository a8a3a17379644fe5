"""Monitoring page (MON-*): adherence = observed / expected windows, pooled over patients.

Reads the window-level `intermediate.monitoring_windows` (one row per expected window, observed
or not); without it, the phase chart falls back to the per-patient totals of
`marts.monitoring_adherence`. Calendar aggregation is by the month a window starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from trscohort.dashboards import privacy
from trscohort.dashboards.common import (
    COLOURS,
    Chart,
    Page,
    Period,
    Unavailable,
    base_layout,
    filter_note,
    has_table,
    no_data,
    require,
    resolve_config,
    sites,
    sql_text,
    where,
)

WINDOWS = "intermediate.monitoring_windows"
ADHERENCE = "marts.monitoring_adherence"
GAPS = "marts.monitoring_gaps"

ANC_RULES = ("MON-ANC-0", "MON-ANC-1", "MON-ANC-2", "MON-ANC-3")
OTHER_RULES = {
    "MON-CV-1": "cardiac: baseline ECG, BP, pulse",
    "MON-CV-2": "cardiac: myocarditis screen (troponin, CRP)",
    "MON-MET-1": "metabolic: weight",
    "MON-MET-2": "metabolic: glycaemia and lipids",
    "MON-LVL-1": "clozapine level",
    "MON-LFT-1": "liver function tests",
}
RULE_GROUPS = {
    "MON-ANC": "ANC",
    "MON-CV": "cardiac",
    "MON-MET": "metabolic",
    "MON-LVL": "clozapine level",
    "MON-LFT": "liver",
}


def target_pct(config: Mapping[str, Any]) -> float:
    return float(config.get("publication", {}).get("monitoring_target_pct", 95))


def anc_phase_labels(config: Mapping[str, Any]) -> dict[str, str]:
    """MON-ANC-0..3 labelled from the configured schedule profile (weeks and frequency)."""
    labels = {"MON-ANC-0": "MON-ANC-0 baseline (before first dose)"}
    mon = config.get("monitoring", {})
    profile = mon.get("profiles", {}).get(mon.get("profile", ""), [])
    previous = 0
    for step in profile:
        until = step.get("until_week")
        weeks = f"weeks {previous + 1}\u2013{until}" if until else f"after week {previous}"
        every = {7: "weekly", 14: "every 2 weeks", 28: "every 4 weeks"}.get(
            step.get("every_days"), f"every {step.get('every_days')} days"
        )
        if step.get("calendar_month"):
            every = "monthly (calendar month)"
        labels[step["rule_id"]] = f"{step['rule_id']} {weeks}, {every}"
        previous = until or previous
    for rule in ANC_RULES:
        labels.setdefault(rule, rule)
    return labels


def _windows(con, *, site, period, extra: str = "") -> str:
    require(con, WINDOWS, ("patient_id", "rule_id", "window_start", "is_observed"))
    return (
        f"SELECT * FROM {WINDOWS} WHERE TRUE"
        f"{where(patient_col='patient_id', date_col='window_start', site=site, period=period)}"
        f"{extra}"
    )


def _rule_totals(con, rules, *, site, period, by_site: bool = False) -> dict:
    """{rule_id: (observed, expected)} windows; with by_site {(site, rule_id): ...}."""
    in_rules = ", ".join(sql_text(r) for r in rules)
    key = "p.site, t.rule_id" if by_site else "t.rule_id"
    join = " JOIN staging.patients AS p USING (patient_id)" if by_site else ""
    if has_table(con, WINDOWS):
        sql = (
            f"SELECT {key}, count(*) FILTER (WHERE is_observed), count(*) "
            f"FROM ({_windows(con, site=site, period=period)}) AS t{join} "
            f"WHERE t.rule_id IN ({in_rules}) GROUP BY ALL"
        )
    else:
        if period:
            raise Unavailable(
                f"{WINDOWS} is not available in this warehouse yet (needed for a period filter)."
            )
        require(con, ADHERENCE, ("patient_id", "rule_id", "expected_tests", "observed_tests"))
        sql = (
            f"SELECT {key}, sum(observed_tests), sum(expected_tests) FROM {ADHERENCE} AS t{join} "
            f"WHERE t.rule_id IN ({in_rules})"
            f"{where(patient_col='t.patient_id', date_col=None, site=site, period=None)} "
            f"GROUP BY ALL"
        )
    rows = con.execute(sql).fetchall()
    if by_site:
        return {(s, r): (int(o or 0), int(e or 0)) for s, r, o, e in rows}
    return {r: (int(o or 0), int(e or 0)) for r, o, e in rows}


def _pct_bars(labels, shares, *, config, colour="#457b9d", name=None) -> go.Bar:
    return go.Bar(
        x=labels,
        y=[s.pct if s.pct is not None else 0 for s in shares],
        text=[s.label if s.pct is None else f"{s.pct:.1f} %" for s in shares],
        customdata=[s.label for s in shares],
        textposition="outside",
        hovertemplate="%{x}: %{customdata}<extra></extra>",
        marker={"color": colour},
        name=name,
    )


def _target_line(fig: go.Figure, config) -> None:
    target = target_pct(config)
    fig.add_hline(
        y=target,
        line={"dash": "dash", "color": COLOURS["target"]},
        annotation_text=f"target {target:g} %",
        annotation_position="top left",
    )


def fig_anc_adherence_by_phase(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """ANC monitoring adherence (observed / expected windows) per schedule phase, with target."""
    config = resolve_config(con, config)
    totals = _rule_totals(con, ANC_RULES, site=site, period=period)
    labels = anc_phase_labels(config)
    rules = [r for r in ANC_RULES if r in totals]
    shares = [privacy.share(*totals[r], config) for r in rules]
    fig = go.Figure(_pct_bars([labels[r] for r in rules], shares, config=config))
    base_layout(fig, f"ANC monitoring adherence by phase{filter_note(site, period)}")
    fig.update_yaxes(title="% of expected windows with an ANC", range=[0, 110])
    _target_line(fig, config)
    if not rules:
        no_data(fig)
    return fig


def fig_anc_adherence_by_month(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """ANC adherence by calendar month of the window start, per phase, with the target line."""
    config = resolve_config(con, config)
    in_rules = ", ".join(sql_text(r) for r in ANC_RULES[1:])
    rows = con.execute(
        f"SELECT strftime(window_start, '%Y-%m') AS month, coalesce(rule_id, 'all'), "
        f"count(*) FILTER (WHERE is_observed), count(*) "
        f"FROM ({_windows(con, site=site, period=period)}) WHERE rule_id IN ({in_rules}) "
        f"GROUP BY GROUPING SETS ((month, rule_id), (month)) ORDER BY month"
    ).fetchall()
    labels = {"all": "all ANC windows (weeks 1 on)", **anc_phase_labels(config)}
    fig = go.Figure()
    months = sorted({r[0] for r in rows})
    withheld = 0
    lines = zip(("all", *ANC_RULES[1:]), ("#e76f51", "#1d3557", "#457b9d", "#a8dadc"), strict=True)
    for rule, colour in lines:
        cells = {m: privacy.share(o, e, config) for m, r, o, e in rows if r == rule}
        if not cells:
            continue
        withheld += sum(1 for s in cells.values() if s.pct is None) if rule == "all" else 0
        fig.add_trace(
            go.Scatter(
                x=months,
                y=[cells[m].pct if m in cells else None for m in months],
                customdata=[cells[m].label if m in cells else "no windows" for m in months],
                mode="lines+markers",
                name=labels[rule],
                line={"color": colour, "width": 3 if rule == "all" else 1.5},
                visible=True if rule == "all" else "legendonly",
                hovertemplate="%{x}: %{customdata}<extra>" + rule + "</extra>",
            )
        )
    title = f"ANC monitoring adherence by month{filter_note(site, period)}"
    base_layout(fig, title)
    fig.update_xaxes(type="category", title="month the window starts")
    fig.update_yaxes(title="% of expected windows with an ANC", range=[0, 105])
    _target_line(fig, config)
    if withheld:
        fig.add_annotation(
            text=f"{withheld} of {len(months)} months withheld (small counts)",
            x=1,
            y=1.08,
            xref="paper",
            yref="paper",
            showarrow=False,
            xanchor="right",
            font={"size": 11, "color": "#6c757d"},
        )
    if not rows:
        no_data(fig)
    return fig


def fig_other_monitoring_adherence(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Cardiac, metabolic, clozapine-level and liver monitoring adherence per rule."""
    config = resolve_config(con, config)
    totals = _rule_totals(con, tuple(OTHER_RULES), site=site, period=period)
    rules = [r for r in OTHER_RULES if r in totals]
    shares = [privacy.share(*totals[r], config) for r in rules]
    fig = go.Figure(
        _pct_bars(
            [f"{r}<br>{OTHER_RULES[r]}" for r in rules], shares, config=config, colour="#2a9d8f"
        )
    )
    base_layout(
        fig, f"Metabolic, cardiac, level and liver monitoring adherence{filter_note(site, period)}"
    )
    fig.update_yaxes(title="% of expected windows observed", range=[0, 110])
    _target_line(fig, config)
    if not rules:
        no_data(fig)
    return fig


def fig_missed_windows_by_month(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Missed monitoring windows per calendar month (month the window starts), by rule group."""
    config = resolve_config(con, config)
    rows = con.execute(
        f"SELECT strftime(window_start, '%Y-%m') AS month, regexp_extract(rule_id, '^MON-[A-Z]+'), "
        f"count(*) FROM ({_windows(con, site=site, period=period, extra=' AND NOT is_observed')}) "
        f"GROUP BY ALL ORDER BY 1"
    ).fetchall()
    months = sorted({r[0] for r in rows})
    fig = go.Figure()
    palette = ("#e63946", "#f4a261", "#2a9d8f", "#457b9d", "#6d597a")
    for (prefix, group), colour in zip(RULE_GROUPS.items(), palette, strict=True):
        cells = {m: privacy.count(n, config) for m, p, n in rows if p == prefix}
        if not cells:
            continue
        counts = [cells.get(m, privacy.count(0, config)) for m in months]
        fig.add_trace(
            go.Bar(
                x=months,
                y=[c.plot_value for c in counts],
                customdata=[c.label for c in counts],
                name=group,
                marker={"color": colour},
                hovertemplate="%{x}: %{customdata} missed<extra>" + group + "</extra>",
            )
        )
    base_layout(
        fig, f"Missed monitoring windows by month{filter_note(site, period)}", barmode="stack"
    )
    fig.update_xaxes(type="category", title="month the window starts")
    fig.update_yaxes(
        title=f"missed windows (cells of {privacy.suppressed_label(config)} drawn as 0)"
    )
    if not rows:
        no_data(fig)
    return fig


def fig_anc_adherence_by_site(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """ANC adherence per site and phase, with the target line."""
    config = resolve_config(con, config)
    all_sites = sites(con) if site is None else [site]
    if not all_sites:
        raise Unavailable(
            "The patients extract has no site column: adherence by site is not available."
        )
    labels = anc_phase_labels(config)
    fig = go.Figure()
    palette = ("#6c757d", "#1d3557", "#457b9d", "#a8dadc")
    any_rows = False
    totals = _rule_totals(con, ANC_RULES, site=site, period=period, by_site=True)
    for rule, colour in zip(ANC_RULES, palette, strict=True):
        shares = [privacy.share(*totals.get((s, rule), (0, 0)), config) for s in all_sites]
        any_rows = any_rows or any(totals.get((s, rule), (0, 0))[1] for s in all_sites)
        fig.add_trace(_pct_bars(all_sites, shares, config=config, colour=colour, name=labels[rule]))
    base_layout(
        fig, f"ANC monitoring adherence by site{filter_note(None, period)}", barmode="group"
    )
    fig.update_traces(textposition="none")
    fig.update_yaxes(title="% of expected windows with an ANC", range=[0, 110])
    _target_line(fig, config)
    if not any_rows:
        no_data(fig)
    return fig


PAGE = Page(
    slug="monitoring",
    title="Monitoring adherence",
    summary=(
        "Adherence to the clozapine monitoring schedules (MON-*): the share of expected windows "
        "in which the required test was taken, pooled over patients, against the target. "
        "A window counts in the month it starts."
    ),
    charts=(
        Chart(
            fig_anc_adherence_by_phase,
            "ANC adherence by phase",
            "MON-ANC-0 baseline ANC, then the weekly, two-weekly and monthly phases of the "
            "configured schedule profile.",
            reads=(WINDOWS, ADHERENCE),
        ),
        Chart(
            fig_anc_adherence_by_month,
            "ANC adherence by month",
            "All ANC windows after the first dose by the month they start (click a phase in the "
            "legend to show it). Months on small counts are withheld.",
            reads=(WINDOWS,),
        ),
        Chart(
            fig_other_monitoring_adherence,
            "Metabolic, cardiac, level and liver monitoring",
            "MON-CV-1/2, MON-MET-1/2, MON-LVL-1 and MON-LFT-1.",
            reads=(WINDOWS, ADHERENCE),
        ),
        Chart(
            fig_missed_windows_by_month,
            "Missed windows over time",
            "Expected windows without the required test, by month and monitoring group.",
            reads=(WINDOWS, GAPS),
        ),
        Chart(
            fig_anc_adherence_by_site,
            "ANC adherence by site",
            "Each site's adherence per phase.",
            filters=("period",),
            reads=(WINDOWS, ADHERENCE),
        ),
    ),
)
