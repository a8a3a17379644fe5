"""The HTML data-quality report, `<out>/data_quality.html`, written from audit.dq_results.

It is published: observed values and examples appear as `trscohort.quality.masking` allows
(row numbers and masked values), never as the raw values the warehouse keeps. It holds no
time of day (audit.dq_results has it): two runs on the same input write the same bytes.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import duckdb

from trscohort.config import load_config, recorded_config
from trscohort.quality.ingest_counts import (
    masked_reason,
    protected_ingest_counts,
    quarantine_reasons,
    quarantine_total_key,
    reason_key,
)
from trscohort.quality.results import has_results

REPORT_NAME = "data_quality.html"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
.pass { color: #1a7f37; } .warning { color: #9a6700; font-weight: bold; }
.blocking { color: #cf222e; font-weight: bold; }
code { font-size: 0.8rem; }
.looks { color: #cf222e; font-weight: bold; }
"""

UNMAPPED_SHOWN = 200  # most frequent unmapped values listed in the report
__all__ = ["REPORT_NAME", "masked_reason", "render_report", "write_report"]


def small_count_max(con: duckdb.DuckDBPyConnection) -> int:
    """publication.small_count_max of the config the warehouse was built with (the dashboards
    read the same), else the default."""
    has_parameters = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'audit' "
        "AND table_name = 'run_parameters'"
    ).fetchone()[0]
    row = (
        con.execute("SELECT config_json FROM audit.run_parameters").fetchone()
        if has_parameters
        else None
    )
    config = recorded_config(json.loads(row[0])) if row and row[0] else load_config()
    return int(config["publication"]["small_count_max"])


def _count(n: int | None, small_max: int) -> str:
    if n is None:
        return ""
    return f"&lt;{small_max + 1}" if 1 <= n <= small_max else f"{n:,}"


def _has_unmapped(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables "  # tables and views
            "WHERE table_schema = 'audit' AND table_name = 'unmapped_values'"
        ).fetchone()[0]
    )


def unmapped_section(con: duckdb.DuckDBPyConnection, small_max: int) -> list[str]:
    """Source values without a concept, biggest first; look-alikes of clozapine, antipsychotics,
    monitored analytes and schizophrenia marked (issue 12)."""
    if not _has_unmapped(con):
        return []
    total, flagged = con.execute(
        "SELECT count(*), count(looks_like) FROM audit.unmapped_values"
    ).fetchone()
    rows = con.execute(
        f"""
        SELECT extract, field, source_value, source_code, unit, n_rows, n_patients,
               first_date, last_date, suggested_concept, suggestion_score, looks_like
        FROM audit.unmapped_values ORDER BY rank LIMIT {UNMAPPED_SHOWN}
        """
    ).fetchall()
    parts = [
        "<h2 id='unmapped'>Unmapped source values</h2>",
        f"<p>{total:,} source values matched no concept ({flagged:,} look like clozapine, an "
        "antipsychotic, a monitored analyte or a schizophrenia diagnosis). Unknown drugs are "
        "staged as other drugs, unknown tests without an analyte, unknown codes without an "
        "ICD-10 code; map them under <code>concepts:</code> in the mapping file, or mark them "
        "<code>ignore</code> (<code>trscohort vocab suggest</code> writes a draft). Counts "
        f"1-{small_max} are shown as &lt;{small_max + 1}.</p>",
    ]
    if not rows:
        return parts
    parts.append(
        "<table><tr><th>extract</th><th>field</th><th>value</th><th>code / unit</th>"
        "<th>rows</th><th>patients</th><th>dates</th><th>suggestion (score)</th>"
        "<th>looks like</th></tr>"
    )
    for extract, field, value, code, unit, n, patients, first, last, concept, score, looks in rows:
        context = " / ".join(_cell(x) for x in (code, unit) if x)
        suggestion = f"{_cell(concept)} ({score:.0f})" if concept else ""
        parts.append(
            f"<tr><td>{_cell(extract)}</td><td>{_cell(field)}</td><td><code>{_cell(value)}"
            f"</code></td><td>{context}</td><td>{_count(n, small_max)}</td><td>{_count(patients, small_max)}</td>"
            f"<td>{_cell(first)} - {_cell(last)}</td><td>{suggestion}</td>"
            f"<td class='looks'>{_cell(looks)}</td></tr>"
        )
    parts.append("</table>")
    if total > UNMAPPED_SHOWN:
        parts.append(f"<p>{total - UNMAPPED_SHOWN:,} more in audit.unmapped_values.</p>")
    return parts


def _cell(value) -> str:
    return "" if value is None else html.escape(str(value))


def _descriptions() -> dict[tuple[str, str], str]:
    """{(suite, check): the plain-English description of the suite files}."""
    from trscohort.quality.suites import load_suites

    try:
        return {(s.name, c.name): c.description for s in load_suites() for c in s.checks}
    except Exception:  # noqa: BLE001 - a report without descriptions beats no report
        return {}


def _anchor(key: tuple) -> str:
    return "check-" + re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(str(k) for k in key[:3]))


def _unexpected(r) -> str:
    """ "n of N (share)" rows an expectation found unexpected; blank when it counts no rows."""
    if r[7] is None:
        return ""
    return f"{r[7]:,}" + (f" of {r[8]:,} ({_share(r)})" if r[8] else "")


def _share(r) -> str:
    """% of rows affected: unexpected / checked rows."""
    if r[7] is None or not r[8]:
        return ""
    return f"{100.0 * r[7] / r[8]:.2f} %"


def _results(con) -> list[tuple]:
    if not has_results(con):
        return []
    return con.execute(
        """
        SELECT table_name, suite, check_name, severity, expectation, success,
               published_observed, unexpected_count, element_count, published_examples
        FROM audit.dq_results ORDER BY table_name, suite, check_name, expectation
        """
    ).fetchall()


def _failed_section(failed: dict, about: dict) -> list[str]:
    if not failed:
        return ["<h2 id='failed'>Failed checks</h2><p>None: every check passed.</p>"]
    order = sorted(failed, key=lambda k: (k[3] != "blocking", k[0], k[2]))
    parts = [
        "<h2 id='failed'>Failed checks (blocking first)</h2>",
        "<table><tr><th>table</th><th>check</th><th>what it checks</th><th>severity</th>"
        "<th>rows affected</th><th>expectation</th><th>observed</th>"
        "<th>example source rows (file and line, values masked)</th></tr>",
    ]
    for key in order:
        for r in failed[key]:
            if r[5]:
                continue
            unexpected = _unexpected(r)
            parts.append(
                f"<tr id='{_anchor(key)}'><td>{_cell(key[0])}</td><td>{_cell(key[2])}</td>"
                f"<td>{_cell(about.get((key[1], key[2]), ''))}</td>"
                f"<td class='{key[3]}'>{_cell(key[3])}</td><td>{unexpected}</td>"
                f"<td><code>{_cell(r[4])}</code></td><td>{_cell(r[6])}</td>"
                f"<td>{_cell(r[9])}</td></tr>"
            )
    parts.append("</table>")
    return parts


def quarantine_section(con, small_max: int) -> list[str]:
    """Rows quarantined per extract, by reason (quoted values masked), from the table the
    dashboards' rows-per-extract chart publishes, protected once for both."""
    reasons = quarantine_reasons(con)
    protected = protected_ingest_counts(con, small_max, reasons)
    parts = ["<h2 id='quarantine'>Quarantined rows per extract, by reason</h2>"]
    if not reasons:
        return [*parts, "<p>No row was quarantined.</p>"]
    parts.append(
        "<p>Rows that could not be used are kept in the warehouse's <code>quarantine</code> "
        "schema with their reason; read = accepted + quarantined + duplicates per extract. "
        "Quoted identifiers and dates keep only their shape; reasons that differ only in "
        "their values are one line, with \u2026 where the values differ (the rows keep them). "
        f"Counts 1-{small_max} are shown as "
        f"&lt;{small_max + 1}, and other counts withheld where one could be worked out (here or "
        "with the dashboards' rows per extract).</p>"
        "<table><tr><th>extract</th><th>reason</th><th>rows</th></tr>"
    )
    values = protected.table.values
    for extract in reasons:
        shown = [k[1][1] for k in values if k[0] == extract and isinstance(k[1], tuple)]
        for reason in sorted(shown, key=lambda r: (-values[(extract, reason_key(r))], r)):
            label = protected.cell((extract, reason_key(reason))).label
            parts.append(
                f"<tr><td>{_cell(extract)}</td><td>{_cell(reason)}</td><td>{_cell(label)}</td></tr>"
            )
        total = protected.cell(quarantine_total_key(protected.table, extract)).label
        parts.append(
            f"<tr><td>{_cell(extract)}</td><td><strong>all reasons</strong></td>"
            f"<td><strong>{_cell(total)}</strong></td></tr>"
        )
    parts.append("</table>")
    return parts


def provenance_section(con) -> list[str]:
    if not con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'audit' "
        "AND table_name = 'ingest_log'"
    ).fetchone()[0]:
        return []
    columns = {c for (c, *_) in con.execute("DESCRIBE audit.ingest_log").fetchall()}
    picked = [c if c in columns else "NULL" for c in ("extract", "file", "sha256")]
    rows = con.execute(f"SELECT {', '.join(picked)} FROM audit.ingest_log ORDER BY 1").fetchall()
    body = "".join(
        f"<tr><td>{_cell(e)}</td><td>{_cell(Path(f).name if f else '(not supplied)')}</td>"
        f"<td><code>{_cell(h)}</code></td></tr>"
        for e, f, h in rows
    )
    return [
        "<h2 id='provenance'>Provenance</h2><table><tr><th>extract</th><th>file</th>"
        f"<th>sha256</th></tr>{body}</table>"
    ]


def render_report(con: duckdb.DuckDBPyConnection) -> str:
    rows = _results(con)
    about = _descriptions()
    checks: dict[tuple, list] = {}
    for row in rows:
        checks.setdefault(row[:4], []).append(row)
    failed = {k: v for k, v in checks.items() if not all(r[5] for r in v)}
    blocking = sum(1 for k in failed if k[3] == "blocking")
    links = ", ".join(
        f"<a href='#{_anchor(k)}'>{_cell(k[0])} / {_cell(k[2])}</a>"
        for k in sorted(failed, key=lambda k: (k[3] != "blocking", k[0], k[2]))
    )
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Data quality</title>",
        f"<style>{_STYLE}</style></head><body>"
        "<nav><a href='dashboards/index.html'>Dashboards</a> · <a href='#failed'>failed checks"
        "</a> · <a href='#quarantine'>quarantined rows</a> · <a href='#unmapped'>unmapped "
        "values</a> · <a href='#all'>all checks</a> · <a href='#provenance'>provenance</a>"
        "</nav><h1>Data quality</h1>",
        f"<p class='summary'><strong>{len(failed)} of {len(checks)} checks failed</strong> "
        f"({blocking} blocking, {len(failed) - blocking} warning); "
        f"{len(checks) - len(failed)} passed.{' Failed: ' + links + '.' if links else ''}</p>",
    ]
    parts += _failed_section(failed, about)
    small_max = small_count_max(con)
    parts += quarantine_section(con, small_max)
    parts += unmapped_section(con, small_max)
    parts.append("<h2 id='all'>All checks</h2>")
    tables = sorted({k[0] for k in checks})
    for table in tables:
        parts.append(
            f"<h3>{html.escape(table)}</h3><table><tr><th>check</th><th>what it checks</th>"
            "<th>severity</th><th>status</th><th>expectation</th><th>observed</th>"
            "<th>unexpected</th><th>examples</th></tr>"
        )
        for key, expectations in checks.items():
            if key[0] != table:
                continue
            for r in expectations:
                status = "pass" if r[5] else key[3]
                unexpected = _unexpected(r)
                parts.append(
                    f"<tr><td>{_cell(key[2])}</td>"
                    f"<td>{_cell(about.get((key[1], key[2]), ''))}</td><td>{_cell(key[3])}</td>"
                    f"<td class='{status}'>{'passed' if r[5] else 'FAILED'}</td>"
                    f"<td><code>{_cell(r[4])}</code></td><td>{_cell(r[6])}</td>"
                    f"<td>{unexpected}</td><td>{_cell(r[9])}</td></tr>"
                )
        parts.append("</table>")
    if not tables:
        parts.append("<p>No data-quality results yet.</p>")
    parts += provenance_section(con)
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(con: duckdb.DuckDBPyConnection, out_dir: str | Path) -> Path:
    """Write the report atomically (checks running in parallel may each rewrite it)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / REPORT_NAME
    partial = out / f".{REPORT_NAME}.{os.getpid()}"
    partial.write_text(render_report(con), encoding="utf-8")
    os.replace(partial, target)
    return target
