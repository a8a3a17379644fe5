"""The HTML data-quality report, `<out>/data_quality.html`, written from audit.dq_results.

It is published: observed values and examples appear as `trscohort.quality.masking` allows
(row numbers and masked values), never as the raw values the warehouse keeps. It holds no
time of day (audit.dq_results has it): two runs on the same input write the same bytes.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import duckdb

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
SMALL_COUNT_MAX = 10  # publication.small_count_max: counts 1..10 shown as "<11"


def _count(n: int | None) -> str:
    if n is None:
        return ""
    return f"&lt;{SMALL_COUNT_MAX + 1}" if 1 <= n <= SMALL_COUNT_MAX else f"{n:,}"


def _has_unmapped(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables "  # tables and views
            "WHERE table_schema = 'audit' AND table_name = 'unmapped_values'"
        ).fetchone()[0]
    )


def unmapped_section(con: duckdb.DuckDBPyConnection) -> list[str]:
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
        f"1-{SMALL_COUNT_MAX} are shown as &lt;{SMALL_COUNT_MAX + 1}.</p>",
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
            f"</code></td><td>{context}</td><td>{_count(n)}</td><td>{_count(patients)}</td>"
            f"<td>{_cell(first)} - {_cell(last)}</td><td>{suggestion}</td>"
            f"<td class='looks'>{_cell(looks)}</td></tr>"
        )
    parts.append("</table>")
    if total > UNMAPPED_SHOWN:
        parts.append(f"<p>{total - UNMAPPED_SHOWN:,} more in audit.unmapped_values.</p>")
    return parts


def _cell(value) -> str:
    return "" if value is None else html.escape(str(value))


def render_report(con: duckdb.DuckDBPyConnection) -> str:
    rows = (
        con.execute(
            """
            SELECT table_name, suite, check_name, severity, expectation, success,
                   published_observed, unexpected_count, element_count, published_examples
            FROM audit.dq_results ORDER BY table_name, suite, check_name, expectation
            """
        ).fetchall()
        if has_results(con)
        else []
    )
    checks: dict[tuple, list] = {}
    for row in rows:
        checks.setdefault(row[:4], []).append(row)
    failed = {k: v for k, v in checks.items() if not all(r[5] for r in v)}
    blocking = sum(1 for k in failed if k[3] == "blocking")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Data quality</title>",
        f"<style>{_STYLE}</style></head><body><h1>Data quality</h1>",
        f"<p>{len(checks) - len(failed)} of {len(checks)} checks passed; "
        f"{blocking} blocking and {len(failed) - blocking} warning check(s) failed.</p>",
    ]
    tables = sorted({k[0] for k in checks})
    for table in tables:
        parts.append(
            f"<h2>{html.escape(table)}</h2><table><tr><th>check</th><th>severity</th>"
            "<th>status</th><th>expectation</th><th>observed</th><th>unexpected</th>"
            "<th>examples</th></tr>"
        )
        for key, expectations in checks.items():
            if key[0] != table:
                continue
            for r in expectations:
                status = "pass" if r[5] else key[3]
                unexpected = (
                    ""
                    if r[7] is None
                    else f"{r[7]:,}" + (f" of {r[8]:,}" if r[8] is not None else "")
                )
                parts.append(
                    f"<tr><td>{_cell(key[2])}</td><td>{_cell(key[3])}</td>"
                    f"<td class='{status}'>{'passed' if r[5] else 'FAILED'}</td>"
                    f"<td><code>{_cell(r[4])}</code></td><td>{_cell(r[6])}</td>"
                    f"<td>{unexpected}</td><td>{_cell(r[9])}</td></tr>"
                )
        parts.append("</table>")
    if not tables:
        parts.append("<p>No data-quality results yet.</p>")
    parts += unmapped_section(con)
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
