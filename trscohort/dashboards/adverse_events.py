"""Adverse events page: incidence per 1,000 person-years on clozapine with exact Poisson 95 %
intervals by event and stratum (marts.ae_rates), and Kaplan-Meier cumulative incidence by week
since clozapine start (marts.ae_cumulative_incidence) against the guideline's published ranges
(`publication.published_ranges_pct`), drawn as bands.

A rate or interval whose event count is 1..small_count_max is withheld; a cumulative-incidence
point is withheld while the events behind it (cumulative) number 1..small_count_max.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from trscohort.dashboards import privacy
from trscohort.dashboards.client import ClientChart, ClientPage, protect_each_on_cores
from trscohort.dashboards.common import (
    ALL_SITES,
    ALL_TIME,
    COLOURS,
    NO_SITE,
    Chart,
    Page,
    Period,
    Unavailable,
    aggregate_mart,
    base_layout,
    no_data,
    protected_table,
    require,
    resolve_config,
    sites,
    sql_text,
)
from trscohort.publication.suppression import (
    CountTable,
    Hierarchy,
    cube,
)

RATES = "marts.ae_rates"
CUMULATIVE = "marts.ae_cumulative_incidence"
COMPETING = "marts.ae_competing_risks"

EVENT_LABELS = {
    "AE-NEU": "severe neutropenia",
    "AE-MYO": "myocarditis",
    "AE-CMP": "cardiomyopathy",
    "AE-SEIZ": "seizure",
    "AE-GI": "GI hypomotility",
    "AE-MET": "new diabetes",
    "AE-NMS": "NMS",
    "AE-HEP": "hepatotoxicity",
    "AE-QT": "QTc > 500 ms",
}
STRATIFIER_LABELS = {
    "time_since_start": "time since clozapine start (weeks)",
    "dose_band": "daily clozapine dose (mg/day)",
    "sex": "sex",
    "age_band": "age at the start (years)",
    "course": "course",
    "exposure": "exposure",
}
UNITS = {"dose_band": " mg/day", "age_band": " y"}


def stratifier_label(stratifier: str) -> str:
    return STRATIFIER_LABELS.get(stratifier, stratifier.replace("_", " "))


def stratum_label(stratifier: str, stratum: str) -> str:
    """A stratum with its unit: "<300" -> "< 300 mg/day", "weeks 0-4" -> "weeks 0–4"."""
    text = str(stratum).replace("-", "–")
    unit = UNITS.get(stratifier, "")
    if unit and any(ch.isdigit() for ch in text):
        text = text.replace("<", "< ").replace(">", "> ").replace("+", "+") + unit
    return text


CI_DEFAULT_WEEKS = 52  # cumulative incidence drawn to 52 weeks by default (the risky first year)
AT_RISK_WEEKS = (0, 4, 8, 18, 26, 52)  # numbers at risk printed under each panel

PALETTE = (
    "#e63946",
    "#457b9d",
    "#2a9d8f",
    "#f4a261",
    "#6d597a",
    "#1d3557",
    "#e9c46a",
    "#8d99ae",
    "#bc6c25",
)


def event_label(event_id: str) -> str:
    return f"{event_id} {EVENT_LABELS.get(event_id, '')}".strip()


def published_ranges(config: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    ranges = config.get("publication", {}).get("published_ranges_pct", {}) or {}
    return {k: (float(v[0]), float(v[1])) for k, v in ranges.items()}


def _rates(con) -> list[tuple]:
    require(con, RATES)
    # Strata in their display order first, so every chart lists them in that order.
    return con.execute(
        f"SELECT event_id, stratifier, stratum, events, rate_per_1000py, ci_low, ci_high "
        f"FROM {RATES} ORDER BY stratifier_order, stratum_order, event_id"
    ).fetchall()


def events_table(con) -> CountTable:
    """Events per event and stratum, and overall: within each stratifier the strata add up to
    the overall count (person-time is split by stratum), a relation every reader can use."""
    rows = _rates(con)
    table = CountTable("adverse events")
    for event, stratifier, stratum, events, *_ in rows:
        table.add((event, stratifier, stratum), int(events or 0))
    by_stratifier: dict[tuple, list] = {}
    for event, stratifier, stratum, *_ in rows:
        if stratifier != "overall":
            by_stratifier.setdefault((event, stratifier), []).append((event, stratifier, stratum))
    for (event, _stratifier), parts in by_stratifier.items():
        total = next((k for k in table.values if k[0] == event and k[1] == "overall"), None)
        if total and table.values[total] == sum(table.values[p] for p in parts):
            table.add_sum(total, parts)
    return table


def rate_rows(con, *, config=None) -> list[dict]:
    """marts.ae_rates as dicts, with rate and interval None when the events are suppressed
    (small, or withheld so that a small stratum cannot be worked out from the overall count:
    a rate with its exact interval gives the count back)."""
    config = resolve_config(con, config)
    protected = protected_table(con, "adverse events", lambda: events_table(con), config)
    out = []
    for event, stratifier, level, _events, rate, low, high in _rates(con):
        cell = protected.cell((event, stratifier, level))
        shown = cell.value is not None
        out.append(
            {
                "event_id": event,
                "stratifier": stratifier,
                "stratum": level,
                "events": cell,
                "rate": rate if shown else None,
                "low": low if shown else None,
                "high": high if shown else None,
            }
        )
    return out


def _withheld_text(cell) -> str:
    if cell.label == privacy.WITHHELD:
        return "withheld (its events are withheld so that a small count cannot be worked out)"
    return f"withheld ({cell.label} events)"


def _is_overall(row: dict) -> bool:
    return row["stratifier"] == "overall"


def _rate_trace(
    rows: list[dict], labels: list[str], colour: str, name: str | None = None, *, horizontal=True
) -> go.Scatter:
    """Rates with asymmetric interval bars; labels on y (horizontal) or x."""
    rates = [r["rate"] for r in rows]
    error = {
        "type": "data",
        "symmetric": False,
        "array": [None if r["rate"] is None else r["high"] - r["rate"] for r in rows],
        "arrayminus": [None if r["rate"] is None else r["rate"] - r["low"] for r in rows],
    }
    customdata = [
        _withheld_text(r["events"])
        if r["rate"] is None
        else f"{r['rate']:.2f} per 1,000 PY (95 % CI {r['low']:.2f}-{r['high']:.2f}), "
        f"{r['events'].label} events"
        for r in rows
    ]
    axes = (
        {"x": rates, "y": labels, "error_x": error}
        if horizontal
        else {"x": labels, "y": rates, "error_y": error}
    )
    return go.Scatter(
        **axes,
        mode="markers",
        marker={"color": colour, "size": 9},
        customdata=customdata,
        hovertemplate=("%{y}" if horizontal else "%{x}") + ": %{customdata}<extra></extra>",
        name=name,
        showlegend=name is not None,
    )


def fig_ae_rates(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Overall incidence per 1,000 person-years on clozapine per event, with exact 95 % CI."""
    config = resolve_config(con, config)
    rows = [r for r in rate_rows(con, config=config) if _is_overall(r)]
    if not rows:  # no overall rows: the first stratifier's rows pooled are not derivable
        raise Unavailable(f"{RATES} has no overall rows.")
    y = [
        event_label(r["event_id"]) + ("" if r["rate"] is not None else " \u2014 withheld")
        for r in rows
    ]
    fig = go.Figure(_rate_trace(rows, y, "#1d3557"))
    base_layout(
        fig,
        "Incidence on clozapine per 1,000 person-years (exact Poisson 95 % CI)",
        height=120 + 40 * len(rows),
    )
    fig.update_xaxes(title="events per 1,000 person-years", rangemode="tozero")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(margin={"l": 260})
    return fig


def fig_ae_rates_by_stratum(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Incidence per 1,000 person-years by stratum (time since start, dose band, sex, age band)."""
    config = resolve_config(con, config)
    rows = [r for r in rate_rows(con, config=config) if not _is_overall(r)]
    if not rows:
        raise Unavailable(f"{RATES} has no stratified rows.")
    stratifiers = list(dict.fromkeys(r["stratifier"] for r in rows))
    events = list(dict.fromkeys(r["event_id"] for r in rows))
    fig = make_subplots(
        rows=1,
        cols=len(stratifiers),
        subplot_titles=[stratifier_label(s) for s in stratifiers],
        shared_xaxes=False,
        horizontal_spacing=0.06,
    )
    for col, stratifier in enumerate(stratifiers, start=1):
        for i, event in enumerate(events):
            sub = [r for r in rows if r["stratifier"] == stratifier and r["event_id"] == event]
            if not sub:
                continue
            trace = _rate_trace(
                sub,
                [stratum_label(stratifier, r["stratum"]) for r in sub],
                PALETTE[i % len(PALETTE)],
                event_label(event),
                horizontal=False,
            )
            trace.update(legendgroup=event, showlegend=col == 1)
            fig.add_trace(trace, row=1, col=col)
            withheld = [r for r in sub if r["rate"] is None]
            if withheld:  # marked where the rate would be, not left blank
                fig.add_trace(
                    go.Scatter(
                        x=[stratum_label(stratifier, r["stratum"]) for r in withheld],
                        y=[0] * len(withheld),
                        mode="text",
                        text=["withheld"] * len(withheld),
                        textposition="top center",
                        textfont={"size": 9, "color": "#6c757d"},
                        hovertext=[_withheld_text(r["events"]) for r in withheld],
                        hoverinfo="text",
                        legendgroup=event,
                        showlegend=False,
                        name=f"{event_label(event)}: withheld",
                    ),
                    row=1,
                    col=col,
                )
        strata = list(
            dict.fromkeys(
                stratum_label(stratifier, r["stratum"])
                for r in rows
                if r["stratifier"] == stratifier
            )
        )
        fig.update_xaxes(
            type="category", categoryorder="array", categoryarray=strata, row=1, col=col
        )
    base_layout(
        fig,
        "Incidence per 1,000 person-years by stratum (rates on <11 events withheld)",
        height=480,
    )
    fig.update_yaxes(rangemode="tozero")
    fig.update_yaxes(title="per 1,000 person-years", row=1, col=1)
    return fig


def curve_rows(con, *, config=None, table: str = CUMULATIVE) -> dict[str, list[dict]]:
    """{event: [{week, pct, low, high}]} of the first course, with points on
    1..small_count_max events withheld (table: the Kaplan-Meier or Aalen-Johansen mart)."""
    config = resolve_config(con, config)
    require(con, table)
    rows = con.execute(
        f"SELECT event_id, week, cumulative_incidence, ci_low, ci_high, cumulative_events "
        f"FROM {table} WHERE course = 'first' ORDER BY event_id, week"
    ).fetchall()
    out: dict[str, list[dict]] = {}
    for event, week, value, low, high, cum_events in rows:
        shown = cum_events is not None and privacy.rate_allowed(cum_events, config)
        zero = value is not None and value == 0
        out.setdefault(event, []).append(  # the mart holds fractions: shown as per cent
            {
                "week": int(week),
                "pct": value * 100.0 if value is not None and (shown or zero) else None,
                "low": low * 100.0 if low is not None and shown else None,
                "high": high * 100.0 if high is not None and shown else None,
            }
        )
    return out


def at_risk_table(con, config) -> CountTable:
    """Patients at risk at the weeks printed under the curves, per event; the patients who
    leave the risk set between two of those weeks are hidden cells (a small one must not be
    worked out by subtraction)."""
    require(con, CUMULATIVE, ("event_id", "week", "at_risk"))
    weeks = ", ".join(str(w) for w in AT_RISK_WEEKS)
    rows = con.execute(
        f"SELECT event_id, week, at_risk FROM {CUMULATIVE} "
        f"WHERE course = 'first' AND week IN ({weeks}) ORDER BY event_id, week"
    ).fetchall()
    table = CountTable("patients at risk")
    by_event: dict[str, list[tuple[int, int]]] = {}
    for event, week, n in rows:
        table.add((event, int(week)), int(n or 0))
        by_event.setdefault(event, []).append((int(week), int(n or 0)))
    for event, points in by_event.items():
        for (w0, n0), (w1, n1) in zip(points, points[1:], strict=False):
            if n1 <= n0:  # the risk set only shrinks: the difference is a count too
                table.add((event, "left", w1), n0 - n1, published=False)
                table.add_sum((event, w0), [(event, w1), (event, "left", w1)])
    return table


def _numbers_at_risk(protected, event: str, suffix: str) -> list[dict]:
    """The numbers at risk under a panel's axis, one per printed week (annotations, added to
    the figure all at once: plotly validates every annotation again on each addition)."""
    font = {"size": 9, "color": "#495057"}
    notes = [
        {
            "text": protected.cell((event, week)).label,
            "x": week,
            "y": -0.2,
            "xref": f"x{suffix}",
            "yref": f"y{suffix} domain",
            "showarrow": False,
            "font": font,
        }
        for week in AT_RISK_WEEKS
        if (event, week) in protected.table.values
    ]
    notes.append(
        {
            "text": "at risk",
            "x": -0.07,
            "y": -0.2,
            "xref": f"x{suffix} domain",
            "yref": f"y{suffix} domain",
            "xanchor": "right",
            "showarrow": False,
            "font": font,
        }
    )
    return notes


def _range_buttons(fig, axes: int) -> None:
    """First 52 weeks (the default) or every week, for every panel at once."""
    names = ["xaxis"] + [f"xaxis{i}" for i in range(2, axes + 1)]
    first = {f"{n}.range": [0, CI_DEFAULT_WEEKS] for n in names}
    every = {f"{n}.autorange": True for n in names}
    fig.update_layout(
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "x": 0,
                "y": 1.12,
                "xanchor": "left",
                "yanchor": "bottom",
                "showactive": True,
                "buttons": [
                    {
                        "label": f"first {CI_DEFAULT_WEEKS} weeks",
                        "method": "relayout",
                        "args": [first],
                    },
                    {"label": "all weeks", "method": "relayout", "args": [every]},
                ],
            }
        ]
    )


def fig_ae_cumulative_incidence(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Cumulative incidence (%) by week since the start of the first clozapine course, one panel
    per event: 1 - Kaplan-Meier (the risk if everyone stayed on clozapine) with its 95 % band,
    the Aalen-Johansen curve with stop and death as competing events (dashed, when
    marts.ae_competing_risks exists), and the guideline's published range as a grey band."""
    config = resolve_config(con, config)
    curves = curve_rows(con, config=config)
    try:
        competing = curve_rows(con, config=config, table=COMPETING)
    except Unavailable:
        competing = {}
    ranges = published_ranges(config)
    events = sorted(curves, key=lambda e: (e not in ranges, e))
    if not events:
        return no_data(base_layout(go.Figure(), "Cumulative incidence"))
    try:
        at_risk = protected_table(con, "ae at risk", lambda: at_risk_table(con, config), config)
    except Unavailable:
        at_risk = None
    ncols = 2 if len(events) > 1 else 1
    nrows = math.ceil(len(events) / ncols)
    fig = make_subplots(
        rows=nrows,
        cols=ncols,
        subplot_titles=[event_label(e) for e in events],
        vertical_spacing=0.35 / max(nrows, 1),
        horizontal_spacing=0.08,
    )
    notes: list[dict] = []
    for i, event in enumerate(events):
        row, col = i // ncols + 1, i % ncols + 1
        points = curves[event]
        weeks = [p["week"] for p in points]
        colour = PALETTE[i % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=weeks + weeks[::-1],
                y=[p["high"] for p in points] + [p["low"] for p in points][::-1],
                fill="toself",
                fillcolor="rgba(69, 123, 157, 0.2)",
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
            ),
            row=row,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=weeks,
                y=[p["pct"] for p in points],
                mode="lines",
                line={"shape": "hv", "color": colour},
                name=event_label(event),
                showlegend=False,
                hovertemplate="week %{x}: %{y:.2f} % (1 - Kaplan-Meier)<extra>"
                + event
                + "</extra>",
            ),
            row=row,
            col=col,
        )
        if event in competing:
            aj_points = competing[event]
            fig.add_trace(
                go.Scatter(
                    x=[p["week"] for p in aj_points],
                    y=[p["pct"] for p in aj_points],
                    mode="lines",
                    line={"shape": "hv", "color": colour, "dash": "dash"},
                    name="Aalen-Johansen (stop and death compete)",
                    showlegend=False,
                    hovertemplate="week %{x}: %{y:.2f} % (Aalen-Johansen)<extra>"
                    + event
                    + "</extra>",
                ),
                row=row,
                col=col,
            )
        suffix = str(i + 1) if i else ""
        if at_risk is not None:
            notes += _numbers_at_risk(at_risk, event, suffix)
        withheld = sum(1 for p in points if p["pct"] is None)
        if withheld:
            notes.append(
                {
                    "text": f"{withheld} of {len(points)} weeks withheld (small counts)",
                    "showarrow": False,
                    "xref": f"x{suffix} domain",
                    "yref": f"y{suffix} domain",
                    "x": 0.98,
                    "y": 0.05,
                    "xanchor": "right",
                    "font": {"color": "#6c757d", "size": 11},
                }
            )
        if event in ranges:
            low, high = ranges[event]
            fig.add_hrect(  # after the traces: empty subplots get no shape
                y0=low,
                y1=high,
                fillcolor=COLOURS["band"],
                line_width=0,
                layer="below",
                annotation_text=f"published {low:g}-{high:g} %",
                annotation_position="top left",
                annotation_font={"size": 10, "color": "#6c757d"},
                row=row,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=[weeks[0] if weeks else 0, weeks[-1] if weeks else 52],
                    y=[high, high],
                    mode="lines",
                    line={"width": 0},
                    name=f"published range {low:g}-{high:g} %",
                    showlegend=False,
                    hovertemplate=f"published range {low:g}-{high:g} %<extra></extra>",
                ),
                row=row,
                col=col,
            )
    base_layout(
        fig,
        "Cumulative incidence in the first clozapine course (%): solid 1 - Kaplan-Meier, "
        "dashed Aalen-Johansen - grey band: published range",
        height=max(380, 300 * nrows),
    )
    fig.update_layout(annotations=[*fig.layout.annotations, *notes])
    fig.update_xaxes(title_text="weeks since clozapine start", range=[0, CI_DEFAULT_WEEKS])
    fig.update_xaxes(title_standoff=32)
    fig.update_yaxes(rangemode="tozero", title_text="%")
    _range_buttons(fig, len(events))
    return fig


ATTRITION = "marts.ae_cohort_attrition"


def attrition_table(con, config) -> tuple[CountTable, list[tuple]]:
    """Patients and exclusions per attrition step (and event from step 4): each step is the
    one before less its exclusions; the patients without an incident event (step 5's
    complement) are hidden cells."""
    require(con, ATTRITION, ("step_order", "step", "event_id", "patients", "excluded"))
    rows = con.execute(
        f"SELECT step_order, step, event_id, patients, excluded, exclusion_reason "
        f"FROM {ATTRITION} ORDER BY step_order, event_id = 'all' DESC, event_id"
    ).fetchall()
    table = CountTable("adverse-event attrition")
    latest: dict[str, tuple] = {}
    for order, _step, event, patients, excluded, _reason in rows:
        here = ("patients", order, event)
        table.add(here, int(patients or 0))
        before = latest.get(event) or latest.get("all")
        if excluded is not None:
            table.add(("excluded", order, event), int(excluded))
        if before is not None and before[1] < order:
            rest = ("excluded", order, event) if excluded is not None else ("rest", order, event)
            if excluded is None:
                left = table.values[before] - int(patients or 0)
                if left < 0:
                    latest[event] = here
                    continue
                table.add(rest, left, published=False)
            if table.values[before] == table.values[here] + table.values[rest]:
                table.add_sum(before, [here, rest])
        latest[event] = here
    return table, rows


def fig_ae_attrition(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """The adverse-event cohort's attrition (issue 14's mart): who enters the rates and why
    others do not, per step and event, counts protected."""
    config = resolve_config(con, config)
    built: dict = {}

    def build() -> CountTable:
        table, built["rows"] = attrition_table(con, config)
        return table

    protected = protected_table(con, "ae attrition", build, config)
    rows = built.get("rows") or attrition_table(con, config)[1]
    header = ["step", "event", "patients", "excluded", "why excluded"]
    cells = [
        [
            f"{order}. {step}",
            "all events" if event == "all" else event_label(event),
            protected.cell(("patients", order, event)).label,
            "" if excluded is None else protected.cell(("excluded", order, event)).label,
            reason or "",
        ]
        for order, step, event, _patients, excluded, reason in rows
    ]
    fig = go.Figure(
        go.Table(
            columnwidth=[150, 150, 70, 70, 320],
            header={"values": header, "fill_color": "#1d3557", "font": {"color": "white"}},
            cells={
                "values": [[c[i] for c in cells] for i in range(len(header))],
                "align": "left",
                "height": 24,
            },
        )
    )
    base_layout(fig, "Adverse-event cohort attrition", height=120 + 26 * len(cells))
    return fig


# --------------------------------------------------------------------------- browser-side rates

PERSON_TIME = "marts.clozapine_person_time"
PERSON_TIME_BY_YEAR = "marts.ae_person_time_by_year"
AT_RISK = "marts.ae_patients_at_risk"
STRATIFIERS = ("overall", "time_since_start", "dose_band", "age_band", "sex", "course", "exposure")
STRATUM_COLUMNS = STRATIFIERS[1:]  # columns of marts.clozapine_person_time
STRATIFIER_TOTAL = "*"  # a stratifier's strata added up: the overall count again (hidden cell)
OVERALL = ("overall", "all")

_TEXT = {
    ("course", "first"): "First course",
    ("course", "rechallenge"): "Rechallenge",
    ("exposure", "on treatment"): "On treatment",
    ("exposure", "grace period"): "Grace period after a stop",
    ("dose_band", "unknown"): "Dose unknown",
    ("dose_band", "after stop"): "After a stop (no dose)",
    ("age_band", "unknown"): "Age unknown",
    ("sex", "F"): "Female",
    ("sex", "M"): "Male",
    ("sex", "U"): "Sex not recorded",
    OVERALL: "All person-time",
}
_PREFIX = {"time_since_start": "Weeks ", "dose_band": "Dose ", "age_band": "Age "}
_SUFFIX = {"time_since_start": " since start", "dose_band": " mg/day", "age_band": " y"}


def stratum_text(stratifier: str, stratum: str) -> str:
    """A stratum as a reader says it, with its unit: "weeks 4-18" -> "Weeks 4–18 since start",
    "300-600" -> "Dose 300–600 mg/day", "<25" -> "Age < 25 y", "F" -> "Female"."""
    if (stratifier, stratum) in _TEXT:
        return _TEXT[(stratifier, stratum)]
    text = str(stratum).removeprefix("weeks ").strip().replace("-", "\u2013")
    text = text.replace(">", "> ").replace("<", "< ").replace("  ", " ")
    if stratifier not in _PREFIX:
        return text
    return f"{_PREFIX[stratifier]}{text}{_SUFFIX[stratifier]}"


def _strata_order(config, found: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """(stratifier, stratum) in display order: the config's cuts first, then anything else."""
    from trscohort.rates import stratum_labels

    labels = stratum_labels(config)
    ordered = [OVERALL]
    for stratifier in STRATIFIERS[1:]:
        known = [(stratifier, s) for s in labels.get(stratifier, []) if (stratifier, s) in found]
        rest = sorted(k for k in found if k[0] == stratifier and k not in known)
        ordered += known + rest
    return ordered


def _person_time_sql(con, config) -> str:
    """Events and days at risk (all episodes) per site, course start year, event and stratum,
    for every stratifier at once, from the site x year mart (thousands of rows at 1M)."""
    require(con, PERSON_TIME, ("analysis", "segment_start", "start_day", *STRATUM_COLUMNS))
    sets = ", ".join(
        ["(site, start_year, event_id)"]
        + [f"(site, start_year, event_id, {c})" for c in STRATUM_COLUMNS]
    )
    stratifier, stratum = _stratum_case_sql()
    return f"""
        WITH cells AS (
            SELECT coalesce(site, {sql_text(NO_SITE)}) AS site,
                   CAST(start_year AS VARCHAR) AS start_year, event_id,
                   {", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in STRATUM_COLUMNS)},
                   sum(events) AS events, sum(days) AS days
            FROM {aggregate_mart(con, PERSON_TIME_BY_YEAR, config)}
            GROUP BY ALL
        )
        SELECT site, start_year, event_id, {stratifier} AS stratifier, {stratum} AS stratum,
               CAST(sum(events) AS BIGINT) AS events, CAST(sum(days) AS BIGINT) AS days
        FROM cells
        GROUP BY GROUPING SETS ({sets})
    """


def _events_and_days(con, config) -> tuple[list[tuple], dict[tuple, int]]:
    """([(site, year, event, stratifier, stratum, events)] per site x course start year, as
    `_person_time_sql`), {(site, year, event, (stratifier, stratum)): days at risk} with all
    sites and all years added up by DuckDB, where a page publishes them (one site's strata in
    one year are not: `_published_layer`). A row without a start year adds no days (and the
    caller leaves its events out of the tables too)."""
    found = con.execute(
        f"""
        SELECT grouping(site, start_year) AS margin,
               CASE WHEN grouping(site) = 1 THEN {sql_text(ALL_SITES)} ELSE site END AS site,
               CASE WHEN grouping(start_year) = 1 THEN {sql_text(ALL_TIME)} ELSE start_year END
                   AS year,
               event_id, stratifier, stratum, CAST(sum(events) AS BIGINT) AS events,
               CAST(sum(days) FILTER (WHERE start_year IS NOT NULL) AS BIGINT) AS days
        FROM ({_person_time_sql(con, config)})
        GROUP BY GROUPING SETS ((site, start_year, event_id, stratifier, stratum),
                                (start_year, event_id, stratifier, stratum),
                                (site, event_id, stratifier, stratum),
                                (event_id, stratifier, stratum))
        """
    ).fetchnumpy()  # as columns: ~80,000 rows as tuples took twice as long at 1M
    rows, days = [], {}
    columns = ("margin", "site", "year", "event_id", "stratifier", "stratum", "events", "days")
    for margin, site, year, event, stratifier, stratum, n, d in zip(
        *(found[c].tolist() for c in columns), strict=True
    ):
        if margin == 0:
            rows.append((site, year, event, stratifier, stratum, n))
            if stratifier != OVERALL[0]:
                continue
        if year is not None and d:
            days[(site, year, event, (stratifier, str(stratum)))] = int(d)
    return rows, days


def _stratum_case_sql() -> tuple[str, str]:
    """(stratifier, stratum) SQL for a GROUPING SETS query over STRATUM_COLUMNS: which column a
    row is grouped by ('overall' for none) and its value ('all' for none)."""
    stratifier = (
        "CASE "
        + " ".join(f"WHEN grouping({c}) = 0 THEN '{c}'" for c in STRATUM_COLUMNS)
        + " ELSE 'overall' END"
    )
    stratum = (
        "CASE "
        + " ".join(f"WHEN grouping({c}) = 0 THEN coalesce({c}, 'unknown')" for c in STRATUM_COLUMNS)
        + " ELSE 'all' END"
    )
    return stratifier, stratum


def _patients_at_risk(con, config) -> dict[tuple, int]:
    """Distinct patients with days at risk per site (and all sites), course start year (and
    all years), event and stratum {(site, year, event, (stratifier, stratum)): patients}, from
    marts.ae_patients_at_risk. A patient has one site, so all sites is the sum of the sites.
    One site's strata in one year are left out: never published (`_published_layer`)."""
    rows = con.execute(
        f"""
        SELECT CASE WHEN grouping(site) = 1 THEN {sql_text(ALL_SITES)} ELSE site END,
               year, event_id, stratifier, stratum, sum(patients)
        FROM (
            SELECT coalesce(site, {sql_text(NO_SITE)}) AS site,
                   CASE WHEN all_years THEN {sql_text(ALL_TIME)}
                        ELSE CAST(start_year AS VARCHAR) END AS year,
                   event_id, stratifier, stratum, patients
            FROM {aggregate_mart(con, AT_RISK, config)}
            WHERE patients <> 0
        )
        GROUP BY GROUPING SETS ((site, year, event_id, stratifier, stratum),
                                (year, event_id, stratifier, stratum))
        HAVING grouping(site) = 1 OR year = {sql_text(ALL_TIME)} OR stratifier = 'overall'
        """
    ).fetchall()
    return {
        (site, year, event, (stratifier, str(stratum))): int(n)
        for site, year, event, stratifier, stratum, n in rows
    }


def published_person_years(
    days: int, events_code: int, patients: int, config: Mapping[str, Any]
) -> int | None:
    """The person-years published beside an event count (rounded to
    publication.person_time_unit_years), or None (withheld) where the count is suppressed,
    where at most publication.small_count_max patients are at risk (their days would describe
    them) or where the rounded figure is 0 (under half a unit). Rounded, a difference of
    published figures (all sites less the other sites) cannot give one patient's exposure
    back either."""
    unit = int(config["publication"]["person_time_unit_years"])
    if events_code < 0 or patients <= privacy.small_count_max(config):
        return None
    rounded = unit * round(days / DAYS_PER_YEAR / unit)
    return rounded or None


DAYS_PER_YEAR = 365.25


def _published_layer(key: tuple) -> bool:
    """The overall rate for every site and start year; the strata for one site over all
    years, or all sites in one year (not site x year x stratum: mostly small counts, and the
    page would grow with sites x years x strata)."""
    site, year, stratum = key
    return stratum == OVERALL or site == ALL_SITES or year == ALL_TIME


def _event_table(
    event: str,
    leaves: dict[tuple, int],
    site_h: Hierarchy,
    year_h: Hierarchy,
    strata: list[tuple[str, str]],
) -> CountTable:
    """One event's events by site x course start year x stratum, with every margin: sites add
    up to all sites, years to all time, a stratifier's strata to the event's overall count."""
    parents: dict = {OVERALL: None}
    for stratifier, stratum in strata[1:]:
        parents[(stratifier, stratum)] = (stratifier, STRATIFIER_TOTAL)
        parents[(stratifier, STRATIFIER_TOTAL)] = None
    table = cube(
        f"adverse events {event}",
        leaves,
        [site_h, year_h, Hierarchy(parents)],
        lambda key: key[0] != NO_SITE and key[2][1] != STRATIFIER_TOTAL,
        keep=_published_layer,
    )
    for key in list(table.values):  # each stratifier's total is the overall count
        site, year, (stratifier, stratum) = key
        if stratum == STRATIFIER_TOTAL:
            overall = (site, year, OVERALL)
            if table.values[key] == table.values[overall]:
                table.add_sum(overall, [key])
    return table


def client_data(con, config: Mapping[str, Any]) -> dict:
    """The page's aggregate table: per event, site (and all sites), course start year (and all
    years) and stratum, the events (protected: primary and complementary suppression, each
    event one table with every margin a reader can add up) and the days at risk (only where
    the events are shown: a rate with its exact interval gives the count back), as rounded
    person-years and only where more than small_count_max patients are at risk
    (`published_person_years`)."""
    config = resolve_config(con, config)
    rows, days = _events_and_days(con, config)
    at_risk = _patients_at_risk(con, config)
    site_list = sites(con)
    years = sorted({r[1] for r in rows if r[1] is not None})
    events = sorted({r[2] for r in rows})
    strata = _strata_order(config, {(r[3], str(r[4])) for r in rows})
    by_event: dict[str, dict[tuple, int]] = defaultdict(dict)
    for site, year, event, stratifier, stratum, n in rows:
        if year is not None:
            by_event[event][(site, year, (stratifier, str(stratum)))] = int(n or 0)
    site_h = Hierarchy.flat([*site_list, NO_SITE], ALL_SITES)
    year_h = Hierarchy.flat(years, ALL_TIME)
    small_max = privacy.small_count_max(config)
    site_index = {ALL_SITES: -1, **{s: i for i, s in enumerate(site_list)}}
    year_index = {ALL_TIME: -1, **{y: i for i, y in enumerate(years)}}
    stratum_index = {s: i for i, s in enumerate(strata)}

    # Events are independent tables: protected on every core (a solved leaf costs about 4).
    protected = protect_each_on_cores(
        lambda event: _event_table(event, by_event[event], site_h, year_h, strata),
        events,
        [4 * len(by_event[event]) for event in events],
        small_max,
    )
    out_rows = []
    for e, (event, cells) in enumerate(zip(events, protected, strict=True)):
        for (site, year, stratum), (_value, code) in cells.items():
            d = days.get((site, year, event, stratum), 0)
            if d == 0 and code == 0:
                continue  # no one at risk: nothing to show
            patients = at_risk.get((site, year, event, stratum), 0)
            out_rows.append(
                [
                    site_index[site],
                    year_index[year],
                    e,
                    stratum_index[stratum],
                    code,
                    published_person_years(d, code, patients, config),
                ]
            )
    out_rows.sort()
    return {
        "months": [],  # the month filter of other pages is not used here
        "sites": site_list,
        "years": years,
        "events": events,
        "eventLabels": {e: event_label(e) for e in events},
        "strata": [[s, v] for s, v in strata],
        "stratumLabels": [stratum_text(s, v) for s, v in strata],
        "stratifiers": [
            [s, stratifier_label(s) if s != "overall" else "overall"] for s in STRATIFIERS
        ],
        "ciLevel": float(config["adverse_events"]["ci_level"]),
        "personTimeUnit": int(config["publication"]["person_time_unit_years"]),
        "cells": {
            "columns": ["site", "start year", "event", "stratum", "events", "person-years"],
            "rows": out_rows,
        },
    }


PAGE = Page(
    slug="adverse_events",
    title="Adverse events",
    summary=(
        "Adverse events on clozapine (AE-*): incidence per 1,000 person-years with exact "
        "Poisson 95 % intervals by site, course start year and stratum (one panel per event), "
        "and the cumulative incidence by week since clozapine start "
        "compared with the guideline's published ranges (severe neutropenia, myocarditis, "
        "seizures, constipation), drawn as grey bands."
    ),
    client=ClientPage(
        build=lambda con, config: client_data(con, config),
        reads=(PERSON_TIME, PERSON_TIME_BY_YEAR, AT_RISK),
        charts=(
            ClientChart(
                "ae_incidence",
                "ae_incidence",
                "Incidence per 1,000 person-years, one panel per event",
                "New users' clozapine person-time from day 1 of each course to 30 days after "
                "each stop (marts.clozapine_person_time, all episodes); the first point of each "
                "panel is all person-time, then the strata chosen above. Each panel has its own "
                "scale, so a common event does not flatten the rare ones (it reaches the "
                "highest interval among strata with events; the wider interval of a stratum "
                "without events runs off the panel and is in the table). Exact Poisson 95 % "
                "intervals, computed in the page from the published events and person-years "
                "(the same formula as marts.ae_rates). Filtered by site and by the year the "
                "clozapine course started, with the previous start years beside them on request "
                "(a faint marker). Methods note: person-time is shown in person-years rounded "
                "to publication.person_time_unit_years, and withheld (with the rate) where the "
                "event count is suppressed or at most publication.small_count_max patients are "
                "at risk, so that no one patient's exposure can be worked out; a rate on a "
                "suppressed event count is withheld.",
            ),
        ),
    ),
    charts=(
        Chart(
            fig_ae_cumulative_incidence,
            "Cumulative incidence by week since start",
            "First course, new users, from day 1 (day 0 is baseline). Solid: one minus "
            "Kaplan-Meier with its 95 % band, the risk if everyone stayed on clozapine (stops and "
            "deaths censored). Dashed: Aalen-Johansen, the risk with stopping and death as "
            "competing events (never above the solid line). Grey band: the guideline's "
            "published range (publication.published_ranges_pct). The first 52 weeks by "
            "default (the risky first year; “all weeks” shows the whole follow-up), "
            "with the patients still at risk under each panel. All sites and periods (not "
            "filtered: the curves are computed over the whole first-course cohort).",
            filters=(),
            reads=(CUMULATIVE, COMPETING),
        ),
        Chart(
            fig_ae_attrition,
            "Who is in the adverse-event rates (attrition)",
            "Every clozapine user, then new users (365 days of history before the first "
            "record), follow-up after baseline, at risk of each event, and with an incident "
            "event; each step with the patients excluded and why.",
            filters=(),
            reads=(ATTRITION,),
        ),
    ),
)
