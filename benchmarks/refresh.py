"""A daily refresh's input for `bench_pipeline.py --refresh`: yesterday's extracts plus new rows.

Every extract gets `share` of its rows again as new rows (new lines appended, none changed):
copies of existing lines with the date columns moved one day later and, for patients, a new
patient id, so they are new rows rather than exact duplicates. Done by DuckDB (COPY), never a
Python loop over rows.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from trscohort.contract import EXTRACTS

# The columns moved one day on in the copied rows (all text in the extracts).
DATE_COLUMNS = {
    "patients": (),
    "labs": ("collected_at",),
    "prescriptions": ("start_date",),
    "diagnoses": ("diagnosed_at",),
    "dispensings": ("dispensed_date",),
    "assessments": ("assessed_at",),
    "observation_periods": (),
}


def _shifted(columns: list[str], extract: str) -> str:
    parts = []
    for c in columns:
        if c in DATE_COLUMNS.get(extract, ()):
            parts.append(
                f"coalesce(strftime(TRY_CAST(TRY_CAST({c} AS TIMESTAMP) AS DATE) + 1, '%Y-%m-%d'),"
                f" {c}) AS {c}"
            )
        elif extract == "patients" and c == "patient_id":
            parts.append(f"'N' || {c} AS {c}")
        else:
            parts.append(c)
    return ", ".join(parts)


def append_new_rows(folder: Path, target: Path, share: float = 0.001) -> int:
    """Copy the extract set to `target` with `share` new rows appended to each extract file;
    returns the number of rows added."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    added = 0
    with duckdb.connect() as con:
        for name in EXTRACTS:
            source = folder / f"{name}.csv"
            if not source.is_file():
                continue
            rel = f"read_csv('{source}', header = true, all_varchar = true, auto_detect = true)"
            columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()]
            total = con.execute(f"SELECT count(*) FROM {rel}").fetchone()[0]
            n = max(1, round(total * share))
            new = target / f"{name}.new.csv"
            con.execute(
                f"COPY (SELECT {_shifted(columns, name)} FROM {rel} USING SAMPLE {n} ROWS "
                f"(reservoir, 7)) TO '{new}' (HEADER false)"
            )
            with (target / f"{name}.csv").open("wb") as out:
                with source.open("rb") as old:
                    shutil.copyfileobj(old, out, 1 << 22)
                with new.open("rb") as extra:
                    shutil.copyfileobj(extra, out, 1 << 22)
            new.unlink()
            added += n
    return added
