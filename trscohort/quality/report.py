"""The HTML data-quality report, `<out>/data_quality.html`, written from audit.dq_results.

It is published: observed values and examples appear as `trscohort.quality.masking` allows
(row numbers and masked values), never as the raw values the warehouse keeps. It holds no
time of day (audit.dq_results has it): two runs on the same input write the same bytes.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import duckdb

from trscohort.publication.suppression import CountTable, protect
from trscohort.quality.masking import masked
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


ANY_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
QUOTED = re.compile(r"(\w+)?(\s*:?\s*)'([^']*)'")


def masked_reason(reason: str) -> str:
    """A quarantine reason as it may be published: a quoted identifier or date keeps only its
    shape (`unknown patient_id 'AA9999999'`), other quoted values (a unit, 'n/a') stay, and
    any date in the text is shown as 9999-99-99."""

    def mask(m: re.Match) -> str:
        word = m.group(1) or ""
        return f"{word}{m.group(2)}{masked(m.group(3), word)}"

    # A date outside quotes too ("birth_date outside plausible range: 1880-01-01").
    return ANY_DATE.sub("9999-99-99", QUOTED.sub(mask, reason or "(no reason)"))


def quarantine_section(con) -> list[str]:
    """Rows quarantined per extract, by reason (quoted values masked), with counts protected
    as the dashboards protect them: small counts "<11", complements withheld."""
    tables = [
        t
        for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'quarantine' "
            "ORDER BY table_name"
        ).fetchall()
    ]
    counts: dict[str, dict[str, int]] = {}
    for table in tables:
        columns = {c for (c, *_) in con.execute(f"DESCRIBE quarantine.{table}").fetchall()}
        if "reason" not in columns:
            continue
        rows = con.execute(f"SELECT reason, count(*) FROM quarantine.{table} GROUP BY 1").fetchall()
        by_reason: dict[str, int] = {}
        for reason, n in rows:
            shown = masked_reason(reason)
            by_reason[shown] = by_reason.get(shown, 0) + int(n)
        if by_reason:
            counts[table] = by_reason
    parts = ["<h2 id='quarantine'>Quarantined rows per extract, by reason</h2>"]
    if not counts:
        return [*parts, "<p>No row was quarantined.</p>"]
    table = CountTable("quarantine reasons")
    for extract, reasons in counts.items():
        for reason, n in reasons.items():
            table.add((extract, reason), n)
        table.add((extract, "*"), sum(reasons.values()))
        table.add_sum((extract, "*"), [(extract, r) for r in reasons])
    protected = protect(table, SMALL_COUNT_MAX)
    parts.append(
        "<p>Rows that could not be used are kept in the warehouse's <code>quarantine</code> "
        "schema with their reason; read = accepted + quarantined + duplicates per extract. "
        "Quoted identifiers and dates keep only their shape. Counts 1-10 are shown as "
        "&lt;11, and other counts withheld where one could be worked out.</p>"
        "<table><tr><th>extract</th><th>reason</th><th>rows</th></tr>"
    )
    for extract, reasons in counts.items():
        ordered = sorted(reasons, key=lambda r: (-reasons[r], r))
        for reason in ordered:
            parts.append(
                f"<tr><td>{_cell(extract)}</td><td>{_cell(reason)}</td>"
                f"<td>{_cell(protected.cell((extract, reason)).label)}</td></tr>"
            )
        parts.append(
            f"<tr><td>{_cell(extract)}</td><td><strong>all reasons</strong></td>"
            f"<td><strong>{_cell(protected.cell((extract, '*')).label)}</strong></td></tr>"
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
    parts += quarantine_section(con)
    parts += unmapped_section(con)
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
