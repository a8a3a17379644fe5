"""Cohort funnel page: schizophrenia -> trials -> failed trials -> TRS -> clozapine -> adequate
clozapine trial (CLZ-5) -> clozapine-resistant (CLZ-6), with pseudo-resistance and clozapine
without documented TRS shown apart. State at the as-of date: no period filter."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
import sqlglot
from sqlglot import exp

from trscohort.dashboards.client import ClientChart, ClientPage, encode
from trscohort.dashboards.common import (
    ALL_SITES,
    NO_SITE,
    Page,
    Period,
    base_layout,
    count_bars,
    filter_note,
    has_table,
    no_data,
    patients_with_site,
    protected_table,
    require,
    resolve_config,
    site_key,
    sites,
    sql_text,
)
from trscohort.models import _ENV, transform_context
from trscohort.publication.suppression import CountTable

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


# --------------------------------------------------------------------------- the published table


def _status_counts(con, site: str | None) -> dict[str, int]:
    if not has_table(con, CLOZAPINE_STATUS):
        return {}
    return dict(
        con.execute(
            f"SELECT clozapine_status, count(*) FROM {CLOZAPINE_STATUS} AS t "
            f"WHERE clozapine_status <> 'not_on_clozapine'{_site_filter(site)} GROUP BY 1"
        ).fetchall()
    )


SITE_COLUMN = "dashboard_site"
CLOZAPINE_STEPS = ("adequate clozapine trial (CLZ-5)", "clozapine-resistant (CLZ-6)")


def _by_site_funnel_sql(con, config) -> str:
    """marts/trs_funnel.sql rendered over the TRS status with each patient's site, every
    branch of its UNION grouped by site: the model's own step definitions, in one query."""
    require(con, TRS_STATUS, ("patient_id", "trs_status"))
    scope = (
        f"(SELECT t.*, coalesce(p.site, {sql_text(NO_SITE)}) AS {SITE_COLUMN} "
        f"FROM {TRS_STATUS} AS t LEFT JOIN {patients_with_site(con)} AS p USING (patient_id))"
    )
    sql = _ENV.get_template("marts/trs_funnel.sql").render(
        **transform_context(config), ref=lambda table: scope if table == TRS_STATUS else table
    )
    tree = sqlglot.parse_one(sql, read="duckdb")
    for select in list(tree.find_all(exp.Select)):
        if not isinstance(select.parent, exp.CTE) and select.find(exp.Count):
            select.select(SITE_COLUMN, copy=False).group_by(SITE_COLUMN, copy=False)
    return tree.sql(dialect="duckdb")


def site_counts(con, config) -> tuple[list[tuple[str, str]], dict[str, dict[tuple, int]]]:
    """([(step, kind)] in funnel order, {site or NO_SITE: {("step", step) or ("status",
    status): patients}}) from three aggregate queries (never one query per site)."""
    rows = con.execute(
        f"SELECT step_order, step, kind, {SITE_COLUMN}, patients "
        f"FROM ({_by_site_funnel_sql(con, config)}) ORDER BY step_order"
    ).fetchall()
    names: list[tuple[str, str]] = []
    counts: dict[str, dict[tuple, int]] = defaultdict(dict)
    for _, step, kind, site, patients in rows:
        if (step, kind) not in names:
            names.append((step, kind))
        counts[site][("step", step)] = int(patients or 0)
    if not names:  # no patient at all: the model's steps, each 0
        names = [(s, k) for _, s, k, _n in _trs_funnel_rows(con, None, config)]
    if has_table(con, CLOZAPINE_STATUS):
        funnel = [n for n in names if n[1] == "funnel"]
        names = funnel + [(s, "funnel") for s in CLOZAPINE_STEPS] + names[len(funnel) :]
        for site, adequate, resistant in con.execute(
            f"SELECT coalesce(p.site, {sql_text(NO_SITE)}), "
            f"count(*) FILTER (WHERE c.adequate_trial_date IS NOT NULL), "
            f"count(*) FILTER (WHERE c.clozapine_status = 'clozapine_resistant') "
            f"FROM {TRS_STATUS} AS t JOIN {CLOZAPINE_STATUS} AS c USING (patient_id) "
            f"LEFT JOIN {patients_with_site(con)} AS p USING (patient_id) "
            f"WHERE t.trs_status = 'trs' AND t.clozapine_start_date IS NOT NULL GROUP BY ALL"
        ).fetchall():
            counts[site][("step", CLOZAPINE_STEPS[0])] = int(adequate)
            counts[site][("step", CLOZAPINE_STEPS[1])] = int(resistant)
        for site, status, patients in con.execute(
            f"SELECT coalesce(p.site, {sql_text(NO_SITE)}), c.clozapine_status, count(*) "
            f"FROM {CLOZAPINE_STATUS} AS c LEFT JOIN {patients_with_site(con)} AS p "
            f"USING (patient_id) WHERE c.clozapine_status <> 'not_on_clozapine' GROUP BY ALL"
        ).fetchall():
            counts[site][("status", status)] = int(patients)
    return names, dict(counts)


@dataclass
class FunnelTable(CountTable):
    """The funnel's count table, with its steps in funnel order: [(step, kind)]."""

    steps: list[tuple[str, str]] = field(default_factory=list)


def funnel_table(con, config) -> FunnelTable:
    """Funnel steps, asides and clozapine statuses per site and for all sites, with what a
    reader can derive: the patients leaving between two nested steps (hidden cells), and the
    patients without a site (hidden; all sites = the sites + them)."""
    site_list = sites(con)
    names, counts = site_counts(con, config)
    table = FunnelTable("funnel", steps=names)
    statuses = sorted({k[1] for c in counts.values() for k in c if k[0] == "status"})
    cells = [("step", step) for step, _ in names] + [("status", s) for s in statuses]
    places = [*site_list, NO_SITE]
    for cell in cells:
        values = {s: counts.get(s, {}).get(cell, 0) for s in places}
        for site in site_list:
            table.add((*cell, site), values[site])
        table.add((*cell, NO_SITE), values[NO_SITE], published=False)
        table.add((*cell, ALL_SITES), sum(values.values()))
        table.add_sum((*cell, ALL_SITES), [(*cell, s) for s in places])
    funnel = [step for step, kind in names if kind == "funnel"]
    for site in [ALL_SITES, NO_SITE, *site_list]:
        for before, after in itertools.pairwise(funnel):
            left = table.values[("step", before, site)] - table.values[("step", after, site)]
            if left < 0:  # not nested after all: no relation a reader could use
                continue
            table.add(("left", after, site), left, published=False)
            table.add_sum(("step", before, site), [("step", after, site), ("left", after, site)])
    return table


def protected_funnel(con, config):
    return protected_table(con, "funnel", lambda: funnel_table(con, config), config)


# --------------------------------------------------------------------------- figures


def fig_cohort_funnel(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Nested steps from schizophrenia to clozapine resistance (patients at the as-of date)."""
    config = resolve_config(con, config)
    protected = protected_funnel(con, config)
    steps = [s for s in funnel_steps(con, site=site, config=config) if s["kind"] == "funnel"]
    key = site_key(site)
    cells = [protected.cell(("step", s["step"], key)) for s in steps]
    text = []
    for i, cell in enumerate(cells):
        label = cell.label
        if i > 0 and cell.value is not None and cells[i - 1].value:
            label += f" ({100.0 * cell.value / cells[i - 1].value:.0f} % of previous)"
        text.append(label)
    fig = go.Figure(
        count_bars(
            [s["step"] for s in steps],
            cells,
            colour="#457b9d",
            hover="%{y}: %{customdata}<extra></extra>",
            config=config,
            orientation="h",
        )
    )
    fig.data[0].text = [
        t if c.value is not None else None for t, c in zip(text, cells, strict=True)
    ]
    fig.data[0].customdata = text
    base_layout(fig, f"Cohort funnel (patients){filter_note(site, None)}", height=460)
    fig.update_layout(margin={"l": 280}, barmode="overlay", xaxis_title="patients")
    fig.update_yaxes(autorange="reversed")
    if not steps:
        no_data(fig)
    return fig


def fig_funnel_asides(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Reported beside the funnel: pseudo-resistance and clozapine without documented TRS."""
    config = resolve_config(con, config)
    protected = protected_funnel(con, config)
    steps = [s for s in funnel_steps(con, site=site, config=config) if s["kind"] != "funnel"]
    cells = [protected.cell(("step", s["step"], site_key(site))) for s in steps]
    fig = go.Figure(
        count_bars(
            [s["step"] for s in steps],
            cells,
            colour="#e76f51",
            hover="%{y}: %{customdata}<extra></extra>",
            config=config,
            orientation="h",
        )
    )
    base_layout(fig, f"Shown apart from the funnel (patients){filter_note(site, None)}", height=300)
    fig.update_layout(margin={"l": 280}, xaxis_title="patients", barmode="overlay")
    if not steps:
        no_data(fig)
    return fig


def fig_clozapine_status(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Clozapine status at the as-of date of every patient who started clozapine."""
    config = resolve_config(con, config)
    require(con, CLOZAPINE_STATUS, ("patient_id", "clozapine_status"))
    protected = protected_funnel(con, config)
    rows = _status_counts(con, site)
    order = [s for s in CLOZAPINE_STATUS_ORDER if s in rows] + sorted(
        s for s in rows if s not in CLOZAPINE_STATUS_ORDER
    )
    cells = [protected.cell(("status", s, site_key(site))) for s in order]
    fig = go.Figure(
        count_bars(
            [s.replace("_", " ") for s in order],
            cells,
            colour="#2a9d8f",
            hover="%{x}: %{customdata}<extra></extra>",
            config=config,
        )
    )
    base_layout(fig, f"Clozapine status of patients who started clozapine{filter_note(site, None)}")
    fig.update_layout(yaxis_title="patients", barmode="overlay")
    if not order:
        no_data(fig)
    return fig


# --------------------------------------------------------------------------- browser-side page


def step_label(name: str) -> str:
    """A step or status as the page names it."""
    return name.replace("_", " ")


def client_data(con, config: Mapping[str, Any]) -> dict:
    """The page's aggregate table: every published cell of the protected funnel table (steps,
    asides and clozapine statuses by site and for all sites), as a count or a suppression
    code. The index's clozapine headlines are added up from this table's all-sites cells."""
    config = resolve_config(con, config)
    protected = protected_funnel(con, config)
    site_list = sites(con)
    names = protected.table.steps
    statuses = sorted(
        {k[1] for k in protected.table.values if k[0] == "status"},
        key=lambda s: (
            CLOZAPINE_STATUS_ORDER.index(s) if s in CLOZAPINE_STATUS_ORDER else 99,
            s,
        ),
    )
    keys = [(kind, step) for step, kind in names] + [("status", s) for s in statuses]
    site_index = {ALL_SITES: -1, **{s: i for i, s in enumerate(site_list)}}
    rows = []
    for i, (kind, name) in enumerate(keys):
        for site, j in site_index.items():
            key = ("status" if kind == "status" else "step", name, site)
            if key in protected.table.values:
                rows.append([j, i, encode(protected, key)])
    return {
        "sites": site_list,
        "months": [],  # state at the as-of date: no time axis (the shared filter code reads it)
        "keys": [[kind, step_label(name)] for kind, name in keys],
        "counts": {"columns": ["site", "key", "patients"], "rows": rows},
    }


FUNNEL_CHARTS = (
    ClientChart(
        "cohort_funnel",
        "funnel",
        "Funnel",
        "Patients at each nested step; the percentage is of the step before (shown when both "
        "counts are).",
    ),
    ClientChart(
        "funnel_asides",
        "asides",
        "Pseudo-resistance and clozapine without documented TRS",
        "Pseudo-resistant: enough failed trials, but too few verified as adequate (dose, "
        "duration or adherence). Clozapine without documented TRS: started while TRS was "
        "not documented - a quality-improvement finding.",
    ),
    ClientChart(
        "clozapine_status",
        "status",
        "Clozapine status",
        "Where every patient who started clozapine stands at the as-of date.",
    ),
)


PAGE = Page(
    slug="funnel",
    title="Cohort funnel",
    summary=(
        "How many patients reach each step from a schizophrenia diagnosis to treatment-resistant "
        "schizophrenia (TRS-1..8), clozapine, an adequate clozapine trial (CLZ-5) and clozapine "
        "resistance (CLZ-6). Each step is a subset of the one before. Status at the as-of date "
        "(no period filter); the site filter is computed in your browser from the published "
        "table."
    ),
    client=ClientPage(
        build=client_data,
        reads=("marts.trs_funnel", TRS_STATUS, CLOZAPINE_STATUS),
        charts=FUNNEL_CHARTS,
    ),
)
