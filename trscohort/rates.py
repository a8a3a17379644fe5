"""Adverse-event incidence on clozapine with exact Poisson and robust intervals (marts.ae_rates,
marts.ae_rates_grace_sensitivity).

The patient-level work is SQL: marts.clozapine_person_time holds every patient's time at risk
cut into stratum segments with the events in each. Here it is summed per event and stratum in
DuckDB (GROUPING SETS), first per patient and then per stratum, so Python only sees one row per
event and stratum. Days are summed as integers and divided by 365.25 once, so the person-years
do not depend on the order DuckDB adds rows in.

Exact (Garwood 1936) interval for k events in T person-years at level 1 - a:

    lower = chi2.ppf(a / 2, 2k) / 2 / T        (0 when k = 0)
    upper = chi2.ppf(1 - a / 2, 2k + 2) / 2 / T

Robust interval for the all-episodes rate (issue 14, item 7): a patient with several episodes
makes the Poisson interval too narrow, so the rate R = sum y_i / sum t_i (y_i episodes and t_i
days of patient i in the stratum) also gets the cluster-robust (sandwich) variance of a ratio
estimator with patients as clusters,

    var(R) = n / (n - 1) * sum (y_i - R t_i)^2 / (sum t_i)^2,

the variance of a Poisson GEE / GLM with offset log t_i and cluster-robust errors (statsmodels'
cov_type="cluster" gives the same), and the interval R exp(+-z sqrt(var) / R) on the log scale.
With no events (or one patient) it is undefined (NULL).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from scipy.stats import chi2

PER_PERSON_YEARS = 1000
DAYS_PER_YEAR = 365.25
STRATIFIERS = (
    "overall",
    "course",
    "exposure",
    "time_since_start",
    "dose_band",
    "sex",
    "age_band",
)
SEX_ORDER = ("F", "M", "U")
Z = {0.9: 1.6448536269514722, 0.95: 1.959963984540054, 0.99: 2.5758293035489004}


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
        "course": ["first", "rechallenge"],
        "exposure": ["on treatment", "grace period"],
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


def robust_rate_interval(
    patients,
    events,
    days,
    sum_y2,
    sum_yt,
    sum_t2,
    ci_level: float = 0.95,
    per: float = PER_PERSON_YEARS,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster-robust (patients as clusters) log-scale interval of the rate per `per` PY, from
    per-stratum sums over patients: n, sum y, sum t (days), sum y^2, sum y t, sum t^2."""
    n = np.asarray(patients, dtype=float)
    y = np.asarray(events, dtype=float)
    t = np.asarray(days, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(t > 0, y / np.where(t > 0, t, 1.0), np.nan)  # events per day
        squares = np.asarray(sum_y2, float) - 2 * rate * np.asarray(sum_yt, float)
        squares = np.maximum(squares + rate**2 * np.asarray(sum_t2, float), 0.0)
        variance = n / (n - 1) * squares / t**2
        log_se = np.sqrt(variance) / rate
        ok = (y > 0) & (n > 1) & (t > 0)
        scale = per * DAYS_PER_YEAR
        z = Z[round(ci_level, 2)]
        low = np.where(ok, rate * np.exp(-z * log_se) * scale, np.nan)
        high = np.where(ok, rate * np.exp(z * log_se) * scale, np.nan)
    return low, high


_GROUPS = {
    "overall": "",
    "course": "course",
    "exposure": "exposure",
    "time_since_start": "time_since_start",
    "dose_band": "dose_band",
    "sex": "sex",
    "age_band": "age_band",
}


def _aggregate_sql(table: str, where: str = "TRUE") -> str:
    """Per event and stratum: patients and per-patient sums (two GROUPING SETS levels)."""
    sets = ", ".join(
        f"(event_id, patient_id{', ' + col if col else ''})" for col in _GROUPS.values()
    )
    stratifier = "CASE " + " ".join(
        f"WHEN grouping({col}) = 0 THEN '{name}'" for name, col in _GROUPS.items() if col
    )
    stratum = "coalesce(" + ", ".join(c for c in _GROUPS.values() if c) + ", 'all')"
    return f"""
WITH per_patient AS (
    SELECT
        event_id,
        {stratifier} ELSE 'overall' END AS stratifier,
        {stratum} AS stratum,
        patient_id,
        count(*) FILTER (WHERE analysis = 'all_episodes') AS all_rows,
        coalesce(sum(events) FILTER (WHERE analysis = 'all_episodes'), 0) AS y,
        coalesce(sum(days) FILTER (WHERE analysis = 'all_episodes'), 0) AS t,
        coalesce(sum(events) FILTER (WHERE analysis = 'first_event'), 0) AS first_y,
        coalesce(sum(days) FILTER (WHERE analysis = 'first_event'), 0) AS first_t
    FROM {table}
    WHERE {where}
    GROUP BY GROUPING SETS ({sets})
)
SELECT
    event_id,
    stratifier,
    stratum,
    count(*) FILTER (WHERE all_rows > 0) AS patients,
    count(*) FILTER (WHERE y > 0) AS patients_with_event,
    CAST(sum(y) AS BIGINT) AS events,
    CAST(sum(t) AS BIGINT) AS days,
    CAST(sum(first_y) AS BIGINT) AS first_events,
    CAST(sum(first_t) AS BIGINT) AS first_event_days,
    CAST(sum(y * y) AS DOUBLE) AS sum_y2,
    CAST(sum(CAST(y AS HUGEINT) * t) AS DOUBLE) AS sum_yt,
    CAST(sum(CAST(t AS HUGEINT) * t) AS DOUBLE) AS sum_t2
FROM per_patient
GROUP BY event_id, stratifier, stratum
"""


def _rates_columns(cols: Mapping[str, np.ndarray], ci_level: float) -> dict[str, pa.Array]:
    """Counts, person-years, rates, exact and robust intervals from the aggregate's columns."""
    events = np.asarray(cols["events"], dtype=np.int64)
    first_events = np.asarray(cols["first_events"], dtype=np.int64)
    days = np.asarray(cols["days"], dtype=np.int64)
    first_days = np.asarray(cols["first_event_days"], dtype=np.int64)
    patients = np.asarray(cols["patients"], dtype=np.int64)
    with_event = np.asarray(cols["patients_with_event"], dtype=np.int64)
    person_years = days / DAYS_PER_YEAR
    first_py = first_days / DAYS_PER_YEAR
    rate, low, high = rate_interval(events, person_years, ci_level)
    r_low, r_high = robust_rate_interval(
        patients, events, days, cols["sum_y2"], cols["sum_yt"], cols["sum_t2"], ci_level
    )
    f_rate, f_low, f_high = rate_interval(first_events, first_py, ci_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        proportion = np.where(
            patients > 0, with_event / np.where(patients > 0, patients, 1), np.nan
        )
    return {
        "patients": pa.array(patients, pa.int64()),
        "patients_with_event": pa.array(with_event, pa.int64()),
        "proportion_with_event": pa.array(proportion, pa.float64()),
        "events": pa.array(events, pa.int64()),
        "person_years": pa.array(person_years, pa.float64()),
        "rate_per_1000py": pa.array(rate, pa.float64()),
        "ci_low": pa.array(low, pa.float64()),
        "ci_high": pa.array(high, pa.float64()),
        "robust_ci_low": pa.array(r_low, pa.float64(), from_pandas=True),
        "robust_ci_high": pa.array(r_high, pa.float64(), from_pandas=True),
        "first_events": pa.array(first_events, pa.int64()),
        "first_event_person_years": pa.array(first_py, pa.float64()),
        "first_event_rate_per_1000py": pa.array(f_rate, pa.float64()),
        "first_event_ci_low": pa.array(f_low, pa.float64()),
        "first_event_ci_high": pa.array(f_high, pa.float64()),
    }


def compute_ae_rates(con: duckdb.DuckDBPyConnection, config: Mapping[str, Any]) -> pa.Table:
    """marts.ae_rates as an Arrow table: per event and stratum, counts, rates, intervals."""
    ci_level = float(config["adverse_events"]["ci_level"])
    cols = con.execute(_aggregate_sql("marts.clozapine_person_time")).fetchnumpy()
    labels = stratum_labels(config)
    stratifiers = [str(s) for s in cols["stratifier"]]
    strata = [str(s) for s in cols["stratum"]]
    order = [
        labels[s].index(v) if v in labels[s] else len(labels[s])
        for s, v in zip(stratifiers, strata, strict=True)
    ]
    return pa.table(
        {
            "event_id": pa.array([str(e) for e in cols["event_id"]], pa.string()),
            "stratifier": pa.array(stratifiers, pa.string()),
            "stratum": pa.array(strata, pa.string()),
            "stratifier_order": pa.array([STRATIFIERS.index(s) for s in stratifiers], pa.int32()),
            "stratum_order": pa.array(order, pa.int32()),
            **_rates_columns(cols, ci_level),
        }
    )


def _write_table(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table, order: str) -> int:
    frame = f"{name.replace('.', '_')}_frame"
    con.register(frame, table)
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {frame} ORDER BY {order}")
    finally:
        con.unregister(frame)
    return con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]


def build_ae_rates(con: duckdb.DuckDBPyConnection, config: Mapping[str, Any]) -> int:
    """Create marts.ae_rates from marts.clozapine_person_time; returns its row count."""
    return _write_table(
        con,
        "marts.ae_rates",
        compute_ae_rates(con, config),
        "event_id, stratifier_order, stratum_order, stratum",
    )


GRACE_SQL = """
SELECT
    event_id,
    grace_days,
    count(DISTINCT patient_id) FILTER (WHERE analysis = 'all_episodes') AS patients,
    count(DISTINCT patient_id) FILTER (WHERE analysis = 'all_episodes' AND events > 0)
        AS patients_with_event,
    CAST(coalesce(sum(events) FILTER (WHERE analysis = 'all_episodes'), 0) AS BIGINT) AS events,
    CAST(coalesce(sum(days) FILTER (WHERE analysis = 'all_episodes'), 0) AS BIGINT) AS days,
    CAST(coalesce(sum(events) FILTER (
        WHERE analysis = 'all_episodes' AND exposure = 'grace period'), 0) AS BIGINT)
        AS grace_period_events,
    CAST(coalesce(sum(days) FILTER (
        WHERE analysis = 'all_episodes' AND exposure = 'grace period'), 0) AS BIGINT)
        AS grace_period_days_at_risk,
    CAST(coalesce(sum(events) FILTER (WHERE analysis = 'first_event'), 0) AS BIGINT)
        AS first_events,
    CAST(coalesce(sum(days) FILTER (WHERE analysis = 'first_event'), 0) AS BIGINT)
        AS first_event_days
FROM intermediate.ae_person_time
GROUP BY event_id, grace_days
"""


def compute_grace_sensitivity(
    con: duckdb.DuckDBPyConnection, config: Mapping[str, Any]
) -> pa.Table:
    """marts.ae_rates_grace_sensitivity: overall rates per event with each grace period."""
    ae = config["adverse_events"]
    ci_level = float(ae["ci_level"])
    cols = con.execute(GRACE_SQL).fetchnumpy()
    events = np.asarray(cols["events"], dtype=np.int64)
    first_events = np.asarray(cols["first_events"], dtype=np.int64)
    person_years = np.asarray(cols["days"], dtype=np.int64) / DAYS_PER_YEAR
    first_py = np.asarray(cols["first_event_days"], dtype=np.int64) / DAYS_PER_YEAR
    rate, low, high = rate_interval(events, person_years, ci_level)
    f_rate, f_low, f_high = rate_interval(first_events, first_py, ci_level)
    grace = np.asarray(cols["grace_days"], dtype=np.int64)
    grace_py = np.asarray(cols["grace_period_days_at_risk"], dtype=np.int64) / DAYS_PER_YEAR
    return pa.table(
        {
            "event_id": pa.array([str(e) for e in cols["event_id"]], pa.string()),
            "grace_days": pa.array(grace, pa.int32()),
            "is_default": pa.array(grace == int(ae["grace_period_days"]), pa.bool_()),
            "patients": pa.array(np.asarray(cols["patients"], np.int64), pa.int64()),
            "patients_with_event": pa.array(
                np.asarray(cols["patients_with_event"], np.int64), pa.int64()
            ),
            "events": pa.array(events, pa.int64()),
            "person_years": pa.array(person_years, pa.float64()),
            "rate_per_1000py": pa.array(rate, pa.float64()),
            "ci_low": pa.array(low, pa.float64()),
            "ci_high": pa.array(high, pa.float64()),
            "grace_period_events": pa.array(
                np.asarray(cols["grace_period_events"], np.int64), pa.int64()
            ),
            "grace_period_person_years": pa.array(grace_py, pa.float64()),
            "first_events": pa.array(first_events, pa.int64()),
            "first_event_person_years": pa.array(first_py, pa.float64()),
            "first_event_rate_per_1000py": pa.array(f_rate, pa.float64()),
            "first_event_ci_low": pa.array(f_low, pa.float64()),
            "first_event_ci_high": pa.array(f_high, pa.float64()),
        }
    )


def build_grace_sensitivity(con: duckdb.DuckDBPyConnection, config: Mapping[str, Any]) -> int:
    """Create marts.ae_rates_grace_sensitivity from intermediate.ae_person_time."""
    return _write_table(
        con,
        "marts.ae_rates_grace_sensitivity",
        compute_grace_sensitivity(con, config),
        "event_id, grace_days",
    )
