"""Adverse-event incidence on clozapine with exact Poisson intervals (marts.ae_rates).

The patient-level work is SQL: marts.clozapine_person_time holds every patient's time at risk
cut into stratum segments with the events in each. Here it is summed per event and stratum in
DuckDB (one GROUPING SETS query), and the exact interval is computed over that small aggregate:
for k events in T person-years at level 1 - a (Garwood 1936),

    lower = chi2.ppf(a / 2, 2k) / 2 / T        (0 when k = 0)
    upper = chi2.ppf(1 - a / 2, 2k + 2) / 2 / T

both x 1,000 for a rate per 1,000 person-years.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from scipy.stats import chi2

PER_PERSON_YEARS = 1000
STRATIFIERS = ("overall", "time_since_start", "dose_band", "sex", "age_band")
SEX_ORDER = ("F", "M", "U")


def poisson_interval(events, ci_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) interval for Poisson counts `events`: (lower, upper) expected counts."""
    k = np.asarray(events, dtype=float)
    alpha = 1.0 - ci_level
    with np.errstate(invalid="ignore"):
        lower = np.where(k > 0, chi2.ppf(alpha / 2, 2 * k) / 2, 0.0)
    upper = chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2
    return lower, upper


def rate_interval(
    events, person_years, ci_level: float = 0.95, per: float = PER_PERSON_YEARS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rate, lower, upper) per `per` person-years; NaN where there is no person-time."""
    k = np.asarray(events, dtype=float)
    t = np.asarray(person_years, dtype=float)
    lower, upper = poisson_interval(k, ci_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(t > 0, per / np.where(t > 0, t, 1.0), np.nan)
    return k * scale, lower * scale, upper * scale


def stratum_labels(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Stratum labels in display order, as the SQL models write them (from the config cuts)."""
    ae = config["adverse_events"]
    weeks, doses, ages = ae["time_since_start_weeks"], ae["dose_bands_mg"], ae["age_bands_years"]
    lows = [0, *weeks[:-1]]
    return {
        "overall": ["all"],
        "time_since_start": [f"weeks {a}-{b}" for a, b in zip(lows, weeks, strict=True)]
        + [f"weeks >{weeks[-1]}"],
        "dose_band": [f"<{doses[0]}"]
        + [f"{a}-{b}" for a, b in zip(doses[:-1], doses[1:], strict=True)]
        + [f">{doses[-1]}", "unknown", "after stop"],
        "sex": list(SEX_ORDER),
        "age_band": [f"<{ages[0]}"]
        + [f"{a}-{b - 1}" for a, b in zip(ages[:-1], ages[1:], strict=True)]
        + [f"{ages[-1]}+", "unknown"],
    }


# Person-years summed as exact decimals: a float sum depends on the order DuckDB's threads add
# the segments in, and two runs on the same input must give the same rates to the last bit.
def _exact_person_years(analysis: str) -> str:
    return (
        "CAST(sum(CAST(person_years AS DECIMAL(38, 12))) "
        f"FILTER (WHERE analysis = '{analysis}') AS DOUBLE)"
    )


AGGREGATE_SQL = f"""
SELECT
    event_id,
    CASE
        WHEN grouping(time_since_start) = 0 THEN 'time_since_start'
        WHEN grouping(dose_band) = 0 THEN 'dose_band'
        WHEN grouping(sex) = 0 THEN 'sex'
        WHEN grouping(age_band) = 0 THEN 'age_band'
        ELSE 'overall'
    END AS stratifier,
    coalesce(time_since_start, dose_band, sex, age_band, 'all') AS stratum,
    count(DISTINCT patient_id) FILTER (WHERE analysis = 'all_episodes') AS patients,
    count(DISTINCT patient_id) FILTER (WHERE analysis = 'all_episodes' AND events > 0)
        AS patients_with_event,
    coalesce(sum(events) FILTER (WHERE analysis = 'all_episodes'), 0) AS events,
    coalesce({_exact_person_years("all_episodes")}, 0) AS person_years,
    coalesce(sum(events) FILTER (WHERE analysis = 'first_event'), 0) AS first_events,
    coalesce({_exact_person_years("first_event")}, 0)
        AS first_event_person_years
FROM marts.clozapine_person_time
GROUP BY GROUPING SETS (
    (event_id), (event_id, time_since_start), (event_id, dose_band), (event_id, sex),
    (event_id, age_band)
)
"""


def compute_ae_rates(con: duckdb.DuckDBPyConnection, config: Mapping[str, Any]) -> pa.Table:
    """marts.ae_rates as an Arrow table: per event and stratum, counts, rates, exact intervals."""
    ci_level = float(config["adverse_events"]["ci_level"])
    cols = con.execute(AGGREGATE_SQL).fetchnumpy()
    events = np.asarray(cols["events"], dtype=np.int64)
    first_events = np.asarray(cols["first_events"], dtype=np.int64)
    person_years = np.asarray(cols["person_years"], dtype=float)
    first_py = np.asarray(cols["first_event_person_years"], dtype=float)
    patients = np.asarray(cols["patients"], dtype=np.int64)
    with_event = np.asarray(cols["patients_with_event"], dtype=np.int64)
    rate, low, high = rate_interval(events, person_years, ci_level)
    f_rate, f_low, f_high = rate_interval(first_events, first_py, ci_level)
    labels = stratum_labels(config)
    stratifiers = [str(s) for s in cols["stratifier"]]
    strata = [str(s) for s in cols["stratum"]]
    order = [
        labels[s].index(v) if v in labels[s] else len(labels[s])
        for s, v in zip(stratifiers, strata, strict=True)
    ]
    with np.errstate(divide="ignore", invalid="ignore"):
        proportion = np.where(
            patients > 0, with_event / np.where(patients > 0, patients, 1), np.nan
        )
    return pa.table(
        {
            "event_id": pa.array([str(e) for e in cols["event_id"]], pa.string()),
            "stratifier": pa.array(stratifiers, pa.string()),
            "stratum": pa.array(strata, pa.string()),
            "stratifier_order": pa.array([STRATIFIERS.index(s) for s in stratifiers], pa.int32()),
            "stratum_order": pa.array(order, pa.int32()),
            "patients": pa.array(patients, pa.int64()),
            "patients_with_event": pa.array(with_event, pa.int64()),
            "proportion_with_event": pa.array(proportion, pa.float64()),
            "events": pa.array(events, pa.int64()),
            "person_years": pa.array(person_years, pa.float64()),
            "rate_per_1000py": pa.array(rate, pa.float64()),
            "ci_low": pa.array(low, pa.float64()),
            "ci_high": pa.array(high, pa.float64()),
            "first_events": pa.array(first_events, pa.int64()),
            "first_event_person_years": pa.array(first_py, pa.float64()),
            "first_event_rate_per_1000py": pa.array(f_rate, pa.float64()),
            "first_event_ci_low": pa.array(f_low, pa.float64()),
            "first_event_ci_high": pa.array(f_high, pa.float64()),
        }
    )


def build_ae_rates(con: duckdb.DuckDBPyConnection, config: Mapping[str, Any]) -> int:
    """Create marts.ae_rates from marts.clozapine_person_time; returns its row count."""
    con.register("ae_rates_frame", compute_ae_rates(con, config))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute(
            "CREATE OR REPLACE TABLE marts.ae_rates AS SELECT * FROM ae_rates_frame "
            "ORDER BY event_id, stratifier_order, stratum_order, stratum"
        )
    finally:
        con.unregister("ae_rates_frame")
    return con.execute("SELECT count(*) FROM marts.ae_rates").fetchall()[0][0]
