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


def trs_summary(con: duckdb.DuckDBPyConnection) -> list[str]:
    steps = con.execute(
        "SELECT step, kind, patients FROM marts.trs_funnel ORDER BY step_order"
    ).fetchall()
    lines = ["TRS funnel"]
    for step, kind, patients in steps:
        label = f"  {step}" if kind == "funnel" else f"  (aside) {step}"
        lines.append(f"{label:<58}{patients:>10,}")
    return lines


def run_summary(con: duckdb.DuckDBPyConnection) -> str:
    patients = con.execute("SELECT count(*) FROM staging.patients").fetchone()[0]
    as_of, source = con.execute(
        "SELECT as_of_date, as_of_source FROM audit.run_parameters"
    ).fetchone()
    lines = [f"as-of date {as_of.isoformat()} ({source}); {patients:,} patients", ""]
    lines += ingest_summary(con)
    lines += ["", *trs_summary(con)]
    return "\n".join(lines)
