"""Safety flags and data quality page: counts per safety flag (SAF-*), failed data-quality
checks (audit.dq_results) and rows read / quarantined per extract (audit.ingest_log).

Data-quality observed values, examples and messages are not published: they can quote rows (an
unexpected patient id, a date). Only the suite, table, check, severity, expectation and the
(suppressed) unexpected count are shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

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
    no_data,
    patients_with_site,
    protected_table,
    require,
    resolve_config,
    sites,
)
from trscohort.publication.suppression import CountTable, Hierarchy
from trscohort.quality.ingest_counts import ingest_count_table

FLAGS = "marts.safety_flags"
DQ = "audit.dq_results"
INGEST_LOG = "audit.ingest_log"

FLAG_LABELS = {
    "SAF-REC": "rechallenge after severe neutropenia or myocarditis",
    "SAF-DOSE": "> 600 mg/day without an anticonvulsant",
    "SAF-DDI": "interacting co-prescription",
    "SAF-PREG": "clozapine during pregnancy",
    "SAF-LACT": "clozapine while breastfeeding",
    "SAF-ANC-ACTION": "clozapine continued through a severe/moderate ANC",
    "SAF-DISPENSE": "dispensing without a timely ANC",
}


# The failed-checks table: its header and the audit.dq_results column behind each heading.
DQ_SHOWN = (
    ("suite", "suite"),
    ("table", "table_name"),
    ("check", "check_name"),
    ("severity", "severity"),
    ("expectation", "expectation"),
)


def fig_dq_checks(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Data-quality checks passed and failed per suite (counts of checks, not of patients:
    not suppressed)."""
    config = resolve_config(con, config)
    require(con, DQ)
    rows = con.execute(
        f"SELECT suite, count(*) FILTER (WHERE success), count(*) FILTER (WHERE NOT success) "
        f"FROM {DQ} GROUP BY 1 ORDER BY 1"
    ).fetchall()
    fig = go.Figure()
    for i, (what, colour) in enumerate((("passed", "#2a9d8f"), ("failed", "#e63946")), start=1):
        fig.add_trace(
            go.Bar(
                x=[r[0] for r in rows],
                y=[r[i] for r in rows],
                text=[f"{r[i]:,}" for r in rows],
                textposition="outside",
                name=what,
                marker={"color": colour},
                hovertemplate="%{x}: %{y} checks " + what + "<extra></extra>",
            )
        )
    base_layout(fig, "Data-quality checks per suite", barmode="group")
    fig.update_yaxes(title="checks")
    if not rows:
        no_data(fig, "No data-quality results recorded.")
    return fig


def fig_dq_failed_checks(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Every failed data-quality check: suite, asset, expectation and unexpected rows."""
    config = resolve_config(con, config)
    require(con, DQ)
    select = ", ".join(column for _, column in DQ_SHOWN)
    rows = con.execute(
        f"SELECT {select}, unexpected_count FROM {DQ} WHERE NOT success ORDER BY ALL"
    ).fetchall()
    header = [*(heading for heading, _ in DQ_SHOWN), "unexpected rows"]
    cells = [[r[i] for r in rows] for i in range(len(DQ_SHOWN))]
    cells.append([privacy.count(r[-1], config).label if r[-1] is not None else "" for r in rows])
    fig = go.Figure(
        go.Table(
            header={
                "values": header,
                "fill_color": "#1d3557",
                "font": {"color": "white"},
                "align": "left",
            },
            cells={
                "values": cells if rows else [["none"]] + [[""]] * (len(header) - 1),
                "align": "left",
            },
        )
    )
    base_layout(
        fig,
        f"Failed data-quality checks ({len(rows)})",
        height=min(900, 160 + 28 * max(len(rows), 1)),
    )
    return fig


def ingest_table(con) -> CountTable:
    """Rows read, accepted, quarantined (and by reason) and duplicate per extract, the table the
    data-quality report's quarantine reasons come from too: read = the other three, and rows
    read is printed on every page (provenance)."""
    require(con, INGEST_LOG, ("extract", "rows_read", "accepted", "quarantined", "duplicates"))
    return ingest_count_table(con)


def protected_ingest(con, config):
    return protected_table(con, "ingest log", lambda: ingest_table(con), config)


def fig_quarantine_by_extract(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Rows accepted, quarantined and duplicate per extract (audit.ingest_log)."""
    config = resolve_config(con, config)
    protected = protected_ingest(con, config)
    extracts = sorted({e for (e, m), v in protected.table.values.items() if m == "read" and v > 0})
    fig = go.Figure()
    for what, colour in (
        ("accepted", "#2a9d8f"),
        ("quarantined", "#e63946"),
        ("duplicates", "#e9c46a"),
    ):
        counts = [protected.cell((e, what)) for e in extracts]
        hover = "%{x}: %{customdata} rows " + what + "<extra></extra>"
        fig.add_traces(
            count_bars(extracts, counts, name=what, colour=colour, hover=hover, config=config)
        )
    base_layout(fig, "Rows per extract: accepted, quarantined, duplicates", barmode="group")
    fig.update_yaxes(type="log", title="rows (log scale)")
    if not extracts:
        no_data(fig)
    return fig


PAGE = Page(
    slug="safety_quality",
    title="Safety flags and data quality",
    summary=(
        "Safety flags raised on clozapine (SAF-*), the data-quality checks that failed, and "
        "how many rows of each extract were quarantined (not usable, with a reason kept in the "
        "warehouse) or dropped as exact duplicates."
    ),
    client=ClientPage(
        build=lambda con, config: client_data(con, config),
        reads=(FLAGS,),
        charts=(
            ClientChart(
                "safety_flags",
                "flags",
                "Safety flags, most severe first",
                "Flags raised per flag type in the selected period, every type shown (zero "
                "too), urgent ones (contraindicated rechallenge, clozapine continued through a "
                "low ANC) first; with the previous period when compared. Flags count in the "
                "month of their date.",
            ),
            ClientChart(
                "safety_flags_by_month",
                "flag_trend",
                "Safety flags per month",
                "Flags raised per month and flag type (click a type in the legend to hide it).",
            ),
        ),
    ),
    charts=(
        Chart(
            fig_dq_checks,
            "Data-quality checks",
            "Checks passed and failed per suite.",
            filters=(),
            reads=(DQ,),
        ),
        Chart(
            fig_dq_failed_checks,
            "Failed checks",
            "Observed values, examples and messages are not published (they may quote rows).",
            filters=(),
            reads=(DQ,),
        ),
        Chart(
            fig_quarantine_by_extract,
            "Quarantine per extract",
            "From the ingest log; read = accepted + quarantined + duplicates.",
            filters=(),
            reads=(INGEST_LOG,),
        ),
    ),
)


# --------------------------------------------------------------------------- browser-side flags

# Display order (a dashboard choice, not a guideline rule): contraindicated or urgent first
# (SAF-REC, SAF-ANC-ACTION), then not recommended (SAF-LACT, SAF-PREG), then the rest.
SEVERITY_ORDER = (
    ("SAF-REC", "urgent"),
    ("SAF-ANC-ACTION", "urgent"),
    ("SAF-LACT", "review"),
    ("SAF-PREG", "review"),
    ("SAF-DOSE", "review"),
    ("SAF-DDI", "review"),
    ("SAF-DISPENSE", "process"),
)


def client_data(con, config: Mapping[str, Any]) -> dict:
    """Flags raised by site (and all sites) x month x flag, protected month by month (flag
    types are not added up, so each month and flag is a part of its own)."""
    config = resolve_config(con, config)
    require(con, FLAGS, ("patient_id", "flag_id", "flag_date"))
    rows = con.execute(
        f"SELECT p.site, strftime(f.flag_date, '%Y-%m'), f.flag_id, count(*) "
        f"FROM {FLAGS} AS f JOIN {patients_with_site(con)} AS p USING (patient_id) "
        f"WHERE f.flag_date IS NOT NULL GROUP BY ALL"
    ).fetchall()
    leaves = {(s, m, f): int(n) for s, m, f, n in rows}
    site_list = sites(con)
    months = sorted({k[1] for k in leaves})
    known = [f for f, _ in SEVERITY_ORDER]
    flags = known + sorted({k[2] for k in leaves} - set(known))
    cells = protect_in_parts(
        "safety flags by month",
        leaves,
        [
            Hierarchy.flat([*site_list, NO_SITE], ALL_SITES),
            Hierarchy.roots(months),
            Hierarchy.roots(flags),
        ],
        part_of=lambda key: (key[1], key[2]),
        small_max=privacy.small_count_max(config),
        published=lambda key: key[0] != NO_SITE,
    )
    site_index = {ALL_SITES: -1, **{s: i for i, s in enumerate(site_list)}}
    month_index = {m: i for i, m in enumerate(months)}
    flag_index = {f: i for i, f in enumerate(flags)}
    severity = dict(SEVERITY_ORDER)
    return {
        "sites": site_list,
        "months": months,
        "flags": flags,
        "flagLabels": {f: FLAG_LABELS.get(f, f) for f in flags},
        "severity": {f: severity.get(f, "review") for f in flags},
        "raised": {
            "columns": ["site", "month", "flag", "flags raised"],
            "rows": [
                [site_index[s], month_index[m], flag_index[f], code]
                for (s, m, f), (value, code) in sorted(cells.items())
                if value > 0
            ],
        },
    }
