"""Monitoring page (MON-*): adherence = observed / expected windows, pooled over patients.

Reads the window-level `intermediate.monitoring_windows` (one row per expected window, observed
or not); without it, the phase chart falls back to the per-patient totals of
`marts.monitoring_adherence`. Calendar aggregation is by the month a window starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from trscohort.dashboards import privacy
from trscohort.dashboards.client import ClientChart, ClientPage
from trscohort.dashboards.common import (
    ALL_SITES,
    ALL_TIME,
    COLOURS,
    NO_SITE,
    Page,
    Period,
    Unavailable,
    aggregate_mart,
    base_layout,
    count_bars,
    filter_note,
    has_table,
    no_data,
    patients_with_site,
    periods,
    protected_table,
    require,
    resolve_config,
    site_key,
    sites,
    sql_text,
    time_key,
    withheld_bars,
)
from trscohort.publication.suppression import CountTable, Hierarchy, cube

WINDOWS = "intermediate.monitoring_windows"
ADHERENCE = "marts.monitoring_adherence"
WINDOWS_BY_MONTH = "marts.monitoring_by_month"
ADHERENT_BY_MONTH = "marts.anc_adherent_patients_by_month"
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


# --------------------------------------------------------------------------- the published table

ANC_WEEKS_ON = "MON-ANC-1..3"  # the "all ANC windows from week 1" line of the month chart
OBSERVED, MISSED, EXPECTED = "observed", "missed", "expected"


def _group(rule: str) -> str:
    return re.match(r"^MON-[A-Z]+", rule).group(0) if re.match(r"^MON-[A-Z]+", rule) else rule


def _rule_hierarchy(rules: list[str]) -> Hierarchy:
    """Rule -> group (MON-ANC, MON-CV, ...); ANC-1..3 also pooled as the month chart's line."""
    parents: dict = {}
    for rule in rules:
        parents[rule] = ANC_WEEKS_ON if rule in ANC_RULES[1:] else _group(rule)
    if any(r in ANC_RULES[1:] for r in rules):
        parents[ANC_WEEKS_ON] = "MON-ANC"
    for group in sorted({_group(r) for r in rules}):
        parents[group] = None
    return Hierarchy(parents)


def _leaf_counts(con, config) -> tuple[dict, str]:
    """{(site, month, rule, observed|missed): windows} and the finest time the data has."""
    if has_table(con, WINDOWS):
        return _window_leaves(con, config), "month"
    require(con, ADHERENCE, ("patient_id", "rule_id", "expected_tests", "observed_tests"))
    rows = con.execute(
        f"SELECT p.site, '{ALL_TIME}', a.rule_id, sum(a.observed_tests), "
        f"sum(a.expected_tests - a.observed_tests) "
        f"FROM {ADHERENCE} AS a JOIN {patients_with_site(con)} AS p USING (patient_id) GROUP BY ALL"
    ).fetchall()
    return _observed_missed(rows), "all"


def _time_hierarchy(months: list[str], finest: str) -> Hierarchy:
    if finest == "all":
        return Hierarchy.single(ALL_TIME)
    years = sorted({m[:4] for m in months})
    return Hierarchy(
        {**{m: m[:4] for m in months}, **dict.fromkeys(years, ALL_TIME), ALL_TIME: None}
    )


def windows_table(con, config) -> CountTable:
    """Expected, observed and missed windows by site, time (month, year, all) and rule (rule,
    group, ANC weeks 1 on), as every monitoring chart publishes them: shares by year and rule
    (per site and for all sites), shares by month for the ANC phases and missed windows by
    month and group (for all sites: by site and month nearly every count would be small)."""
    counts, finest = _leaf_counts(con, config)
    site_list = sites(con)
    months = sorted({k[1] for k in counts})
    rules = sorted({k[2] for k in counts})
    shown_years = set(periods(con))
    shared_rules = set(ANC_RULES) | set(OTHER_RULES)

    def published(key) -> bool:
        site, time, rule, measure = key
        if site == NO_SITE:
            return False
        by_year = time == ALL_TIME or time in shown_years
        by_month = len(time) == 7 and site == ALL_SITES
        if measure in (OBSERVED, EXPECTED):
            return (by_year and rule in shared_rules) or (
                by_month and rule in (*ANC_RULES[1:], ANC_WEEKS_ON)
            )
        return by_month and rule in RULE_GROUPS  # missed windows by month and group

    return cube(
        "monitoring windows",
        counts,
        [
            Hierarchy.flat([*site_list, NO_SITE], ALL_SITES),
            _time_hierarchy(months, finest),
            _rule_hierarchy(rules),
            Hierarchy({OBSERVED: EXPECTED, MISSED: EXPECTED, EXPECTED: None}),
        ],
        published,
        keep=lambda key: key[0] == ALL_SITES or len(key[1]) != 7,  # months: all sites only
    )


def protected_windows(con, config):
    return protected_table(con, "monitoring", lambda: windows_table(con, config), config)


def _shares(protected, keys: list[tuple]) -> list[privacy.Share]:
    """Observed / expected for each (site, time, rule) key: shown only when both counts are."""
    shares = []
    for key in keys:
        observed = protected.cell((*key, OBSERVED))
        expected = protected.cell((*key, EXPECTED))
        pct = (
            100.0 * observed.value / expected.value
            if observed.value is not None and expected.value
            else None
        )
        shares.append(privacy.Share(observed, expected, pct))
    return shares


def _has(protected, key: tuple) -> bool:
    return protected.table.values.get((*key, EXPECTED), 0) > 0


def _time(con, protected, period: Period) -> str:
    """The time cell of a filter: all time, or a year the pages publish."""
    by_year = any(len(str(k[1])) == 4 for k in protected.table.values)
    if period and not by_year:
        raise Unavailable(
            f"{WINDOWS} is not available in this warehouse yet (needed for a period filter)."
        )
    return time_key(period, periods(con))


def _pct_bars(labels, shares, *, config, colour="#457b9d", name=None) -> list[go.Bar]:
    withheld = [s.pct is None and s.denominator.value != 0 for s in shares]
    bars = [
        go.Bar(
            x=labels,
            y=[s.pct for s in shares],
            text=[
                None if w else (s.label if s.pct is None else f"{s.pct:.1f} %")
                for s, w in zip(shares, withheld, strict=True)
            ],
            customdata=[s.label for s in shares],
            textposition="outside",
            hovertemplate="%{x}: %{customdata}<extra></extra>",
            marker={"color": colour},
            name=name,
            offsetgroup=name or "shares",
        )
    ]
    if any(withheld):
        marker = withheld_bars(labels, withheld, top=100, label=privacy.WITHHELD, name=name)
        marker.offsetgroup = name or "shares"
        bars.append(marker)
    return bars


def _target_line(fig: go.Figure, config) -> None:
    target = target_pct(config)
    fig.add_hline(
        y=target,
        line={"dash": "dash", "color": COLOURS["target"]},
        annotation_text=f"target {target:g} %",
        annotation_position="top left",
    )


# --------------------------------------------------------------------------- figures


def fig_anc_adherence_by_phase(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """ANC monitoring adherence (observed / expected windows) per schedule phase, with target."""
    config = resolve_config(con, config)
    protected = protected_windows(con, config)
    time = _time(con, protected, period)
    labels = anc_phase_labels(config)
    rules = [r for r in ANC_RULES if _has(protected, (site_key(site), time, r))]
    shares = _shares(protected, [(site_key(site), time, r) for r in rules])
    fig = go.Figure(_pct_bars([labels[r] for r in rules], shares, config=config))
    base_layout(
        fig, f"ANC monitoring adherence by phase{filter_note(site, period)}", barmode="overlay"
    )
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
    require(con, WINDOWS, ("patient_id", "rule_id", "window_start", "is_observed"))
    protected = protected_windows(con, config)
    time = _time(con, protected, period)
    site = None  # published by month for all sites only (see windows_table)
    all_months = sorted({k[1] for k in protected.table.values if len(str(k[1])) == 7})
    labels = {ANC_WEEKS_ON: "all ANC windows (weeks 1 on)", **anc_phase_labels(config)}
    fig = go.Figure()
    lines = zip(
        (ANC_WEEKS_ON, *ANC_RULES[1:]), ("#e76f51", "#1d3557", "#457b9d", "#a8dadc"), strict=True
    )
    key = site_key(site)
    months = [
        m
        for m in all_months
        if (time == ALL_TIME or m.startswith(time)) and _has(protected, (key, m, ANC_WEEKS_ON))
    ]
    withheld = 0
    for rule, colour in lines:
        present = [m for m in months if _has(protected, (key, m, rule))]
        if not present:
            continue
        cells = dict(
            zip(present, _shares(protected, [(key, m, rule) for m in present]), strict=True)
        )
        if rule == ANC_WEEKS_ON:
            withheld = sum(1 for s in cells.values() if s.pct is None)
        visible = True if rule == ANC_WEEKS_ON else "legendonly"
        fig.add_trace(
            go.Scatter(
                x=months,
                y=[cells[m].pct if m in cells else None for m in months],
                customdata=[cells[m].label if m in cells else "no windows" for m in months],
                mode="lines+markers",
                name=labels[rule],
                line={"color": colour, "width": 3 if rule == ANC_WEEKS_ON else 1.5},
                visible=visible,
                hovertemplate="%{x}: %{customdata}<extra>" + rule + "</extra>",
            )
        )
        hidden = [m for m in months if m in cells and cells[m].pct is None]
        if hidden:  # a withheld month is marked, not left as a silent gap
            fig.add_trace(
                go.Scatter(
                    x=hidden,
                    y=[103] * len(hidden),
                    mode="markers",
                    marker={"symbol": "x-thin-open", "color": colour, "size": 8},
                    name=f"{labels[rule]}: withheld",
                    visible=visible,
                    hovertemplate="%{x}: withheld<extra>" + rule + "</extra>",
                    showlegend=False,
                    legendgroup=labels[rule],
                )
            )
            fig.data[-2].legendgroup = labels[rule]
    title = f"ANC monitoring adherence by month{filter_note(site, period)}"
    base_layout(fig, title)
    fig.update_xaxes(type="category", title="month the window starts")
    fig.update_yaxes(title="% of expected windows with an ANC (x: withheld)", range=[0, 106])
    _target_line(fig, config)
    if withheld:
        fig.add_annotation(
            text=f"{withheld} of {len(months)} months withheld (small counts), marked x",
            x=1,
            y=1.08,
            xref="paper",
            yref="paper",
            showarrow=False,
            xanchor="right",
            font={"size": 11, "color": "#6c757d"},
        )
    if not months:
        no_data(fig)
    return fig


def fig_other_monitoring_adherence(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Cardiac, metabolic, clozapine-level and liver monitoring adherence per rule."""
    config = resolve_config(con, config)
    protected = protected_windows(con, config)
    time = _time(con, protected, period)
    rules = [r for r in OTHER_RULES if _has(protected, (site_key(site), time, r))]
    shares = _shares(protected, [(site_key(site), time, r) for r in rules])
    fig = go.Figure(
        _pct_bars(
            [f"{r}<br>{OTHER_RULES[r]}" for r in rules], shares, config=config, colour="#2a9d8f"
        )
    )
    base_layout(
        fig,
        f"Metabolic, cardiac, level and liver monitoring adherence{filter_note(site, period)}",
        barmode="overlay",
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
    require(con, WINDOWS, ("patient_id", "rule_id", "window_start", "is_observed"))
    protected = protected_windows(con, config)
    time = _time(con, protected, period)
    site = None  # published by month for all sites only (see windows_table)
    key = site_key(site)
    values = protected.table.values
    months = sorted(
        {
            k[1]
            for k in values
            if len(str(k[1])) == 7
            and (time == ALL_TIME or k[1].startswith(time))
            and k[0] == key
            and k[2] in RULE_GROUPS
            and k[3] == MISSED
            and values[k] > 0
        }
    )
    fig = go.Figure()
    palette = ("#e63946", "#f4a261", "#2a9d8f", "#457b9d", "#6d597a")
    for (prefix, group), colour in zip(RULE_GROUPS.items(), palette, strict=True):
        if not any(values.get((key, m, prefix, MISSED), 0) for m in months):
            continue
        counts = [protected.cell((key, m, prefix, MISSED)) for m in months]
        fig.add_traces(
            count_bars(
                months,
                counts,
                colour=colour,
                name=group,
                hover="%{x}: %{customdata} missed<extra>" + group + "</extra>",
                config=config,
            )
        )
    base_layout(
        fig, f"Missed monitoring windows by month{filter_note(site, period)}", barmode="stack"
    )
    fig.update_xaxes(type="category", title="month the window starts")
    fig.update_yaxes(title="missed windows (hatched: suppressed, not drawn to scale)")
    if not months:
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
    protected = protected_windows(con, config)
    time = _time(con, protected, period)
    labels = anc_phase_labels(config)
    fig = go.Figure()
    palette = ("#6c757d", "#1d3557", "#457b9d", "#a8dadc")
    any_rows = False
    for rule, colour in zip(ANC_RULES, palette, strict=True):
        keys = [(s, time, rule) for s in all_sites]
        any_rows = any_rows or any(_has(protected, k) for k in keys)
        fig.add_traces(
            _pct_bars(
                all_sites, _shares(protected, keys), config=config, colour=colour, name=labels[rule]
            )
        )
    base_layout(
        fig, f"ANC monitoring adherence by site{filter_note(None, period)}", barmode="group"
    )
    fig.update_traces(textposition="none")
    fig.update_yaxes(title="% of expected windows with an ANC", range=[0, 110])
    _target_line(fig, config)
    if not any_rows:
        no_data(fig)
    return fig


# --------------------------------------------------------------------------- browser-side page

FULLY, NOT_FULLY, PATIENTS = "fully adherent", "not fully adherent", "patients"


def _client_rules(rules: list[str]) -> Hierarchy:
    """Each rule on its own, ANC weeks 1 on also pooled (the run chart's line)."""
    parents: dict = {r: (ANC_WEEKS_ON if r in ANC_RULES[1:] else None) for r in rules}
    if any(r in ANC_RULES[1:] for r in rules):
        parents[ANC_WEEKS_ON] = None
    return Hierarchy(parents)


def _window_leaves(con, config) -> dict:
    """{(site, month, rule, observed|missed): windows} from the windows' site x month mart."""
    require(con, WINDOWS, ("patient_id", "rule_id", "window_start", "is_observed"))
    rows = con.execute(
        f"SELECT coalesce(site, {sql_text(NO_SITE)}), strftime(month, '%Y-%m'), rule_id, "
        f"windows_observed, windows_missed FROM {aggregate_mart(con, WINDOWS_BY_MONTH, config)}"
    ).fetchall()
    return _observed_missed(rows)


def _observed_missed(rows) -> dict:
    """(site, time, rule, observed, missed) rows as {(site, time, rule, observed|missed): n}."""
    counts = {}
    for site, month, rule, observed, missed in rows:
        counts[(site, month, rule, OBSERVED)] = int(observed or 0)
        counts[(site, month, rule, MISSED)] = int(missed or 0)
    return counts


def _patient_leaves(con, config) -> dict:
    """{(site, month, fully|not fully): patients with an ANC window (week 1 on) starting that
    month}; fully adherent = every such window of the month observed (MON-ANC-1..3)."""
    rows = con.execute(
        f"SELECT coalesce(site, {sql_text(NO_SITE)}), strftime(month, '%Y-%m'), "
        "patients_fully_adherent, patients_not_fully_adherent "
        f"FROM {aggregate_mart(con, ADHERENT_BY_MONTH, config)}"
    ).fetchall()
    counts = {}
    for site, month, fully, not_fully in rows:
        counts[(site, month, FULLY)] = int(fully or 0)
        counts[(site, month, NOT_FULLY)] = int(not_fully or 0)
    return counts


def _family(rule: str) -> str:
    """Rules tied by a relation (the ANC phases after the first dose and their pooled line)."""
    return ANC_WEEKS_ON if rule in ANC_RULES[1:] else rule


def client_data(con, config: Mapping[str, Any]) -> dict:
    """The monitoring page's aggregate table: windows (observed, missed, expected) and
    patients (fully adherent, not, all) by site (and all sites) x month x rule, protected.
    Each month and rule family is protected on its own (no relation ties them together)."""
    from trscohort.dashboards.client import protect_in_parts

    config = resolve_config(con, config)
    small_max = privacy.small_count_max(config)
    site_list = sites(con)
    site_dim = Hierarchy.flat([*site_list, NO_SITE], ALL_SITES)
    site_index = {ALL_SITES: -1, **{s: i for i, s in enumerate(site_list)}}
    windows = _window_leaves(con, config)
    people = _patient_leaves(con, config)
    months = sorted({k[1] for k in windows} | {k[1] for k in people})
    rules = sorted({k[2] for k in windows})
    rule_dim = _client_rules(rules)
    published = lambda key: key[0] != NO_SITE  # noqa: E731 - patients without a site: hidden
    window_cells = protect_in_parts(
        "monitoring windows",
        windows,
        [
            site_dim,
            Hierarchy.roots(months),
            rule_dim,
            Hierarchy({OBSERVED: EXPECTED, MISSED: EXPECTED, EXPECTED: None}),
        ],
        part_of=lambda key: (key[1], _family(key[2])),
        small_max=small_max,
        published=published,
    )
    people_cells = protect_in_parts(
        "patients fully adherent",
        people,
        [
            site_dim,
            Hierarchy.roots(months),
            Hierarchy({FULLY: PATIENTS, NOT_FULLY: PATIENTS, PATIENTS: None}),
        ],
        part_of=lambda key: key[1],
        small_max=small_max,
        published=published,
    )
    month_index = {m: i for i, m in enumerate(months)}
    rule_nodes = rule_dim.nodes
    rule_index = {r: i for i, r in enumerate(rule_nodes)}
    window_rows = [
        [
            site_index[site],
            month_index[month],
            rule_index[rule],
            *(window_cells.get((site, month, rule, x), (0, 0))[1] for x in (OBSERVED, MISSED)),
        ]
        + [code]
        for (site, month, rule, measure), (value, code) in sorted(window_cells.items())
        if measure == EXPECTED and value > 0
    ]
    patient_rows = [
        [
            site_index[site],
            month_index[month],
            *(people_cells.get((site, month, x), (0, 0))[1] for x in (FULLY, NOT_FULLY)),
        ]
        + [code]
        for (site, month, measure), (value, code) in sorted(people_cells.items())
        if measure == PATIENTS and value > 0
    ]
    labels = {ANC_WEEKS_ON: "ANC, all windows from week 1", **anc_phase_labels(config)}
    labels.update({r: f"{r} {t}" for r, t in OTHER_RULES.items()})
    return {
        "sites": site_list,
        "months": months,
        "rules": rule_nodes,
        "ruleLabels": {r: labels.get(r, r) for r in rule_nodes},
        "ancPhases": [r for r in ANC_RULES if r in rule_nodes],
        "otherRules": [r for r in OTHER_RULES if r in rule_nodes],
        "pooled": ANC_WEEKS_ON,
        "target": target_pct(config),
        "windows": {
            "columns": ["site", "month", "rule", OBSERVED, MISSED, EXPECTED],
            "rows": window_rows,
        },
        "patients": {
            "columns": ["site", "month", FULLY, NOT_FULLY, PATIENTS],
            "rows": patient_rows,
        },
    }


PAGE = Page(
    slug="monitoring",
    title="Monitoring adherence",
    summary=(
        "Adherence to the clozapine monitoring schedules (MON-*): the share of expected windows "
        "in which the required test was taken, pooled over patients, and the share of patients "
        "with every window of the month observed, against the target. A window counts in the "
        "month it starts. Filters are computed in your browser from the published table."
    ),
    client=ClientPage(
        build=client_data,
        reads=(WINDOWS, WINDOWS_BY_MONTH, ADHERENT_BY_MONTH),
        charts=(
            ClientChart(
                "anc_adherence_by_phase",
                "bars",
                "ANC adherence by phase",
                "MON-ANC-0 baseline ANC, then the weekly, two-weekly and monthly phases of the "
                "configured schedule profile: observed / expected windows (n / N).",
            ),
            ClientChart(
                "adherence_run_chart",
                "run",
                "ANC adherence by site and month (run chart)",
                "All ANC windows from week 1, per site and month, against the target (dashed), "
                "on a zoomed axis; dotted: the share of patients with every ANC window of the "
                "month observed (patient-level, fully adherent). Sites worst first; one panel "
                "per site beyond 8 sites.",
            ),
            ClientChart(
                "other_monitoring_adherence",
                "bars",
                "Metabolic, cardiac, level and liver monitoring",
                "MON-CV-1/2, MON-MET-1/2, MON-LVL-1 and MON-LFT-1: observed / expected windows.",
            ),
            ClientChart(
                "missed_share_by_month",
                "missed",
                "Missed windows over time (share of expected windows)",
                "Expected windows without the required test, as a share of the windows expected "
                "that month, per monitoring group.",
            ),
        ),
    ),
)
