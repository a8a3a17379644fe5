"""Cohort funnel page: schizophrenia -> trials -> failed trials -> TRS -> clozapine -> adequate
clozapine trial (CLZ-5) -> clozapine-resistant (CLZ-6), with pseudo-resistance and clozapine
without documented TRS shown apart. State at the as-of date: no period filter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from trscohort.dashboards import privacy
from trscohort.dashboards.common import (
    Chart,
    Page,
    Period,
    base_layout,
    count_bars,
    filter_note,
    has_table,
    no_data,
    require,
    resolve_config,
    sql_text,
)
from trscohort.models import _ENV, transform_context

TRS_STATUS = "marts.patient_trs_status"
CLOZAPINE_STATUS = "marts.patient_clozapine_status"

CLOZAPINE_STATUS_ORDER = (
    "titrating",
    "trial_in_progress",
    "inadequate_trial",
    "responder",
    "clozapine_resistant",
)


def _trs_funnel_rows(con, site: str | None, config) -> list[tuple[int, str, str, int]]:
    """marts.trs_funnel rows; for one site, the same model rendered over that site's patients."""
    if site is None and has_table(con, "marts.trs_funnel"):
        return con.execute(
            "SELECT step_order, step, kind, patients FROM marts.trs_funnel ORDER BY step_order"
        ).fetchall()
    require(con, TRS_STATUS, ("patient_id", "trs_status"))
    scope = (
        f"(SELECT * FROM {TRS_STATUS} WHERE patient_id IN "
        f"(SELECT patient_id FROM staging.patients WHERE site = {sql_text(site)}))"
        if site is not None
        else TRS_STATUS
    )
    sql = _ENV.get_template("marts/trs_funnel.sql").render(
        **transform_context(config), ref=lambda table: scope if table == TRS_STATUS else table
    )
    return con.execute(
        f"SELECT step_order, step, kind, patients FROM ({sql}) ORDER BY step_order"
    ).fetchall()


def _site_filter(site: str | None, column: str = "t.patient_id") -> str:
    if site is None:
        return ""
    return (
        f" AND {column} IN (SELECT patient_id FROM staging.patients WHERE site = {sql_text(site)})"
    )


def funnel_steps(con, *, site: str | None = None, config=None) -> list[dict]:
    """[{step, kind, patients}] - TRS funnel steps, then the clozapine steps when available."""
    config = resolve_config(con, config)
    rows = _trs_funnel_rows(con, site, config)
    steps = [{"step": s, "kind": k, "patients": int(n or 0)} for _, s, k, n in rows]
    funnel = [s for s in steps if s["kind"] == "funnel"]
    aside = [s for s in steps if s["kind"] != "funnel"]
    if has_table(con, CLOZAPINE_STATUS):
        adequate, resistant = con.execute(
            f"SELECT count(*) FILTER (WHERE c.adequate_trial_date IS NOT NULL), "
            f"count(*) FILTER (WHERE c.clozapine_status = 'clozapine_resistant') "
            f"FROM {TRS_STATUS} AS t JOIN {CLOZAPINE_STATUS} AS c USING (patient_id) "
            f"WHERE t.trs_status = 'trs' AND t.clozapine_start_date IS NOT NULL"
            f"{_site_filter(site)}"
        ).fetchone()
        funnel += [
            {"step": "adequate clozapine trial (CLZ-5)", "kind": "funnel", "patients": adequate},
            {"step": "clozapine-resistant (CLZ-6)", "kind": "funnel", "patients": resistant},
        ]
    return funnel + aside


def fig_cohort_funnel(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Nested steps from schizophrenia to clozapine resistance (patients at the as-of date)."""
    config = resolve_config(con, config)
    steps = [s for s in funnel_steps(con, site=site, config=config) if s["kind"] == "funnel"]
    counts = [privacy.count(s["patients"], config) for s in steps]
    text = []
    for i, c in enumerate(counts):
        label = c.label
        if i > 0:
            pct = privacy.share(steps[i]["patients"], steps[i - 1]["patients"], config).pct
            label += f" ({pct:.0f} % of previous)" if pct is not None else ""
        text.append(label)
    fig = go.Figure(
        go.Funnel(
            y=[s["step"] for s in steps],
            x=[c.plot_value for c in counts],
            text=text,
            textinfo="text",
            hovertemplate="%{y}: %{text}<extra></extra>",
            marker={"color": "#457b9d"},
        )
    )
    base_layout(fig, f"Cohort funnel (patients){filter_note(site, None)}", height=460)
    fig.update_layout(margin={"l": 280})
    if not steps:
        no_data(fig)
    return fig


def fig_funnel_asides(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Reported beside the funnel: pseudo-resistance and clozapine without documented TRS."""
    config = resolve_config(con, config)
    steps = [s for s in funnel_steps(con, site=site, config=config) if s["kind"] != "funnel"]
    counts = [privacy.count(s["patients"], config) for s in steps]
    fig = go.Figure(
        go.Bar(
            x=[c.plot_value for c in counts],
            y=[s["step"] for s in steps],
            orientation="h",
            text=[c.label for c in counts],
            textposition="outside",
            hovertemplate="%{y}: %{text}<extra></extra>",
            marker={"color": "#e76f51"},
        )
    )
    base_layout(fig, f"Shown apart from the funnel (patients){filter_note(site, None)}", height=300)
    fig.update_layout(margin={"l": 280}, xaxis_title="patients")
    if not steps:
        no_data(fig)
    return fig


def fig_clozapine_status(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Clozapine status at the as-of date of every patient who started clozapine."""
    config = resolve_config(con, config)
    require(con, CLOZAPINE_STATUS, ("patient_id", "clozapine_status"))
    rows = dict(
        con.execute(
            f"SELECT clozapine_status, count(*) FROM {CLOZAPINE_STATUS} AS t "
            f"WHERE clozapine_status <> 'not_on_clozapine'{_site_filter(site)} GROUP BY 1"
        ).fetchall()
    )
    order = [s for s in CLOZAPINE_STATUS_ORDER if s in rows] + sorted(
        s for s in rows if s not in CLOZAPINE_STATUS_ORDER
    )
    counts = [privacy.count(rows[s], config) for s in order]
    fig = go.Figure(
        count_bars(
            [s.replace("_", " ") for s in order],
            counts,
            colour="#2a9d8f",
            hover="%{x}: %{text}<extra></extra>",
        )
    )
    base_layout(fig, f"Clozapine status of patients who started clozapine{filter_note(site, None)}")
    fig.update_layout(yaxis_title="patients")
    if not order:
        no_data(fig)
    return fig


PAGE = Page(
    slug="funnel",
    title="Cohort funnel",
    summary=(
        "How many patients reach each step from a schizophrenia diagnosis to treatment-resistant "
        "schizophrenia (TRS-1..8), clozapine, an adequate clozapine trial (CLZ-5) and clozapine "
        "resistance (CLZ-6). Each step is a subset of the one before. Status at the as-of date."
    ),
    charts=(
        Chart(
            fig_cohort_funnel,
            "Funnel",
            "Patients at each nested step; the percentage is of the step before.",
            filters=("site",),
            reads=("marts.trs_funnel", TRS_STATUS, CLOZAPINE_STATUS),
        ),
        Chart(
            fig_funnel_asides,
            "Pseudo-resistance and clozapine without documented TRS",
            "Pseudo-resistant: enough failed trials, but too few verified as adequate (dose, "
            "duration or adherence). Clozapine without documented TRS: started while TRS was "
            "not documented - a quality-improvement finding.",
            filters=("site",),
            reads=("marts.trs_funnel", TRS_STATUS),
        ),
        Chart(
            fig_clozapine_status,
            "Clozapine status",
            "Where every patient who started clozapine stands at the as-of date.",
            filters=("site",),
            reads=(CLOZAPINE_STATUS,),
        ),
    ),
)
