"""ANC page: category distribution by treatment week, and time from a moderate or severe ANC to
the required action. Aggregates only - never one patient's series of results."""

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
    base_layout,
    count_bars,
    filter_note,
    no_data,
    require,
    resolve_config,
    where,
)

ANC_RESULTS = "marts.anc_results"
EXPOSURE = "intermediate.clozapine_exposure"
CATEGORIES = ("normal", "mild", "moderate", "severe")

# Week bands follow the default schedule: weekly to 26, two-weekly to 52, then 4-weekly to 104.
WEEK_BAND_SQL = """
CASE
    WHEN treatment_week <= 0 THEN 'baseline'
    WHEN treatment_week <= 26 THEN lpad(CAST(treatment_week AS VARCHAR), 3, '0')
    WHEN treatment_week <= 52 THEN
        lpad(CAST(27 + 2 * ((treatment_week - 27) // 2) AS VARCHAR), 3, '0') || '-'
        || lpad(CAST(28 + 2 * ((treatment_week - 27) // 2) AS VARCHAR), 3, '0')
    WHEN treatment_week <= 104 THEN
        lpad(CAST(53 + 4 * ((treatment_week - 53) // 4) AS VARCHAR), 3, '0') || '-'
        || lpad(CAST(56 + 4 * ((treatment_week - 53) // 4) AS VARCHAR), 3, '0')
    ELSE '>104'
END
"""


def _results(con, *, site, period) -> str:
    require(con, ANC_RESULTS)
    return (
        f"SELECT * FROM {ANC_RESULTS} WHERE TRUE"
        f"{where(patient_col='patient_id', date_col='collected_date', site=site, period=period)}"
    )


def _band_label(band: str) -> str:
    if band in ("baseline", ">104"):
        return band
    return "-".join(str(int(x)) for x in band.split("-"))


def fig_anc_categories_by_week(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """ANC results per category and week of clozapine treatment (stacked counts)."""
    config = resolve_config(con, config)
    rows = con.execute(
        f"SELECT {WEEK_BAND_SQL} AS band, anc_category, count(*) "
        f"FROM ({_results(con, site=site, period=period)}) GROUP BY ALL ORDER BY 1"
    ).fetchall()
    bands = sorted({r[0] for r in rows}, key=lambda b: (b != "baseline", b == ">104", b))
    fig = go.Figure()
    for category in [*CATEGORIES, *sorted({r[1] for r in rows} - set(CATEGORIES))]:
        cells = {b: privacy.count(n, config) for b, c, n in rows if c == category}
        if not cells:
            continue
        counts = [cells.get(b, privacy.count(0, config)) for b in bands]
        fig.add_trace(
            go.Bar(
                x=[_band_label(b) for b in bands],
                y=[c.plot_value for c in counts],
                customdata=[c.label for c in counts],
                name=str(category),
                marker={"color": COLOURS.get(str(category), "#6c757d")},
                hovertemplate="week %{x}: %{customdata} results<extra>"
                + str(category)
                + "</extra>",
            )
        )
    base_layout(
        fig,
        f"ANC results by category and treatment week{filter_note(site, period)}",
        barmode="stack",
    )
    fig.update_xaxes(type="category", title="week of clozapine treatment")
    fig.update_yaxes(title=f"ANC results (cells of {privacy.suppressed_label(config)} drawn as 0)")
    if not rows:
        no_data(fig)
    return fig


def fig_anc_category_totals(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Results and patients per ANC category (a patient counts once per category)."""
    config = resolve_config(con, config)
    rows = {
        c: (r, p)
        for c, r, p in con.execute(
            f"SELECT anc_category, count(*), count(DISTINCT patient_id) "
            f"FROM ({_results(con, site=site, period=period)}) GROUP BY 1"
        ).fetchall()
    }
    cats = [c for c in CATEGORIES if c in rows] + sorted(set(rows) - set(CATEGORIES))
    fig = go.Figure()
    for i, (what, colour) in enumerate((("results", "#457b9d"), ("patients", "#1d3557"))):
        counts = [privacy.count(rows[c][i], config) for c in cats]
        hover = "%{x}: %{text} " + what + "<extra></extra>"
        fig.add_trace(count_bars(cats, counts, name=what, colour=colour, hover=hover))
    base_layout(
        fig, f"ANC results and patients per category{filter_note(site, period)}", barmode="group"
    )
    fig.update_yaxes(type="log", title="count (log scale)")
    if not cats:
        no_data(fig)
    return fig


ACTION_BINS = (
    "0-{d} days",
    "{d1}-7 days",
    "8-14 days",
    "15-28 days",
    "> 28 days",
    "not stopped by the as-of date",
)


def time_to_action_counts(
    con, *, site=None, period=None, config=None
) -> dict[str, tuple[int, int]]:
    """{bin: (moderate, severe)}: first moderate/severe ANC per clozapine episode that required
    an interruption, by days until clozapine stopped (the end of its exposure episode)."""
    config = resolve_config(con, config)
    action_days = int(config.get("safety", {}).get("anc_action_days", 2))
    needs_action = (
        "lower(coalesce(required_action, '')) SIMILAR TO '.*(interrupt|discontinu|stop|withhold).*'"
    )
    base = (
        f"SELECT * FROM ({_results(con, site=site, period=period)}) "
        f"WHERE anc_category IN ('moderate', 'severe') AND ({needs_action})"
    )
    require(con, EXPOSURE)
    sql = f"""
        SELECT arg_min(r.anc_category, r.collected_date) AS anc_category,
               arg_min(CASE WHEN e.end_reason = 'ongoing' THEN NULL
                       ELSE date_diff('day', r.collected_date, e.episode_end) END,
                       r.collected_date) AS days_to_action
        FROM ({base}) AS r
        JOIN {EXPOSURE} AS e ON e.patient_id = r.patient_id
         AND r.collected_date BETWEEN e.episode_start AND e.episode_end
        GROUP BY r.patient_id, e.episode_start
    """
    labels = [b.format(d=action_days, d1=action_days + 1) for b in ACTION_BINS]
    out = {label: [0, 0] for label in labels}
    for category, days in con.execute(sql).fetchall():
        if days is None:
            label = labels[5]
        elif days <= action_days:
            label = labels[0]
        elif days <= 7:
            label = labels[1]
        elif days <= 14:
            label = labels[2]
        elif days <= 28:
            label = labels[3]
        else:
            label = labels[4]
        out[label][0 if category == "moderate" else 1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def fig_time_to_action(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Days from a moderate or severe ANC (requiring interruption) to clozapine being stopped."""
    config = resolve_config(con, config)
    counts = time_to_action_counts(con, site=site, period=period, config=config)
    labels = list(counts)
    fig = go.Figure()
    for i, (category, colour) in enumerate(
        (("moderate", COLOURS["moderate"]), ("severe", COLOURS["severe"]))
    ):
        cells = [privacy.count(counts[b][i], config) for b in labels]
        hover = "%{x}: %{text} episodes<extra>" + category + "</extra>"
        fig.add_trace(
            count_bars(labels, cells, name=f"first {category} ANC", colour=colour, hover=hover)
        )
    base_layout(
        fig,
        f"Time from a moderate or severe ANC to stopping clozapine{filter_note(site, period)}",
        barmode="group",
    )
    fig.update_xaxes(title="days from the result to the last day of clozapine")
    fig.update_yaxes(title="clozapine episodes")
    if not any(sum(v) for v in counts.values()):
        no_data(fig, "No moderate or severe ANC requiring interruption in this selection.")
    return fig


PAGE = Page(
    slug="anc",
    title="Absolute neutrophil count (ANC)",
    summary=(
        "ANC results of clozapine patients by category of the ANC table (benign ethnic "
        "neutropenia thresholds where flagged) and week of treatment, and how quickly "
        "clozapine was stopped after a result that required it. Counts of results and "
        "episodes, never one patient's results."
    ),
    charts=(
        Chart(
            fig_anc_categories_by_week,
            "ANC categories by treatment week",
            "Weekly to week 26, two-weekly bands to week 52, four-weekly bands to week 104.",
            reads=(ANC_RESULTS,),
        ),
        Chart(
            fig_anc_category_totals,
            "ANC categories overall",
            "Results and distinct patients per category.",
            reads=(ANC_RESULTS,),
        ),
        Chart(
            fig_time_to_action,
            "Time to the required action",
            "The first moderate or severe ANC requiring interruption in each clozapine episode, "
            "by days until clozapine stopped; the required action is within "
            "safety.anc_action_days.",
            reads=(ANC_RESULTS, EXPOSURE),
        ),
    ),
)
