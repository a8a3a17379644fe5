"""ANC page: category distribution by treatment week, and time from a moderate or severe ANC to
the required action. Aggregates only - never one patient's series of results."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from trscohort.dashboards import privacy
from trscohort.dashboards.client import (
    ClientChart,
    ClientPage,
    encode,
    protect_each_on_cores,
    protect_in_parts,
)
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
    no_data,
    patients_with_site,
    period_bounds,
    periods,
    protected_table,
    require,
    resolve_config,
    site_key,
    sites,
    sql_text,
    time_key,
    where,
    withheld_bars,
)
from trscohort.publication.suppression import (
    CountTable,
    Hierarchy,
    Status,
    cube,
)

ANC_RESULTS = "marts.anc_results"
EXPOSURE = "intermediate.clozapine_exposure"
CATEGORIES = ("normal", "mild", "moderate", "severe")

# Week bands follow the default schedule: weekly to 26, two-weekly to 52, then 4-weekly to 104;
# named from a band's first week (marts.anc_results_by_month counts per band that way).
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
RESULTS_BY_MONTH = "marts.anc_results_by_month"
PATIENTS_BY_YEAR = "marts.anc_patients_by_year"


def _by_band_sql(con, time_sql: str, keys: Sequence[str], config) -> str:
    """SQL for results per site, `time_sql` (of the month the samples were taken in, as
    `time`), week band and `keys` (columns of the results mart), as (site, time, band, *keys,
    n): from the site x month mart, the band named once per count."""
    require(con, ANC_RESULTS)
    return f"""
        SELECT site, time, {WEEK_BAND_SQL} AS band, {", ".join(keys)}, n FROM (
            SELECT coalesce(site, {sql_text(NO_SITE)}) AS site, {time_sql} AS time,
                   week_band_start AS treatment_week, {", ".join(keys)}, sum(results) AS n
            FROM {aggregate_mart(con, RESULTS_BY_MONTH, config)}
            GROUP BY ALL
        )
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


def _years(con, config) -> list[str]:
    require(con, ANC_RESULTS)
    rows = con.execute(
        "SELECT DISTINCT CAST(year(month) AS VARCHAR) "
        f"FROM {aggregate_mart(con, RESULTS_BY_MONTH, config)} ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def _shown_time(con):
    shown = set(periods(con))
    return lambda time: time == ALL_TIME or time in shown


def results_table(con, config) -> CountTable:
    """ANC results by site, year (and all years), week band (and all weeks) and category."""
    require(con, ANC_RESULTS)
    rows = con.execute(
        "SELECT site, CAST(time AS VARCHAR), band, anc_category, n "
        f"FROM ({_by_band_sql(con, 'year(month)', ['anc_category'], config)})"
    ).fetchall()
    counts = {(s, y, b, c): n for s, y, b, c, n in rows}
    shown_time = _shown_time(con)
    return cube(
        "ANC results",
        counts,
        [
            Hierarchy.flat([*sites(con), NO_SITE], ALL_SITES),
            Hierarchy.flat(_years(con, config), ALL_TIME),
            Hierarchy.flat(sorted({b for _, _, b, _ in counts}), ALL_WEEKS),
            Hierarchy.roots(sorted({c for *_, c in counts}, key=str)),
        ],
        lambda key: key[0] != NO_SITE and shown_time(key[1]),
    )


def patients_table(con, config) -> CountTable:
    """Distinct patients per site, year (or all years) and category: patients add up over
    sites, not over years or categories (a patient counts in each)."""
    require(con, ANC_RESULTS)
    rows = con.execute(
        f"SELECT coalesce(site, {sql_text(NO_SITE)}), "
        f"coalesce(CAST(result_year AS VARCHAR), {sql_text(ALL_TIME)}), anc_category, patients "
        f"FROM {aggregate_mart(con, PATIENTS_BY_YEAR, config)}"
    ).fetchall()
    counts = {(s, y, c): n for s, y, c, n in rows}
    shown_time = _shown_time(con)
    return cube(
        "ANC patients",
        counts,
        [
            Hierarchy.flat([*sites(con), NO_SITE], ALL_SITES),
            Hierarchy.roots([*_years(con, config), ALL_TIME]),
            Hierarchy.roots(sorted({c for *_, c in counts}, key=str)),
        ],
        lambda key: key[0] != NO_SITE and shown_time(key[1]),
    )


def _protected_results(con, config):
    """The results table, protected category by category: categories are never added up in
    a relation (a band's N is summed in the page from shown cells only)."""
    return protected_table(
        con, "anc results", lambda: results_table(con, config), config, part_of=lambda k: k[3]
    )


def _protected_patients(con, config):
    """Distinct patients: only sites add up, so each year (or all years) x category is a part."""
    return protected_table(
        con,
        "anc patients",
        lambda: patients_table(con, config),
        config,
        part_of=lambda k: (k[1], k[2]),
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
    the weekly ones. A band with a suppressed category is withheld as a whole.

    For analysts (not on the published page): its suppression is the results table's own, not
    combined with the page's monthly abnormal results (`protect_results`), so do not publish it
    beside the ANC page."""
    config = resolve_config(con, config)
    protected = _protected_results(con, config)
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
    """Results and patients per ANC category (a patient counts once per category). For
    analysts, not on the published page: see `fig_anc_categories_by_week`."""
    config = resolve_config(con, config)
    results = _protected_results(con, config)
    patients = _protected_patients(con, config)
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


NOT_STOPPED = "not stopped by the as-of date"
SEVERITIES = ("moderate", "severe")
# A result "requires interruption" when the ANC table's action says so (marts.anc_results).
NEEDS_ACTION_SQL = (
    "lower(coalesce(r.required_action, '')) SIMILAR TO '.*(interrupt|discontinu|stop|withhold).*'"
)


def action_bounds(config: Mapping[str, Any]) -> list[int]:
    """Upper ends (days, inclusive) of the closed bins: safety.anc_action_days (SAF-ANC-ACTION),
    then each of publication.anc_action_bins_days above it."""
    days = int(config["safety"]["anc_action_days"])
    later = [int(b) for b in config["publication"]["anc_action_bins_days"] if int(b) > days]
    return [days, *later]


def action_labels(config: Mapping[str, Any]) -> list[str]:
    bounds = action_bounds(config)
    middle = [f"{a + 1}-{b} days" for a, b in zip(bounds, bounds[1:], strict=False)]
    return [f"0-{bounds[0]} days", *middle, f"> {bounds[-1]} days", NOT_STOPPED]


def time_to_action_sql(con, config: Mapping[str, Any]) -> str:
    """One set-based query: clozapine episodes by site, month, days-to-action bin (its index
    in `action_labels`) and severity. An episode counts once: by its first moderate or severe
    ANC requiring interruption (severe first on the same day), in the month of that result,
    binned (CASE, bounds from config) by days from it to the end of the exposure episode;
    an episode still ongoing at the as-of date is "not stopped"."""
    require(con, ANC_RESULTS, ("patient_id", "collected_date", "anc_category", "required_action"))
    require(con, EXPOSURE, ("patient_id", "episode_start", "episode_end", "end_reason"))
    bounds = action_bounds(config)
    bins = "\n".join(
        f"            WHEN days_to_action <= {int(b)} THEN {i}" for i, b in enumerate(bounds)
    )
    # Earliest first; on one day a severe result before a moderate one.
    order = (
        "date_diff('day', DATE '1900-01-01', r.collected_date) * 2 "
        "+ CASE WHEN r.anc_category = 'severe' THEN 0 ELSE 1 END"
    )
    return f"""
        WITH episodes AS (
            SELECT r.patient_id,
                   arg_min(r.anc_category, {order}) AS severity,
                   min(r.collected_date) AS first_date,
                   arg_min(CASE WHEN e.end_reason = 'ongoing' THEN NULL
                           ELSE date_diff('day', r.collected_date, e.episode_end) END,
                           {order}) AS days_to_action
            FROM {ANC_RESULTS} AS r
            JOIN {EXPOSURE} AS e ON e.patient_id = r.patient_id
             AND r.collected_date BETWEEN e.episode_start AND e.episode_end
            WHERE r.anc_category IN ('moderate', 'severe') AND {NEEDS_ACTION_SQL}
            GROUP BY r.patient_id, e.episode_start
        )
        SELECT p.site, strftime(x.first_date, '%Y-%m') AS month,
               CASE
                   WHEN days_to_action IS NULL THEN {len(bounds) + 1}
{bins}
                   ELSE {len(bounds)}
               END AS bin,
               x.severity, count(*) AS episodes
        FROM episodes AS x JOIN {patients_with_site(con)} AS p USING (patient_id)
        GROUP BY ALL
    """


def time_to_action_leaves(con, config: Mapping[str, Any]) -> dict[tuple, int]:
    """{(site, month, bin label, severity): episodes} from `time_to_action_sql` (aggregates)."""
    labels = action_labels(config)
    rows = con.execute(time_to_action_sql(con, config)).fetchall()
    return {(site, month, labels[b], sev): int(n) for site, month, b, sev, n in rows}


def time_to_action_counts(
    con, *, site: str | None = None, period: Period = None, config=None
) -> dict[str, tuple[int, int]]:
    """{bin: (moderate, severe)} episodes of one site (or all) whose first moderate or severe
    ANC requiring interruption fell in `period` (unsuppressed: for tests and analysts)."""
    config = resolve_config(con, config)
    bounds = period_bounds(period)
    out = {label: [0, 0] for label in action_labels(config)}
    for (s, month, label, severity), n in time_to_action_leaves(con, config).items():
        if site is not None and s != site:
            continue
        if bounds is not None and not (bounds[0] <= _month_start(month) < bounds[1]):
            continue
        out[label][SEVERITIES.index(severity)] += n
    return {k: (v[0], v[1]) for k, v in out.items()}


def _month_start(month: str) -> dt.date:
    return dt.date(int(month[:4]), int(month[5:7]), 1)


def action_cells(
    leaves: Mapping[tuple, int], config: Mapping[str, Any], site_list: list[str], months: list[str]
) -> dict:
    """The time-to-action table as the browser reads it: episodes by site (and all sites),
    month (an index into the page's `months`), bin and severity, protected month by month (an
    episode counts in one month only, so no relation crosses months; the browser adds months
    up)."""
    labels = action_labels(config)
    cells = protect_in_parts(
        "ANC time to action",
        leaves,
        [
            Hierarchy.flat([*site_list, NO_SITE], ALL_SITES),
            Hierarchy.roots(months),
            Hierarchy.roots(labels),
            Hierarchy.roots(list(SEVERITIES)),
        ],
        part_of=lambda key: key[1],
        small_max=privacy.small_count_max(config),
        published=lambda key: key[0] != NO_SITE,
    )
    site_index = {ALL_SITES: -1, **{s: i for i, s in enumerate(site_list)}}
    month_index = {m: i for i, m in enumerate(months)}
    rows = sorted(
        [site_index[s], month_index[m], labels.index(b), SEVERITIES.index(c), code]
        for (s, m, b, c), (value, code) in cells.items()
        if value > 0
    )
    return {
        "bins": labels,
        "severities": list(SEVERITIES),
        "actionDays": action_bounds(config)[0],
        "columns": ["site", "month", "days to action", "severity", "episodes"],
        "rows": rows,
    }


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
        reads=(ANC_RESULTS, RESULTS_BY_MONTH, PATIENTS_BY_YEAR, EXPOSURE),
        charts=(
            ClientChart(
                "anc_categories_by_week",
                "anc_weeks",
                "ANC categories by treatment week",
                "Share of the week band's ANC results in each category, with n / N: weekly to "
                "week 26, two-weekly bands to week 52, four-weekly bands to week 104. A band with "
                "a suppressed category is withheld as a whole. Published per calendar year: "
                "follows the filters above, widened to the whole calendar years they touch.",
            ),
            ClientChart(
                "anc_category_totals",
                "anc_totals",
                "ANC categories overall",
                "Results and distinct patients per category (a patient counts once in each "
                "category). Results per calendar year, as the chart above; distinct patients for "
                "one calendar year or all time only (they do not add up over years).",
            ),
            ClientChart(
                "anc_abnormal_by_month",
                "anc_abnormal",
                "Abnormal ANC results per month and the action required",
                "Results in each category other than normal (and bounds that may be abnormal, "
                "such as '<500'), per month of collection, with the action the guideline's ANC "
                "table requires for it (benign ethnic neutropenia changes the action for a "
                "moderate result), and the month's results of every category as N. Follows the "
                "filters above; counts suppressed as published.",
            ),
            ClientChart(
                "time_to_action",
                "anc_action",
                "Time to the required action",
                "The first moderate or severe ANC requiring interruption in each clozapine "
                "episode, by days until clozapine stopped (the end of the exposure episode); the "
                "required action is within safety.anc_action_days. An episode counts in the month "
                "of that first result. Follows the filters above; counts suppressed as published.",
            ),
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
    """The ANC page's tables. Results per site (and all sites), month and (category, required
    action) other than normal, with all results of the month as the denominator (normal
    results are a hidden cell: all results less the abnormal ones), and results per site, year,
    treatment week band (and all weeks) and category: one query, protected year by year as ONE
    table with the relation between them (a year's months of a category add up to its
    all-weeks cell), so that neither gives a suppressed cell of the other back. The browser
    adds months (and years) up. Distinct patients per category and the time to action are
    tables of their own (other units: no relation to the results)."""
    config = resolve_config(con, config)
    require(
        con,
        ANC_RESULTS,
        ("patient_id", "collected_date", "anc_category", "required_action", "treatment_week"),
    )
    found = con.execute(
        "SELECT site, strftime(time, '%Y-%m') AS month, band, "
        "coalesce(anc_category, 'indeterminate') AS category, "
        "coalesce(required_action, '') AS action, CAST(n AS BIGINT) AS n FROM "
        f"({_by_band_sql(con, 'month', ['anc_category', 'required_action'], config)})"
    ).fetchnumpy()  # as columns: a quarter of a million rows as tuples took twice as long
    columns = (found[c].tolist() for c in ("site", "month", "band", "category", "action"))
    cells = zip(*columns, strict=True)
    leaves = dict(zip(cells, found["n"].tolist(), strict=True))
    site_list = sites(con)
    unavailable = None
    try:
        action_leaves = time_to_action_leaves(con, config)
    except Unavailable as exc:  # no exposure episodes yet: that chart says so, the rest draws
        action_leaves, unavailable = {}, str(exc)
    months = sorted({k[1] for k in leaves} | {k[1] for k in action_leaves})
    action = (
        {"unavailable": unavailable}
        if unavailable
        else action_cells(action_leaves, config, site_list, months)
    )
    found = {(c, a) for _, _, _, c, a in leaves if c != NORMAL}
    missing = {(c, a) for c, a in GUIDELINE_ACTIONS.items() if c not in {k[0] for k in found}}
    keys = sorted(found | missing, key=_abnormal_key_order)
    month_cells, week_cells_ = protect_results(leaves, site_list, keys, config)
    site_index = {ALL_SITES: -1, **{s: i for i, s in enumerate(site_list)}}
    month_index = {m: i for i, m in enumerate(months)}
    key_index = {ALL_RESULTS: -1, **{k: i for i, k in enumerate(keys)}}
    out_rows = sorted(
        [site_index[s], month_index[m], key_index[k], code]
        for (s, m, k), (value, code) in month_cells.items()
        if value > 0 and k != NORMAL
    )
    weeks = week_cells(con, config, site_list, week_cells_)
    return {
        "action": action,
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


def _year_table(
    year: str, leaves: Mapping[tuple, int], site_list: list[str], keys: list[tuple]
) -> CountTable:
    """One year's results as one table: site x month x (category, action) with all results
    and the hidden normal ones; site x year x week band x category with all weeks; and the
    relation between them: each category's all-weeks cell is its months added up."""
    by_month: dict[tuple, int] = defaultdict(int)
    by_band: dict[tuple, int] = defaultdict(int)
    for (site, month, band, category, action), n in leaves.items():
        by_month[(site, month, NORMAL if category == NORMAL else (category, action))] += n
        by_band[(site, year, band, category)] += n
    site_h = Hierarchy.flat([*site_list, NO_SITE], ALL_SITES)
    months = sorted({k[1] for k in by_month})
    categories = sorted({k[3] for k in by_band}, key=_category_order)
    monthly = cube(
        f"ANC results {year} by month",
        by_month,
        [site_h, Hierarchy.roots(months), Hierarchy.flat([*keys, NORMAL], ALL_RESULTS)],
        lambda key: key[0] != NO_SITE and key[2] != NORMAL,
    )
    weekly = cube(
        f"ANC results {year} by week band",
        by_band,
        [
            site_h,
            Hierarchy.single(year),
            Hierarchy.flat(sorted({k[2] for k in by_band}, key=_band_order), ALL_WEEKS),
            Hierarchy.roots(categories),
        ],
        lambda key: key[0] != NO_SITE,
    )
    table = CountTable(f"ANC results {year}")
    for part in (monthly, weekly):
        for key, value in part.values.items():
            table.add(key, value, published=part.published[key])
        table.sums.extend(part.sums)
    for site in [*site_list, NO_SITE, ALL_SITES]:
        for category in categories:
            months_of = [
                (site, m, k)
                for m in months
                for k in ([NORMAL] if category == NORMAL else [k for k in keys if k[0] == category])
            ]
            table.add_sum((site, year, ALL_WEEKS, category), months_of)
    return table


def protect_results(
    leaves: Mapping[tuple, int], site_list: list[str], keys: list[tuple], config
) -> tuple[dict, dict]:
    """({(site, month, key): (count, code)}, {(site, year, band, category): (count, code)}):
    every year protected on its own as one table (`_year_table`; no relation crosses years)."""
    by_year: dict[str, dict] = defaultdict(dict)
    for key, n in leaves.items():
        by_year[key[1][:4]][key] = n
    years = sorted(by_year)
    monthly: dict[tuple, tuple[int, int]] = {}
    weekly: dict[tuple, tuple[int, int]] = {}
    found = protect_each_on_cores(
        lambda year: _year_table(year, by_year[year], site_list, keys),
        years,
        [len(by_year[y]) for y in years],
        privacy.small_count_max(config),
    )
    for cells in found:
        for key, cell in cells.items():
            (weekly if len(key) == 4 else monthly)[key] = cell
    return monthly, weekly


def _band_order(band: str) -> tuple:
    return (band != "baseline", band == ">104", band)


def _category_order(category: str) -> tuple:
    known = CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES)
    return (known, str(category))


def week_cells(
    con, config: Mapping[str, Any], site_list: list[str], cells: Mapping[tuple, tuple[int, int]]
) -> dict:
    """The protected week-band cells (site x year x week band x category, with all sites and
    all weeks; `protect_results`) as the browser reads them, and the distinct patients per
    category (site x year or all years, a table of its own). Only published cells are
    embedded (never the patients without a site); a zero is not embedded."""
    shown = [k for k, (value, _) in cells.items() if value > 0]
    patients = _protected_patients(con, config)
    patient_keys = [
        k
        for k, v in patients.table.values.items()
        if v > 0 and patients.status[k] is not Status.HIDDEN
    ]
    years = sorted({k[1] for k in shown} | {k[1] for k in patient_keys if k[1] != ALL_TIME})
    bands = sorted({k[2] for k in shown if k[2] != ALL_WEEKS}, key=_band_order)
    categories = sorted({k[3] for k in shown} | {k[2] for k in patient_keys}, key=_category_order)
    site_index = {ALL_SITES: -1, **{s: i for i, s in enumerate(site_list)}}
    year_index = {ALL_TIME: -1, **{y: i for i, y in enumerate(years)}}
    band_index = {ALL_WEEKS: -1, **{b: i for i, b in enumerate(bands)}}
    category_index = {c: i for i, c in enumerate(categories)}
    rows = sorted(
        [site_index[s], year_index[y], band_index[b], category_index[c], cells[k][1]]
        for k in shown
        for s, y, b, c in [k]
    )
    patient_rows = sorted(
        [site_index[s], year_index[y], category_index[c], encode(patients, k)]
        for k in patient_keys
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
