"""Write the dashboards: `<out>/dashboards/index.html`, one page per topic, and `plotly.min.js`.

Every page opens offline from the file system: Plotly's JavaScript is copied once from the
installed plotly package beside the pages (no CDN). Each page states the as-of date, the sha256
of every input extract (audit.ingest_log), the configuration used and the suppression rule.
A page drawn in the browser embeds one aggregate table, protected before it is written (its
filters: site, date range, quarter, rolling 12 months, previous period, are worked out in the
browser from it); the few charts drawn here as Plotly figures (cumulative incidence, attrition,
data-quality checks) take no filter, or get one figure per filter value they declare. No
row-level data is ever written.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import plotly.io as pio
from plotly.offline import get_plotlyjs

from trscohort.dashboards import (
    adverse_events,
    anc,
    funnel,
    headlines,
    monitoring,
    privacy,
    qi,
    safety,
)
from trscohort.dashboards.client import script_json
from trscohort.dashboards.client_js import (
    ADVERSE_EVENTS_JS,
    ANC_JS,
    COMMON_JS,
    FIGURE_JS,
    FILTER_JS,
    FUNNEL_JS,
    MONITORING_JS,
    QI_JS,
    SAFETY_JS,
)
from trscohort.dashboards.common import (
    TEMPLATE,
    Chart,
    Page,
    Unavailable,
    as_of_date,
    has_table,
    periods,
    publishing,
    resolve_config,
    sites,
)
from trscohort.publication import files
from trscohort.publication.relay import map_relayed
from trscohort.publication.suppression import record_exposed, recording_exposed
from trscohort.quality.report import REPORT_NAME
from trscohort.run_parameters import package_version

PAGES: tuple[Page, ...] = (
    funnel.PAGE,
    monitoring.PAGE,
    anc.PAGE,
    adverse_events.PAGE,
    safety.PAGE,
    qi.PAGE,
)
# Seconds each page took to build on one core at 1,000,000 patients / 30 sites: the slowest are
# handed out first when pages are built side by side (`map_relayed`).
BUILD_SECONDS = {
    "quality_indicators": 4.6,
    "anc": 3.1,
    "monitoring": 2.1,
    "adverse_events": 1.7,
    "funnel": 0.5,
    "safety_quality": 0.4,
}
PLOTLY_JS = "plotly.min.js"
DASHBOARD_DIR = "dashboards"


def tables_read() -> list[str]:
    """Every table some dashboard reads (for the Dagster asset's dependencies)."""
    return sorted({t for page in PAGES for t in page.reads})


@dataclass
class Published:
    """What write_dashboards wrote."""

    directory: Path
    files: list[Path]
    charts: int
    unavailable: list[str]
    # (table, cells) that complementary suppression could not protect (suppression.protect)
    exposed: list[tuple[str, int]] = field(default_factory=list)

    def exposure_warning(self) -> str | None:
        """One line naming the tables with cells a reader can work out, if any."""
        if not self.exposed:
            return None
        cells = sum(n for _, n in self.exposed)
        names = sorted({name for name, _ in self.exposed})
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return (
            f"privacy warning: {cells:,} suppressed counts in {len(self.exposed):,} tables can be "
            f"worked out from their totals with no shown count left to withhold ({shown})"
        )

    @property
    def index(self) -> Path:
        return self.directory / "index.html"


# --------------------------------------------------------------------------- figures to JSON


def _figure_json(fig) -> dict:
    data = json.loads(pio.to_json(fig, validate=False, engine="json"))
    data.get("layout", {}).pop("template", None)
    return {"data": data.get("data", []), "layout": data.get("layout", {})}


def _key(site: str | None, period: str | None) -> str:
    return f"{site or ''}|{period or ''}"


def chart_variants(
    con, chart: Chart, *, site_options: Sequence[str], period_options: Sequence[str], config
) -> dict[str, dict]:
    """{"site|period": {"figure": ...} or {"message": ...}} for every filter combination."""
    site_values = [None, *site_options] if "site" in chart.filters else [None]
    period_values = [None, *period_options] if "period" in chart.filters else [None]
    variants = {}
    for site, period in itertools.product(site_values, period_values):
        try:
            fig = chart.func(con, site=site, period=period, config=config)
        except Unavailable as exc:
            variants[_key(site, period)] = {"message": str(exc)}
            continue
        variants[_key(site, period)] = {"figure": _figure_json(fig)}
    return variants


# --------------------------------------------------------------------------- page parts

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1d3557; background: #f8f9fa; }
header { background: #1d3557; color: white; padding: 14px 24px; }
header h1 { margin: 0 0 6px 0; font-size: 22px; }
nav a { color: #a8dadc; margin-right: 16px; text-decoration: none; }
nav a.current { color: white; font-weight: 600; }
main { padding: 16px 24px; max-width: 1280px; }
section.chart, .provenance, .filters, .card { background: white; border: 1px solid #dee2e6;
       border-radius: 6px; padding: 12px 16px; margin-bottom: 16px; }
.plot { min-height: 300px; }
.unavailable { background: #fff8e1; border: 1px dashed #e9c46a; padding: 18px; color: #6c5300;
       border-radius: 6px; }
.provenance table { border-collapse: collapse; font-size: 13px; }
.provenance td, .provenance th { border-bottom: 1px solid #eee; padding: 3px 10px 3px 0;
       text-align: left; }
code, pre { font-size: 12px; }
pre { max-height: 320px; overflow: auto; background: #f1f3f5; padding: 8px; }
.rule { background: #e9f5f4; padding: 8px 12px; border-left: 4px solid #2a9d8f; }
.filters label { margin-right: 18px; }
.note { color: #6c757d; font-size: 13px; }
.filters label { display: inline-block; margin: 4px 18px 4px 0; }
.table-wrap { max-height: 320px; overflow: auto; border: 1px solid #eee; }
table.data { border-collapse: collapse; font-size: 12px; width: 100%; }
table.data th { position: sticky; top: 0; background: #f1f3f5; cursor: pointer; text-align: left;
       padding: 3px 8px; }
table.data td { border-bottom: 1px solid #eee; padding: 2px 8px; }
.table-bar { margin: 6px 0; font-size: 13px; }
.headlines { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 16px; }
.headline { background: white; border: 1px solid #dee2e6; border-radius: 6px; padding: 10px 14px;
       flex: 1 1 200px; }
.headline .value { font-size: 26px; font-weight: 600; }
a.headline { text-decoration: none; color: inherit; }
@media (max-width: 700px) {
  main { padding: 8px; }
  header { padding: 10px 12px; }
  header h1 { font-size: 18px; }
  nav a { display: inline-block; margin: 2px 10px 2px 0; }
  section.chart, .provenance, .filters, .card { padding: 8px; }
  .filters label { display: block; }
}
"""

_script_json = script_json

CLIENT_JS = {  # page slug -> its renderer
    "monitoring": MONITORING_JS,
    "safety_quality": SAFETY_JS,
    "funnel": FUNNEL_JS,
    "quality_indicators": QI_JS,
    "adverse_events": ADVERSE_EVENTS_JS,
    "anc": ANC_JS,
}


def provenance(con, config) -> dict:
    """As-of date, inputs with sha256, configuration and suppression rule (all public)."""
    inputs = []
    if has_table(con, "audit.ingest_log"):
        # Rows read, as the quarantine chart's table protects them (read = its three parts).
        counts = safety.protected_ingest(con, config)
        for extract, file, sha, read in con.execute(
            "SELECT extract, file, sha256, rows_read FROM audit.ingest_log ORDER BY extract"
        ).fetchall():
            inputs.append(
                {
                    "extract": extract,
                    "file": Path(file).name if file else "(not supplied)",
                    "sha256": sha or "",
                    "rows_read": counts.cell((extract, "read")).label if read is not None else "",
                }
            )
    config_json = json.dumps(dict(config), sort_keys=True, indent=1, default=str)
    as_of = as_of_date(con)
    return {
        "as_of": as_of.isoformat() if as_of else "unknown",
        "inputs": inputs,
        "config_json": config_json,
        "config_sha256": hashlib.sha256(config_json.encode()).hexdigest(),
        "rule": privacy.suppression_rule(config),
        "version": package_version(),
    }


def _provenance_html(prov: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(i['extract'])}</td><td>{html.escape(i['file'])}</td>"
        f"<td><code>{html.escape(i['sha256'])}</code></td><td>{html.escape(i['rows_read'])}</td></tr>"
        for i in prov["inputs"]
    )
    return f"""
<section class="provenance" id="provenance">
  <p><strong>As-of date:</strong> <span id="as-of">{html.escape(prov["as_of"])}</span>
     &nbsp;·&nbsp; trscohort {html.escape(prov["version"])}</p>
  <p class="rule" id="suppression-rule"><strong>Small-count suppression:</strong>
     {html.escape(prov["rule"])}</p>
  <details><summary>Inputs (sha256 from the ingest log)</summary>
    <table><tr><th>extract</th><th>file</th><th>sha256</th><th>rows read</th></tr>{rows}</table>
  </details>
  <details><summary>Configuration used (sha256 <code>{prov["config_sha256"][:16]}…</code>)</summary>
    <pre>{html.escape(prov["config_json"])}</pre>
  </details>
</section>"""


def _nav(current: str) -> str:
    links = [("index.html", "Overview")] + [(p.file_name, p.title) for p in PAGES]
    links.append((f"../{REPORT_NAME}", "Data-quality report"))
    return (
        "<nav>"
        + "".join(
            f'<a href="{href}"{" class=current" if href == current else ""}>{html.escape(t)}</a>'
            for href, t in links
        )
        + "</nav>"
    )


def _document(title: str, current: str, body: str, scripts: str = "") -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · trscohort</title>
<style>{CSS}</style>
</head>
<body>
<header><h1>{html.escape(title)}</h1>{_nav(current)}</header>
<main>
{body}
</main>
{scripts}
</body>
</html>
"""


def _filters_html(page_filters: set[str], site_options, period_options) -> str:
    parts = []
    if "site" in page_filters and site_options:
        options = "".join(
            f'<option value="{html.escape(s)}">{html.escape(s)}</option>' for s in site_options
        )
        parts.append(
            '<label>Site <select id="filter-site"><option value="">all sites</option>'
            f"{options}</select></label>"
        )
    if "period" in page_filters and period_options:
        options = "".join(f'<option value="{p}">{p}</option>' for p in period_options)
        parts.append(
            '<label>Period <select id="filter-period"><option value="">all periods</option>'
            f"{options}</select></label>"
        )
    if not parts:
        return ""
    return (
        '<section class="filters">' + "".join(parts) + '<span class="note">Charts marked '
        "\u201cnot filtered by\u201d show every site or period.</span></section>"
    )


def _chart_section(chart_id: str, title: str, description: str, note: str, inner: str) -> str:
    return (
        f'<section class="chart" id="section-{chart_id}"><h2>{html.escape(title)}</h2>'
        f'<p class="note">{html.escape(description)}</p>{note}{inner}'
        f'<div class="table" id="table-{chart_id}"></div></section>'
    )


def _client_part(
    con, page: Page, config, built: dict | None = None
) -> tuple[list[str], str, list[str]]:
    """(chart sections, scripts, unavailable messages) of the charts drawn in the browser;
    the aggregate table is kept in `built[page.slug]` (the index's headlines read it)."""
    if page.client is None:
        return [], "", []
    try:
        data = page.client.build(con, config)
        if built is not None:
            built[page.slug] = data
    except Unavailable as exc:
        sections = [
            _chart_section(
                c.id,
                c.title,
                c.description,
                "",
                f'<div class="unavailable" id="chart-{c.id}">Not available in this warehouse '
                f"yet: {html.escape(str(exc))}</div>",
            )
            for c in page.client.charts
        ]
        return sections, "", [f"{page.slug}/{c.id}: {exc}" for c in page.client.charts]
    data["smallLabel"] = privacy.suppressed_label(config)
    sections = [
        '<section class="filters" id="client-filters"></section>',
        *(
            _chart_section(
                c.id, c.title, c.description, "", f'<div class="plot" id="chart-{c.id}"></div>'
            )
            for c in page.client.charts
        ),
    ]
    scripts = (
        f'<script type="application/json" id="page-data">{script_json(data)}</script>\n'
        f"<script>{FILTER_JS}</script>\n<script>{CLIENT_JS[page.slug]}</script>"
    )
    return sections, scripts, []


def render_page(con, page: Page, *, config, prov: dict, site_options, period_options, built=None):
    """(html text, charts drawn, unavailable messages) for one page."""
    charts: dict[str, dict] = {}
    sections = []
    unavailable = []
    for chart in page.charts:
        filters = [f for f in chart.filters if (site_options if f == "site" else period_options)]
        variants = chart_variants(
            con,
            chart,
            site_options=site_options if "site" in filters else [],
            period_options=period_options if "period" in filters else [],
            config=config,
        )
        base = variants["|"]
        not_filtered = [f for f in ("site", "period") if f not in chart.filters]
        note = (
            f'<p class="note">Not filtered by {" or ".join(not_filtered)}.</p>'
            if not_filtered
            else ""
        )
        if "figure" in base:
            charts[f"chart-{chart.id}"] = {"filters": filters, "variants": variants}
            inner = f'<div class="plot" id="chart-{chart.id}"></div>'
        else:
            unavailable.append(f"{page.slug}/{chart.id}: {base['message']}")
            inner = (
                f'<div class="unavailable" id="chart-{chart.id}">Not available in this warehouse '
                f"yet: {html.escape(base['message'])}</div>"
            )
        sections.append(_chart_section(chart.id, chart.title, chart.description, note, inner))
    client_sections, client_scripts, client_missing = _client_part(con, page, config, built)
    unavailable += client_missing
    drawn = len(charts) + (len(page.client.charts) if client_scripts else 0)
    page_filters = {f for c in charts.values() for f in c["filters"]}
    template = pio.templates[TEMPLATE].to_plotly_json()
    body = (
        f"<p>{html.escape(page.summary)}</p>"
        + _provenance_html(prov)
        + _filters_html(page_filters, site_options, period_options)
        + "\n".join(client_sections + sections)
    )
    scripts = (
        f'<script src="{PLOTLY_JS}"></script>\n<script>{COMMON_JS}</script>\n' if drawn else ""
    )
    if charts:
        scripts += (
            f'<script type="application/json" id="chart-template">{_script_json(template)}</script>\n'
            f'<script type="application/json" id="chart-data">{_script_json(charts)}</script>\n'
            f"<script>{FIGURE_JS}</script>\n"
        )
    scripts += client_scripts
    return _document(page.title, page.file_name, body, scripts), drawn, unavailable


GENERATED_JS = """
(function () {
  // The generation time is the file's own time: the page's bytes stay the same from run to run.
  const el = document.getElementById("generated");
  if (el) { el.textContent = new Date(document.lastModified).toISOString().replace("T", " ").slice(0, 16) + " UTC"; }
})();
"""


def _headlines_html(found: list[headlines.Headline]) -> str:
    cards = "".join(
        f'<a class="headline" href="{h.link}"><div>{html.escape(h.title)}</div>'
        f'<div class="value">{html.escape(h.value)}</div>'
        f'<div class="note">{html.escape(h.note)}</div></a>'
        for h in found
    )
    return f'<section class="headlines" id="headlines">{cards}</section>'


def _index_html(
    prov: dict, page_status: list[tuple[Page, int, int]], found: list | None = None
) -> str:
    cards = "".join(
        f'<section class="card"><h2><a href="{p.file_name}">{html.escape(p.title)}</a></h2>'
        f"<p>{html.escape(p.summary)}</p>"
        f'<p class="note">{drawn} of {total} charts available in this warehouse.</p></section>'
        for p, drawn, total in page_status
    )
    quality = (
        f'<section class="card"><h2><a href="../{REPORT_NAME}" id="dq-link">Data-quality '
        "report</a></h2><p>Failed checks first, quarantined rows per extract with their "
        "reasons, unmapped values and provenance of the inputs.</p></section>"
    )
    body = (
        f"<p>As of <strong>{html.escape(prov['as_of'])}</strong> · generated "
        '<span id="generated">(time of this file)</span> · aggregates only, small counts '
        "suppressed; the pages open offline.</p>"
        + _headlines_html(found or [])
        + cards
        + quality
        + _provenance_html(prov)
    )
    return _document("trscohort dashboards", "index.html", body, f"<script>{GENERATED_JS}</script>")


def write_dashboards(
    con: duckdb.DuckDBPyConnection,
    out_dir: str | Path,
    *,
    config: Mapping[str, Any] | None = None,
    check_privacy: bool = True,
    pages: Sequence[str] | None = None,
) -> Published:
    """Write every page (or those whose slug is in `pages`) into `<out_dir>/dashboards/`.

    The pages are built in a temporary folder beside it (two at a time, in forked processes
    that read the warehouse through `con`: `trscohort.publication.relay`), scanned for the
    warehouse's patient identifiers and birth dates (with `check_privacy`, the default), and
    only then swapped in whole: a page that fails the scan is never published, and the
    previous dashboards stay as they were (PrivacyError is raised).
    """
    config = resolve_config(con, config)
    directory = Path(out_dir) / DASHBOARD_DIR
    building = Path(out_dir) / f".{DASHBOARD_DIR}.building-{os.getpid()}"
    files.remove(building)
    building.mkdir(parents=True)
    try:
        with recording_exposed() as exposed:
            written, status, unavailable, drawn_total = _write_pages(con, building, config, pages)
        if check_privacy:
            privacy.check_published(con, [building / f for f in written], public=[config.to_json()])
        files.make_published(building)
        files.swap_in(building, directory)
    finally:
        files.remove(building)
    return Published(directory, [directory / f for f in written], drawn_total, unavailable, exposed)


@dataclass
class _PageWritten:
    drawn: int  # charts drawn
    missing: list[str]  # unavailable messages
    table: dict | None  # the page's aggregate table, kept for the pages the headlines read
    exposed: list[tuple[str, int]]  # what protect reported (recording_exposed)


def _write_page(con, page: Page, directory: Path, **options: Any) -> _PageWritten:
    built: dict[str, dict] = {}
    with recording_exposed() as exposed:
        text, drawn, missing = render_page(con, page, built=built, **options)
    (directory / page.file_name).write_text(text, encoding="utf-8")
    table = built.get(page.slug) if page.slug in headlines.PAGES_READ else None
    return _PageWritten(drawn, missing, table, exposed)


def _write_pages(con, directory: Path, config, pages) -> tuple[list[str], list, list[str], int]:
    """(file names written, page status, unavailable messages, charts drawn). The pages are
    built side by side in forked processes that read through `con` (`map_relayed`)."""
    options = {"config": config, "site_options": sites(con), "period_options": periods(con)}
    (directory / PLOTLY_JS).write_text(get_plotlyjs(), encoding="utf-8")
    chosen = [page for page in PAGES if pages is None or page.slug in pages]
    slowest_first = sorted(range(len(chosen)), key=lambda i: -BUILD_SECONDS.get(chosen[i].slug, 1))
    with publishing():  # one set of suppression decisions for every page and filter
        options["prov"] = prov = provenance(con, config)
        done = map_relayed(
            con,
            lambda page_con, i: _write_page(page_con, chosen[i], directory, **options),
            len(chosen),
            slowest_first,
        )
        for written in done:  # reported as if the pages had been built here, in page order
            for name, cells in written.exposed:
                record_exposed(name, cells)
        tables = {p.slug: w.table for p, w in zip(chosen, done, strict=True) if w.table}
        found = headlines.headlines(config, tables)
    status = [(p, w.drawn, p.chart_count) for p, w in zip(chosen, done, strict=True)]
    (directory / "index.html").write_text(_index_html(prov, status, found), encoding="utf-8")
    unavailable = [message for w in done for message in w.missing]
    written = [PLOTLY_JS, *(p.file_name for p in chosen), "index.html"]
    return written, status, unavailable, sum(w.drawn for w in done)
