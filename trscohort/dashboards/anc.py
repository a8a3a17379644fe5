"""ANC page: category distribution by treatment week, and time from a moderate or severe ANC to
the required action. Aggregates only - never one patient's series of results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from trscohort.dashboards import privacy
from trscohort.dashboards.client import ClientChart, ClientPage, encode, protect_in_parts
from trscohort.dashboards.common import (
    ALL_SITES,
    ALL_TIME,
    COLOURS,
    NO_SITE,
    Chart,
    Page,
    Period,
    base_layout,
    count_bars,
    filter_note,
    no_data,
    patients_with_site,
    periods,
    protected_table,
    require,
    resolve_config,
    site_key,
    sites,
    time_key,
    where,
    withheld_bars,
)
from trscohort.publication.suppression import CountTable, Hierarchy, Status, cube

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


# --------------------------------------------------------------------------- published tables

ALL_WEEKS = "all weeks"


def _years(con) -> list[str]:
    require(con, ANC_RESULTS)
    rows = con.execute(
        f"SELECT DISTINCT CAST(year(collected_date) AS VARCHAR) FROM {ANC_RESULTS} "
        "WHERE collected_date IS NOT NULL ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def _shown_time(con):
    shown = set(periods(con))
    return lambda time: time == ALL_TIME or time in shown


def results_table(con, config) -> CountTable:
    """ANC results by site, year (and all years), week band (and all weeks) and category."""
    require(con, ANC_RESULTS)
    rows = con.execute(
        f"SELECT p.site, CAST(year(r.collected_date) AS VARCHAR), {WEEK_BAND_SQL} AS band, "
        f"r.anc_category, count(*) FROM {ANC_RESULTS} AS r "
        f"JOIN {patients_with_site(con)} AS p USING (patient_id) "
        f"WHERE r.collected_date IS NOT NULL GROUP BY ALL"
    ).fetchall()
    counts = {(s, y, b, c): n for s, y, b, c, n in rows}
    shown_time = _shown_time(con)
    return cube(
        "ANC results",
        counts,
        [
            Hierarchy.flat([*sites(con), NO_SITE], ALL_SITES),
            Hierarchy.flat(_years(con), ALL_TIME),
            Hierarchy.flat(sorted({b for _, _, b, _ in counts}), ALL_WEEKS),
            Hierarchy.roots(sorted({c for *_, c in counts}, key=str)),
        ],
        lambda key: key[0] != NO_SITE and shown_time(key[1]),
    )


def patients_table(con, config) -> CountTable:
    """Distinct patients per site, year (or all years) and category: patients add up over
    sites, not over years or categories (a patient counts in each)."""
    rows = con.execute(
        f"SELECT p.site, coalesce(CAST(year(r.collected_date) AS VARCHAR), '{ALL_TIME}'), "
        f"r.anc_category, count(DISTINCT r.patient_id) FROM {ANC_RESULTS} AS r "
        f"JOIN {patients_with_site(con)} AS p USING (patient_id) "
        f"GROUP BY GROUPING SETS ((p.site, year(r.collected_date), r.anc_category), "
        f"(p.site, r.anc_category))"
    ).fetchall()
    counts = {(s, y, c): n for s, y, c, n in rows}
    shown_time = _shown_time(con)
    return cube(
        "ANC patients",
        counts,
        [
            Hierarchy.flat([*sites(con), NO_SITE], ALL_SITES),
            Hierarchy.roots([*_years(con), ALL_TIME]),
            Hierarchy.roots(sorted({c for *_, c in counts}, key=str)),
        ],
        lambda key: key[0] != NO_SITE and shown_time(key[1]),
    )


# The last protected results table and its cells by (site, year): every site x year figure
# looked through the whole cube for its own cells (a quarter of the ANC page's build time).
_CELLS_BY_SITE_TIME: dict[str, tuple[Any, dict]] = {}


def _cells_of(protected, site_key_: str, time: str) -> list[tuple]:
    """The cells of one site (or all sites) and year (or all years) of the results table."""
    cached = _CELLS_BY_SITE_TIME.get("results")
    if cached is None or cached[0] is not protected:
        index: dict[tuple, list[tuple]] = {}
        for k in protected.table.values:
            index.setdefault(k[:2], []).append(k)
        cached = _CELLS_BY_SITE_TIME["results"] = (protected, index)
    return cached[1].get((site_key_, time), [])


def _time(con, period) -> str:
    return time_key(period, periods(con))  # the years the pages publish


def _band_total(protected, key, time, band, categories) -> int | None:
    """Results of a week band over every category: known only when every category is shown
    (the categories are not added up on the page, so this is the sum a reader could make)."""
    cells = [protected.cell((key, time, band, c)) for c in categories]
    if any(c.value is None for c in cells):
        return None
    return sum(c.value for c in cells)


def fig_anc_categories_by_week(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Share of ANC results in each category per week band of clozapine treatment (100 %
    stacked, n in the hover and the table): a share, so the long >104-week band does not dwarf
    the weekly ones. A band with a suppressed category is withheld as a whole."""
    config = resolve_config(con, config)
    protected = protected_table(con, "anc results", lambda: results_table(con, config), config)
    time, key = _time(con, period), site_key(site)
    values = protected.table.values
    present = [k for k in _cells_of(protected, key, time) if k[2] != ALL_WEEKS]
    bands = sorted(
        {k[2] for k in present if values[k] > 0},
        key=lambda b: (b != "baseline", b == ">104", b),
    )
    categories = sorted({k[3] for k in present if values[k] > 0}, key=str)
    ordered = [
        *[c for c in CATEGORIES if c in categories],
        *[c for c in categories if c not in CATEGORIES],
    ]
    totals = {b: _band_total(protected, key, time, b, ordered) for b in bands}
    labels = [_band_label(b) for b in bands]
    fig = go.Figure()
    for category in ordered:
        cells = [protected.cell((key, time, b, category)) for b in bands]
        shares = [
            100.0 * c.value / totals[b] if totals[b] and c.value is not None else None
            for c, b in zip(cells, bands, strict=True)
        ]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=shares,
                name=str(category),
                marker={"color": COLOURS.get(str(category), "#6c757d")},
                customdata=[c.label for c in cells],
                text=[
                    None if v is None else f"{v:.1f} % of {totals[b]:,}"
                    for v, b in zip(shares, bands, strict=True)
                ],
                textposition="none",
                hovertemplate="week %{x}: %{y:.1f} % (%{customdata} of the band's results)"
                "<extra>" + str(category) + "</extra>",
            )
        )
    withheld = [totals[b] is None for b in bands]
    if any(withheld):
        fig.add_trace(withheld_bars(labels, withheld, top=100, label=privacy.WITHHELD, name=None))
    base_layout(
        fig,
        f"Share of ANC results by category and treatment week{filter_note(site, period)}",
        barmode="stack",
    )
    fig.update_xaxes(type="category", title="week of clozapine treatment")
    fig.update_yaxes(title="% of the week band's ANC results", range=[0, 100])
    if not bands:
        no_data(fig)
    return fig


def fig_anc_category_totals(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Results and patients per ANC category (a patient counts once per category)."""
    config = resolve_config(con, config)
    results = protected_table(con, "anc results", lambda: results_table(con, config), config)
    patients = protected_table(con, "anc patients", lambda: patients_table(con, config), config)
    time, key = _time(con, period), site_key(site)
    values = results.table.values
    present = {k[3] for k in _cells_of(results, key, time) if k[2] == ALL_WEEKS and values[k] > 0}
    cats = [c for c in CATEGORIES if c in present] + sorted(present - set(CATEGORIES), key=str)
    fig = go.Figure()
    for what, protected, cell, colour in (
        ("results", results, lambda c: (key, time, ALL_WEEKS, c), "#457b9d"),
        ("patients", patients, lambda c: (key, time, c), "#1d3557"),
    ):
        counts = [protected.cell(cell(c)) for c in cats]
        hover = "%{x}: %{customdata} " + what + "<extra></extra>"
        fig.add_traces(
            count_bars(cats, counts, name=what, colour=colour, hover=hover, config=config)
        )
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


def action_labels(config) -> list[str]:
    days = int(config.get("safety", {}).get("anc_action_days", 2))
    return [b.format(d=days, d1=days + 1) for b in ACTION_BINS]


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


def action_table(con, config) -> CountTable:
    """Clozapine episodes by site, period (each year, and all years: not additive, an episode
    may count in two years), days-to-action bin and severity."""
    site_list = sites(con)
    counts = {}
    for time in [*_years(con), ALL_TIME]:
        period = None if time == ALL_TIME else time
        overall = time_to_action_counts(con, period=period, config=config)
        left = {b: list(v) for b, v in overall.items()}
        for site in site_list:
            for b, (moderate, severe) in time_to_action_counts(
                con, site=site, period=period, config=config
            ).items():
                counts[(site, time, b, "moderate")] = moderate
                counts[(site, time, b, "severe")] = severe
                left[b][0] -= moderate
                left[b][1] -= severe
        for b, (moderate, severe) in left.items():
            counts[(NO_SITE, time, b, "moderate")] = moderate
            counts[(NO_SITE, time, b, "severe")] = severe
    shown_time = _shown_time(con)
    bins = action_labels(config)
    return cube(
        "ANC time to action",
        counts,
        [
            Hierarchy.flat([*site_list, NO_SITE], ALL_SITES),
            Hierarchy.roots([*_years(con), ALL_TIME]),
            Hierarchy.roots(bins),
            Hierarchy.roots(["moderate", "severe"]),
        ],
        lambda key: key[0] != NO_SITE and shown_time(key[1]),
    )


def fig_time_to_action(
    con, *, site: str | None = None, period: Period = None, config: Mapping[str, Any] | None = None
) -> go.Figure:
    """Days from a moderate or severe ANC (requiring interruption) to clozapine being stopped."""
    config = resolve_config(con, config)
    require(con, EXPOSURE)
    protected = protected_table(con, "anc action", lambda: action_table(con, config), config)
    time, key = _time(con, period), site_key(site)
    labels = action_labels(config)
    fig = go.Figure()
    any_episode = False
    for category, colour in (("moderate", COLOURS["moderate"]), ("severe", COLOURS["severe"])):
        cells = [protected.cell((key, time, b, category)) for b in labels]
        any_episode = any_episode or any(
            protected.table.values.get((key, time, b, category), 0) for b in labels
        )
        hover = "%{x}: %{customdata} episodes<extra>" + category + "</extra>"
        fig.add_traces(
            count_bars(
                labels,
                cells,
                name=f"first {category} ANC",
                colour=colour,
                hover=hover,
                config=config,
            )
        )
    base_layout(
        fig,
        f"Time from a moderate or severe ANC to stopping clozapine{filter_note(site, period)}",
        barmode="group",
    )
    fig.update_xaxes(title="days from the result to the last day of clozapine")
    fig.update_yaxes(title="clozapine episodes")
    if not any_episode:
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
    client=ClientPage(
        build=lambda con, config: client_data(con, config),
        reads=(ANC_RESULTS,),
        charts=(
            ClientChart(
                "anc_categories_by_week",
                "anc_weeks",
                "ANC categories by treatment week",
                "Share of the week band's ANC results in each category, with n / N: weekly to "
                "week 26, two-weekly bands to week 52, four-weekly bands to week 104. A band with "
                "a suppressed category is withheld as a whole. Follows the site and year filters "
                "above.",
            ),
            ClientChart(
                "anc_category_totals",
                "anc_totals",
                "ANC categories overall",
                "Results and distinct patients per category (a patient counts once in each "
                "category). Follows the site and year filters above.",
            ),
            ClientChart(
                "anc_abnormal_by_month",
                "anc_abnormal",
                "Abnormal ANC results per month and the action required",
                "Results in each category other than normal (and bounds that may be abnormal, "
                "such as '<500'), per month of collection, with the action the guideline's ANC "
                "table requires for it (benign ethnic neutropenia changes the action for a "
                "moderate result), and the month's results of every category as N. Follows the "
                "site and year filters above; counts suppressed as published.",
            ),
        ),
    ),
    charts=(
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


# --------------------------------------------------------------------------- browser-side months

# Categories other than normal, most urgent first (bounds that span categories beside the
# category they may be): each with the action marts.anc_results records for it.
ABNORMAL_ORDER = (
    "severe",
    "moderate_or_severe",
    "moderate",
    "mild_or_worse",
    "mild",
    "mild_or_normal",
    "not_severe",
    "indeterminate",
)
# The guideline's action per proven category (its ANC table), listed when no result of the
# category is in the warehouse, so that a zero is shown rather than the category left out.
GUIDELINE_ACTIONS = {
    "severe": "discontinue; no rechallenge",
    "moderate": "interrupt (general) / continue with more monitoring (BEN)",
    "mild": "continue, ANC 3x/week",
}
ALL_RESULTS = "all results"
NORMAL = "normal"


def _abnormal_key_order(key: tuple[str, str]) -> tuple:
    category, action = key
    rank = ABNORMAL_ORDER.index(category) if category in ABNORMAL_ORDER else len(ABNORMAL_ORDER)
    return (rank, category, action)


def client_data(con, config: Mapping[str, Any]) -> dict:
    """ANC results per site (and all sites), month and (category, required action) other than
    normal, with all results of the month as the denominator (normal results are a hidden
    cell: all results less the abnormal ones). One query; each month protected on its own
    (primary and complementary suppression), the browser adds months up."""
    config = resolve_config(con, config)
    require(con, ANC_RESULTS, ("patient_id", "collected_date", "anc_category", "required_action"))
    rows = con.execute(
        f"SELECT p.site, strftime(r.collected_date, '%Y-%m'), "
        f"coalesce(r.anc_category, 'indeterminate'), coalesce(r.required_action, ''), count(*) "
        f"FROM {ANC_RESULTS} AS r JOIN {patients_with_site(con)} AS p USING (patient_id) "
        f"WHERE r.collected_date IS NOT NULL GROUP BY ALL"
    ).fetchall()
    leaves: dict[tuple, int] = {}
    for site, month, category, action, n in rows:
        key = NORMAL if category == NORMAL else (category, action)
        leaves[(site, month, key)] = leaves.get((site, month, key), 0) + int(n)
    site_list = sites(con)
    months = sorted({k[1] for k in leaves})
    found = {k[2] for k in leaves if k[2] != NORMAL}
    missing = {(c, a) for c, a in GUIDELINE_ACTIONS.items() if c not in {k[0] for k in found}}
    keys = sorted(found | missing, key=_abnormal_key_order)
    cells = protect_in_parts(
        "ANC abnormal results by month",
        leaves,
        [
            Hierarchy.flat([*site_list, NO_SITE], ALL_SITES),
            Hierarchy.roots(months),
            Hierarchy.flat([*keys, NORMAL], ALL_RESULTS),
        ],
        part_of=lambda key: key[1],
        small_max=privacy.small_count_max(config),
        published=lambda key: key[0] != NO_SITE and key[2] != NORMAL,
    )
    site_index = {ALL_SITES: -1, **{s: i for i, s in enumerate(site_list)}}
    month_index = {m: i for i, m in enumerate(months)}
    key_index = {ALL_RESULTS: -1, **{k: i for i, k in enumerate(keys)}}
    out_rows = sorted(
        [site_index[s], month_index[m], key_index[k], code]
        for (s, m, k), (value, code) in cells.items()
        if value > 0
    )
    weeks = week_cells(con, config, site_list)
    return {
        "sites": site_list,
        "weeks": weeks,
        "categoryPatients": weeks.pop("patients"),  # top level: a table the privacy scan reads
        "months": months,
        "categories": [[c, a] for c, a in keys],
        "results": {
            "columns": ["site", "month", "category and action", "results"],
            "rows": out_rows,
        },
    }


def _band_order(band: str) -> tuple:
    return (band != "baseline", band == ">104", band)


def _category_order(category: str) -> tuple:
    known = CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES)
    return (known, str(category))


def week_cells(con, config: Mapping[str, Any], site_list: list[str]) -> dict:
    """The cells of the protected results table (site x year x week band x category, with all
    sites, all years and all weeks) as the browser reads them: the same table, and so the same
    suppression decisions, as the category totals chart. Only published cells are embedded
    (years the filter offers, never the patients without a site); a zero is not embedded."""
    require(con, ANC_RESULTS, ("treatment_week",))
    protected = protected_table(con, "anc results", lambda: results_table(con, config), config)
    status, values = protected.status, protected.table.values
    keys = [k for k in values if values[k] > 0 and status[k] is not Status.HIDDEN]
    years = sorted({k[1] for k in keys if k[1] != ALL_TIME})
    bands = sorted({k[2] for k in keys if k[2] != ALL_WEEKS}, key=_band_order)
    categories = sorted({k[3] for k in keys}, key=_category_order)
    site_index = {ALL_SITES: -1, **{s: i for i, s in enumerate(site_list)}}
    year_index = {ALL_TIME: -1, **{y: i for i, y in enumerate(years)}}
    band_index = {ALL_WEEKS: -1, **{b: i for i, b in enumerate(bands)}}
    category_index = {c: i for i, c in enumerate(categories)}
    rows = sorted(
        [site_index[s], year_index[y], band_index[b], category_index[c], encode(protected, k)]
        for k in keys
        for s, y, b, c in [k]
    )
    patients = protected_table(con, "anc patients", lambda: patients_table(con, config), config)
    patient_rows = sorted(
        [site_index[s], year_index[y], category_index[c], encode(patients, k)]
        for k, v in patients.table.values.items()
        if v > 0 and patients.status[k] is not Status.HIDDEN
        for s, y, c in [k]
    )
    return {
        "years": years,
        "bands": [_band_label(b) for b in bands],
        "patients": {"columns": ["site", "year", "category", "patients"], "rows": patient_rows},
        "categories": [str(c) for c in categories],
        "columns": ["site", "year", "week band", "category", "results"],
        "rows": rows,
    }
