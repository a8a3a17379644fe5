"""The run summary printed at the end of `trscohort run` (later layers add their headlines)."""

from __future__ import annotations

import duckdb

from trscohort.contract import EXTRACTS


def ingest_summary(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT extract, coalesce(file, '(not supplied)'), rows_read, accepted, quarantined, "
        "duplicates FROM audit.ingest_log"
    ).fetchall()
    order = {name: i for i, name in enumerate(EXTRACTS)}
    rows.sort(key=lambda r: order.get(r[0], len(order)))
    lines = [f"{'extract':<14}{'read':>12}{'accepted':>12}{'quarantined':>13}{'duplicates':>12}"]
    for extract, _file, read, accepted, quarantined, duplicates in rows:
        lines.append(f"{extract:<14}{read:>12,}{accepted:>12,}{quarantined:>13,}{duplicates:>12,}")
    return lines


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def vocabulary_summary(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Unmapped source values (audit.unmapped_values) and the vocabulary warnings."""
    if not _has_table(con, "audit", "unmapped_values"):
        return []
    values, rows = con.execute(
        "SELECT count(*), coalesce(sum(n_rows), 0) FROM audit.unmapped_values"
    ).fetchone()
    lines = [
        f"Source values without a concept: {values:,} ({rows:,} rows; audit.unmapped_values, "
        "the data-quality report, `trscohort vocab suggest`)"
    ]
    if _has_table(con, "audit", "vocabulary_checks"):
        warnings = con.execute(
            "SELECT check_id, message FROM audit.vocabulary_checks WHERE severity = 'warning'"
        ).fetchall()
        lines += [f"  warning [{check_id}]: {message}" for check_id, message in warnings]
    return lines


def trs_summary(con: duckdb.DuckDBPyConnection) -> list[str]:
    steps = con.execute(
        "SELECT step, kind, patients FROM marts.trs_funnel ORDER BY step_order"
    ).fetchall()
    lines = ["TRS funnel"]
    for step, kind, patients in steps:
        label = f"  {step}" if kind == "funnel" else f"  (aside) {step}"
        lines.append(f"{label:<58}{patients:>10,}")
    return lines


def clozapine_summary(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Clozapine status counts, the share fully adherent to ANC monitoring by phase, flags."""
    statuses = con.execute(
        "SELECT clozapine_status, count(*) FROM marts.patient_clozapine_status "
        "WHERE clozapine_status <> 'not_on_clozapine' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    on_clozapine = sum(n for _, n in statuses)
    lines = [f"Clozapine: {on_clozapine:,} patients ever on clozapine"]
    lines += [f"  {status:<56}{n:>10,}" for status, n in statuses]
    lines.append("  fully adherent to ANC monitoring (patients with a window due)")
    adherence = con.execute(
        "SELECT rule_id, count(*), count(*) FILTER (WHERE fully_adherent) "
        "FROM marts.monitoring_adherence WHERE rule_id LIKE 'MON-ANC-%' AND expected_tests > 0 "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    for rule_id, due, full in adherence:
        share = f"{100 * full / due:.1f} %"
        lines.append(f"    {rule_id:<34}{f'{full:,} of {due:,}':>20}{share:>10}")
    counts = dict(
        con.execute("SELECT flag_id, count(*) FROM marts.safety_flags GROUP BY 1").fetchall()
    )
    flag_ids = ("SAF-REC", "SAF-DOSE", "SAF-DDI", "SAF-PREG", "SAF-LACT", "SAF-ANC-ACTION")
    lines.append("  safety flags")
    lines += [f"    {flag:<54}{counts.get(flag, 0):>10,}" for flag in (*flag_ids, "SAF-DISPENSE")]
    return lines


def ae_summary(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Adverse events on clozapine (AE-*): the cohort (marts.ae_cohort_attrition), then per
    event the episodes, person-years and rate per 1,000 PY with its exact Poisson interval and
    the robust one (marts.ae_rates, overall rows)."""
    steps = dict(
        con.execute(
            "SELECT step, patients FROM marts.ae_cohort_attrition WHERE event_id = 'all'"
        ).fetchall()
    )
    rows = con.execute(
        "SELECT event_id, events, person_years, rate_per_1000py, ci_low, ci_high, "
        "robust_ci_low, robust_ci_high FROM marts.ae_rates WHERE stratifier = 'overall' "
        "ORDER BY event_id"
    ).fetchall()
    # all time at risk (chronic events stop at their episode, so take the largest)
    person_years = max((r[2] for r in rows), default=0.0)
    lines = [
        f"Adverse events on clozapine: {steps.get('new user', 0):,} new users of "
        f"{steps.get('any clozapine record', 0):,} patients with a clozapine record, "
        f"{steps.get('follow-up > 0', 0):,} followed; {person_years:,.1f} person-years at risk"
    ]
    lines.append(
        f"  {'event':<10}{'events':>8}{'person-years':>14}"
        f"{'per 1,000 PY (95 % CI)':>28}{'robust 95 % CI':>20}"
    )
    for event_id, events, py, rate, low, high, r_low, r_high in rows:
        shown = f"{rate:.2f} ({low:.2f}-{high:.2f})"
        robust = "-" if r_low is None or r_low != r_low else f"{r_low:.2f}-{r_high:.2f}"
        lines.append(f"  {event_id:<10}{events:>8,}{py:>14,.1f}{shown:>28}{robust:>20}")
    return lines


def qi_summary(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Quality-improvement indicators (QI-*): each indicator's overall rate with its Wilson
    interval (marts.qi_indicators, all sites and months)."""
    if not _has_table(con, "marts", "qi_indicators"):
        return []
    rows = con.execute(
        "SELECT indicator_id, numerator, denominator, rate, ci_low, ci_high FROM "
        "marts.qi_indicators WHERE all_sites AND all_months AND stratum = 'all' ORDER BY 1"
    ).fetchall()
    lines = ["Quality indicators (all sites and months, 95 % Wilson CI; quality_indicators.html)"]
    for indicator_id, numerator, denominator, rate, low, high in rows:
        shown = "-" if rate is None else f"{100 * rate:.1f} % ({100 * low:.1f}-{100 * high:.1f})"
        lines.append(f"  {indicator_id:<14}{f'{numerator:,} of {denominator:,}':>20}{shown:>24}")
    return lines


def run_summary(con: duckdb.DuckDBPyConnection) -> str:
    patients = con.execute("SELECT count(*) FROM staging.patients").fetchone()[0]
    as_of, source = con.execute(
        "SELECT as_of_date, as_of_source FROM audit.run_parameters"
    ).fetchone()
    lines = [f"as-of date {as_of.isoformat()} ({source}); {patients:,} patients", ""]
    lines += ingest_summary(con)
    vocabulary = vocabulary_summary(con)
    if vocabulary:
        lines += ["", *vocabulary]
    lines += ["", *trs_summary(con)]
    lines += ["", *clozapine_summary(con)]
    lines += ["", *ae_summary(con)]
    quality = qi_summary(con)
    if quality:
        lines += ["", *quality]
    return "\n".join(lines)
