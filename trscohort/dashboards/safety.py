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
from trscohort.dashboards.common import (
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


def fig_safety_flags(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Flags raised and patients flagged, per safety flag."""
    config = resolve_config(con, config)
    require(con, FLAGS)
    rows = con.execute(
        f"SELECT flag_id, count(*), count(DISTINCT patient_id) FROM {FLAGS} WHERE TRUE"
        f"{where(patient_col='patient_id', date_col='flag_date', site=site, period=period)} "
        f"GROUP BY 1 ORDER BY 1"
    ).fetchall()
    labels = [f"{f}<br>{FLAG_LABELS.get(f, '')}" for f, _, _ in rows]
    fig = go.Figure()
    for i, (what, colour) in enumerate((("flags", "#e76f51"), ("patients", "#1d3557")), start=1):
        counts = [privacy.count(r[i], config) for r in rows]
        hover = "%{x}: %{text} " + what + "<extra></extra>"
        fig.add_trace(count_bars(labels, counts, name=what, colour=colour, hover=hover))
    base_layout(fig, f"Safety flags{filter_note(site, period)}", barmode="group", height=460)
    fig.update_yaxes(title="count")
    if not rows:
        no_data(fig, "No safety flags in this selection.")
    return fig


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
    """Data-quality checks passed and failed per suite."""
    config = resolve_config(con, config)
    require(con, DQ)
    rows = con.execute(
        f"SELECT suite, count(*) FILTER (WHERE success), count(*) FILTER (WHERE NOT success) "
        f"FROM {DQ} GROUP BY 1 ORDER BY 1"
    ).fetchall()
    fig = go.Figure()
    for i, (what, colour) in enumerate((("passed", "#2a9d8f"), ("failed", "#e63946")), start=1):
        counts = [privacy.count(r[i], config) for r in rows]
        hover = "%{x}: %{text} checks " + what + "<extra></extra>"
        fig.add_trace(
            count_bars([r[0] for r in rows], counts, name=what, colour=colour, hover=hover)
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


def fig_quarantine_by_extract(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Rows accepted, quarantined and duplicate per extract (audit.ingest_log)."""
    config = resolve_config(con, config)
    require(con, INGEST_LOG, ("extract", "rows_read", "accepted", "quarantined", "duplicates"))
    rows = con.execute(
        f"SELECT extract, rows_read, accepted, quarantined, duplicates FROM {INGEST_LOG} "
        f"WHERE rows_read > 0 ORDER BY extract"
    ).fetchall()
    fig = go.Figure()
    for i, (what, colour) in enumerate(
        (("accepted", "#2a9d8f"), ("quarantined", "#e63946"), ("duplicates", "#e9c46a")), start=2
    ):
        counts = [privacy.count(r[i], config) for r in rows]
        hover = "%{x}: %{text} rows " + what + "<extra></extra>"
        fig.add_trace(
            count_bars([r[0] for r in rows], counts, name=what, colour=colour, hover=hover)
        )
    base_layout(fig, "Rows per extract: accepted, quarantined, duplicates", barmode="group")
    fig.update_yaxes(type="log", title="rows (log scale)")
    if not rows:
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
    charts=(
        Chart(
            fig_safety_flags,
            "Safety flags",
            "Flags raised and distinct patients flagged, per flag.",
            reads=(FLAGS,),
        ),
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
