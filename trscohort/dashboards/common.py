"""What every dashboard figure shares: availability checks, filters, config, figure registry.

A figure function takes a DuckDB connection and keyword filters and returns a Plotly figure:

    fig_anc_adherence_by_phase(con, site="north", period="2024", config=cfg)

`site` restricts to patients of one site (staging.patients.site); `period` to one calendar
year ("2024"), month ("2024-03") or a half-open date range `(start, end)`, applied to the date
the figure is about (window start, result date, flag date). A figure that needs a mart the
warehouse does not have raises `Unavailable` with a sentence saying so; the HTML writer shows
that sentence in place of the chart.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import gc
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import plotly.graph_objects as go

from trscohort.config import Config, load_config, recorded_config

Period = str | tuple[dt.date, dt.date] | None

TEMPLATE = "plotly_white"
COLOURS = {
    "normal": "#2a9d8f",
    "mild": "#e9c46a",
    "moderate": "#f4a261",
    "severe": "#e63946",
    "target": "#6c757d",
    "band": "rgba(108, 117, 125, 0.18)",
}


class Unavailable(LookupError):
    """A table or column a figure needs is not in this warehouse (yet)."""


# --------------------------------------------------------------------------- warehouse checks


# While the HTML writer runs, table columns are looked up once (information_schema is slow).
_COLUMNS_CACHE: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "columns_cache", default=None
)


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    cache = _COLUMNS_CACHE.get()
    if cache is not None and (id(con), table) in cache:
        return cache[(id(con), table)]
    schema, name = table.split(".")
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    columns = {r[0] for r in rows}
    if cache is not None:
        cache[(id(con), table)] = columns
    return columns


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(table_columns(con, table))


def require(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...] = ()) -> set[str]:
    """The table's columns; raises Unavailable if it or one of `columns` is missing."""
    have = table_columns(con, table)
    if not have:
        raise Unavailable(f"needs {table}, which this warehouse does not have.")
    missing = [c for c in columns if c not in have]
    if missing:
        raise Unavailable(f"needs column {', '.join(missing)} of {table}.")
    return have


# --------------------------------------------------------------------------- config and run


def resolve_config(con: duckdb.DuckDBPyConnection, config: Mapping[str, Any] | None) -> Config:
    """The given config, else the one the warehouse was built with, else the defaults."""
    if config is not None:
        return config if isinstance(config, Config) else Config(config)
    if has_table(con, "audit.run_parameters"):
        row = con.execute("SELECT config_json FROM audit.run_parameters").fetchone()
        if row and row[0]:
            return recorded_config(json.loads(row[0]))
    return load_config()


def as_of_date(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    if not has_table(con, "audit.run_parameters"):
        return None
    row = con.execute("SELECT as_of_date FROM audit.run_parameters").fetchone()
    return row[0] if row else None


def sites(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Distinct sites in staging.patients (empty when the extract has no site column)."""
    if "site" not in table_columns(con, "staging.patients"):
        return []
    rows = con.execute(
        "SELECT DISTINCT site FROM staging.patients WHERE site IS NOT NULL AND trim(site) <> '' "
        "ORDER BY site"
    ).fetchall()
    return [str(r[0]) for r in rows]


def periods(con: duckdb.DuckDBPyConnection, *, max_years: int = 10) -> list[str]:
    """Calendar years offered by the period filter: the years of clozapine use up to the as-of
    date (the last `max_years`), else of any prescription."""
    as_of = as_of_date(con)
    for table, column in (
        ("intermediate.clozapine_exposure", "episode_start"),
        ("staging.prescriptions", "start_date"),
    ):
        if column in table_columns(con, table):
            first = con.execute(f"SELECT min(year({column})) FROM {table}").fetchone()[0]
            if first is not None:
                last = as_of.year if as_of else dt.date.today().year
                first = max(int(first), last - max_years + 1)
                return [str(y) for y in range(first, last + 1)]
    return []


# --------------------------------------------------------------------------- filters


def period_bounds(period: Period) -> tuple[dt.date, dt.date] | None:
    """Half-open [start, end) for a year "2024", a month "2024-03" or a (start, end) pair."""
    if period is None or period == "":
        return None
    if isinstance(period, tuple):
        return period[0], period[1]
    text = str(period)
    if len(text) == 4:
        year = int(text)
        return dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    if len(text) == 7:
        year, month = int(text[:4]), int(text[5:7])
        end = dt.date(year + month // 12, month % 12 + 1, 1)
        return dt.date(year, month, 1), end
    raise ValueError(f"period {period!r}: use 'YYYY', 'YYYY-MM' or a (start, end) pair")


def sql_text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def where(
    *, patient_col: str | None, date_col: str | None, site: str | None, period: Period
) -> str:
    """SQL conditions (starting with AND) for the site and period filters."""
    parts = []
    if site is not None and patient_col is not None:
        parts.append(
            f"{patient_col} IN (SELECT patient_id FROM staging.patients WHERE site = {sql_text(site)})"
        )
    bounds = period_bounds(period)
    if bounds is not None and date_col is not None:
        parts.append(
            f"CAST({date_col} AS DATE) >= DATE '{bounds[0].isoformat()}' "
            f"AND CAST({date_col} AS DATE) < DATE '{bounds[1].isoformat()}'"
        )
    return "".join(f" AND {p}" for p in parts)


def filter_note(site: str | None, period: Period) -> str:
    bits = []
    if site is not None:
        bits.append(f"site {site}")
    if period:
        bounds = period_bounds(period)
        bits.append(
            str(period) if isinstance(period, str) else f"{bounds[0]} to {bounds[1]}"  # type: ignore[index]
        )
    return f" \u2014 {', '.join(bits)}" if bits else ""


# --------------------------------------------------------------------------- figures


# The HTML writer applies the template once per page in the browser: validating it into every
# figure costs most of the time of writing the dashboards.
_WITH_TEMPLATE = contextvars.ContextVar("with_template", default=True)


@contextlib.contextmanager
def _no_cyclic_collection() -> Iterator[None]:
    """The garbage collector off while pages are written (and in the workers forked meanwhile):
    the millions of tuples, lists and dicts of a page are freed by their reference counts, and
    the ~4,600 collections of the dashboards at 1,000,000 patients found nothing to free but
    took 0.4 s of the parent alone (the peak memory is the same: 1.06 GB either way). The
    collector is back as it was when the pages are written."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def publishing() -> Iterator[None]:
    """While writing pages: no template in each figure, table columns cached (a fixed warehouse),
    linear algebra on one thread, the objects alive left out of garbage collections and no
    cyclic garbage collection at all."""
    from trscohort.publication.cores import frozen_heap
    from trscohort.publication.suppression import one_blas_thread

    tokens = (_WITH_TEMPLATE.set(False), _COLUMNS_CACHE.set({}), _PROTECTED.set({}))
    try:
        # thousands of small suppression solves (see one_blas_thread), and a heap of millions
        # of objects that the garbage collector need not walk again and again
        with one_blas_thread(), frozen_heap(), _no_cyclic_collection():
            yield
    finally:
        _WITH_TEMPLATE.reset(tokens[0])
        _COLUMNS_CACHE.reset(tokens[1])
        _PROTECTED.reset(tokens[2])


def base_layout(fig: go.Figure, title: str, **layout: Any) -> go.Figure:
    if _WITH_TEMPLATE.get():
        layout["template"] = TEMPLATE
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left"},
        margin={"l": 60, "r": 30, "t": 60, "b": 60},
        height=layout.pop("height", 420),
        legend={"orientation": "h", "y": -0.2},
        **layout,
    )
    return fig


SUPPRESSED_NAME = "suppressed"
SUPPRESSED_MARKER = {
    "color": "rgba(255, 255, 255, 0)",
    "line": {"color": "#6c757d", "width": 1},
    "pattern": {"shape": "/", "fgcolor": "#6c757d", "size": 6},
}


def count_bars(
    x: list,
    counts: list,
    *,
    colour: str,
    hover: str,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    orientation: str = "v",
) -> list[go.Bar]:
    """Bars of publishable counts (`.value`, None when suppressed, and `.label`).

    A suppressed count is never drawn as 0 or left blank: the count's own bar is empty (its
    value null in the published data) and a hatched marker bar, up to the suppression threshold,
    carries its label ("<11" or "withheld") in a trace of its own."""
    from trscohort.dashboards import privacy

    hidden = [c.value is None for c in counts]
    axes = ("x", "y") if orientation == "v" else ("y", "x")
    group = name or "counts"  # a marker bar sits where its count's bar would be
    bars = [
        go.Bar(
            **{axes[0]: x, axes[1]: [c.value for c in counts]},
            orientation=orientation,
            offsetgroup=group,
            text=[None if h else c.label for c, h in zip(counts, hidden, strict=True)],
            textposition="outside",
            name=name,
            marker={"color": colour},
            hovertemplate=hover,
            customdata=[c.label for c in counts],
        )
    ]
    if any(hidden):
        height = privacy.small_count_max(config) + 1
        bars.append(
            go.Bar(
                **{
                    axes[0]: [v for v, h in zip(x, hidden, strict=True) if h],
                    axes[1]: [height] * sum(hidden),
                },
                orientation=orientation,
                offsetgroup=group,
                text=[c.label for c, h in zip(counts, hidden, strict=True) if h],
                customdata=[c.label for c, h in zip(counts, hidden, strict=True) if h],
                textposition="outside",
                name=f"{name} ({SUPPRESSED_NAME})" if name else SUPPRESSED_NAME,
                legendgroup=SUPPRESSED_NAME,
                marker=SUPPRESSED_MARKER,
                hovertemplate=hover,
                showlegend=name is not None,
            )
        )
    return bars


def withheld_bars(x: list, withheld: list[bool], *, top: float, label: str, name: str | None):
    """Hatched full-height markers where a percentage is withheld (never an empty gap)."""
    keep = [v for v, w in zip(x, withheld, strict=True) if w]
    return go.Bar(
        x=keep,
        y=[top] * len(keep),
        text=[label] * len(keep),
        textposition="inside",
        name=f"{name} ({SUPPRESSED_NAME})" if name else SUPPRESSED_NAME,
        legendgroup=SUPPRESSED_NAME,
        marker=SUPPRESSED_MARKER,
        hovertemplate="%{x}: " + label + "<extra></extra>",
        showlegend=False,
    )


# --------------------------------------------------------------------------- protected tables


NO_SITE = "(no site)"  # patients without a site: a hidden cell of every by-site table
ALL_SITES = ALL_TIME = "*"

_PROTECTED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("protected", default=None)


def protected_table(
    con,
    name: str,
    build: Callable[[], Any],
    config: Mapping[str, Any],
    part_of: Callable[[tuple], Any] | None = None,
):
    """`protect(build())` for this warehouse, computed once while the pages are written (so
    every chart and filter variant reads the same suppression decisions). With `part_of`, the
    table is protected part by part (parts no relation ties together: the same decisions,
    sooner)."""
    from trscohort.dashboards import privacy
    from trscohort.dashboards.client import protect_table_in_parts
    from trscohort.publication.suppression import protect

    small_max = privacy.small_count_max(config)
    cache = _PROTECTED.get()
    key = (id(con), name, small_max)
    if cache is not None and key in cache:
        return cache[key]
    table = build()
    result = (
        protect(table, small_max)
        if part_of is None
        else protect_table_in_parts(table, part_of, small_max)
    )
    if cache is not None:
        cache[key] = result
    return result


def site_key(site: str | None) -> str:
    return ALL_SITES if site is None else site


def site_of_patient_sql(alias: str = "p") -> str:
    """A patient's site for by-site tables: blank or missing is NO_SITE."""
    return f"coalesce(nullif(trim({alias}.site), ''), {sql_text(NO_SITE)})"


def patients_with_site(con: duckdb.DuckDBPyConnection) -> str:
    """SQL for (patient_id, site) of every staged patient (NO_SITE when not recorded)."""
    has_site = "site" in table_columns(con, "staging.patients")
    site = site_of_patient_sql("p") if has_site else sql_text(NO_SITE)
    return f"(SELECT patient_id, {site} AS site FROM staging.patients AS p)"


def aggregate_mart(
    con: duckdb.DuckDBPyConnection, mart: str, config: Mapping[str, Any] | None
) -> str:
    """What to read one of the aggregate marts the pages count from (site x month counts, no
    patient identifier): the table, which the run builds with the other marts, so that the
    pages do not count millions of rows again (3.1 s for the monitoring page at 1M); else
    (a warehouse built before the mart, a test's own tables) the mart's model as a subquery
    over the tables it reads, any without the carried site joined to the staged patients."""
    from trscohort.models import Model, model_refs, render_reading, single_select, transform_context

    if has_table(con, mart):
        return mart
    model = Model(*mart.split("."))
    context = transform_context(resolve_config(con, config))
    relations = {table: _with_site(con, table) for table in model_refs(model, context)}
    return f"({single_select(render_reading(model, context, relations), model.template)})"


def _with_site(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """`table`, or where it does not carry its patients' site (an older warehouse) the table
    joined to the staged patients' site."""
    if not has_table(con, table) or "site" in table_columns(con, table):
        return table
    patients = patients_with_site(con)
    return f"(SELECT t.*, p.site FROM {table} AS t JOIN {patients} AS p USING (patient_id))"


def time_key(period: Period, years: list[str]) -> str:
    """The time cell of a filter: all time, or one of `years`; other periods are not tables."""
    if period is None or period == "":
        return ALL_TIME
    if isinstance(period, str) and period in years:
        return period
    raise Unavailable(
        f"the published tables are by calendar year ({', '.join(years) or 'none'}); "
        f"period {period!r} is not one of them"
    )


def no_data(fig: go.Figure, message: str = "No data for this selection.") -> go.Figure:
    fig.add_annotation(
        text=message,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 15, "color": "#6c757d"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


FigureFn = Callable[..., go.Figure]


@dataclass(frozen=True)
class Chart:
    """One chart on a page: its figure function, which filters apply, what it reads."""

    func: FigureFn
    title: str
    description: str
    filters: tuple[str, ...] = ("site", "period")
    reads: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.func.__name__.removeprefix("fig_")


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    summary: str
    charts: tuple[Chart, ...] = field(default_factory=tuple)
    client: Any = None  # a trscohort.dashboards.client.ClientPage: charts drawn in the browser

    @property
    def file_name(self) -> str:
        return f"{self.slug}.html"

    @property
    def reads(self) -> tuple[str, ...]:
        client_reads = self.client.reads if self.client is not None else ()
        return tuple(sorted({t for c in self.charts for t in c.reads} | set(client_reads)))

    @property
    def chart_count(self) -> int:
        return len(self.charts) + (len(self.client.charts) if self.client is not None else 0)
