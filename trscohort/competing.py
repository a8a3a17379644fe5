"""Aalen-Johansen cumulative incidence with competing events (marts.ae_competing_risks).

1 - Kaplan-Meier (marts.ae_cumulative_incidence) is the risk of an adverse event if everyone
stayed on clozapine: stopping and dying are censored. The Aalen-Johansen estimator treats them as
competing events instead, and gives the probability of having the event while on clozapine (plus
the grace period) in the real cohort, where patients stop and die (issue 14, item 6).

The subjects (one per event, patient and course) are SQL: intermediate.ae_follow_up. DuckDB
counts them per day (entries, events, stops, deaths, other censorings); here, over that small
per-day aggregate, for each event and course (vectorised, no loop over subjects or days):

    n_i   subjects at risk on day i (entered on or before it, not exited before it)
    S(i)  all-cause Kaplan-Meier: product over days <= i of 1 - (d_event + d_stop + d_death) / n
    F(t)  sum over days i <= t of S(i - 1) d_event,i / n_i

and the delta-method variance of F(t) of Collett (Modelling Survival Data, 3rd ed., p. 411), the
one lifelines' AalenJohansenFitter uses, with the band on the log(-log F) scale. Tied days are
handled as the estimator defines them (all exits of a day share its risk set; events before
censorings); lifelines instead jitters tied event times of different types, so on daily data it
agrees with this to the size of a jitter, and exactly where no two event types share a day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from trscohort.rates import Z

COMPETING = ("stopped", "died")

DAILY_SQL = """
WITH marks AS (
    SELECT event_id, course, exit_day AS day, 0 AS entries,
        CASE WHEN exit_reason = 'event' THEN 1 ELSE 0 END AS d_event,
        CASE WHEN exit_reason = 'stopped' THEN 1 ELSE 0 END AS d_stopped,
        CASE WHEN exit_reason = 'died' THEN 1 ELSE 0 END AS d_died,
        CASE WHEN exit_reason IN ('as_of', 'censored') THEN 1 ELSE 0 END AS censored
    FROM intermediate.ae_follow_up
    UNION ALL
    SELECT event_id, course, entry_day, 1, 0, 0, 0, 0 FROM intermediate.ae_follow_up
)
SELECT event_id, course, day,
    CAST(sum(entries) AS BIGINT) AS entries,
    CAST(sum(d_event) AS BIGINT) AS d_event,
    CAST(sum(d_stopped) AS BIGINT) AS d_stopped,
    CAST(sum(d_died) AS BIGINT) AS d_died,
    CAST(sum(censored) AS BIGINT) AS censored
FROM marks
GROUP BY event_id, course, day
ORDER BY event_id, course, day
"""


@dataclass(frozen=True)
class AalenJohansen:
    """Per distinct day: the risk set and the estimates at the end of the day."""

    day: np.ndarray
    at_risk: np.ndarray
    cumulative_incidence: np.ndarray
    variance: np.ndarray
    overall_survival: np.ndarray


def aalen_johansen(day, entries, d_event, d_competing, censored) -> AalenJohansen:
    """Aalen-Johansen cumulative incidence of the event of interest over sorted distinct days.

    `d_competing` is the count of competing exits per day (summed over competing types)."""
    day = np.asarray(day, dtype=np.int64)
    entries = np.asarray(entries, dtype=float)
    d_k = np.asarray(d_event, dtype=float)
    d_all = d_k + np.asarray(d_competing, dtype=float)
    exits = d_all + np.asarray(censored, dtype=float)
    n = np.cumsum(entries) - np.concatenate(([0.0], np.cumsum(exits)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard_all = np.where(n > 0, d_all / np.where(n > 0, n, 1), 0.0)
        survival = np.cumprod(1 - hazard_all)
        lag_s = np.concatenate(([1.0], survival[:-1]))
        jump = np.where(n > 0, lag_s * d_k / np.where(n > 0, n, 1), 0.0)
        cif = np.cumsum(jump)
        # Var F(t) = sum_i a_i (F(t) - F_i)^2 + sum_i b_i - 2 sum_i c_i (F(t) - F_i), expanded
        # into running sums so that each day's variance is O(1).
        a = np.where((n > 0) & (n > d_all), d_all / (n * (n - d_all)), 0.0)
        b = np.where(n > 0, lag_s**2 * d_k * (n - d_k) / n**3, 0.0)
        c = np.where(n > 0, lag_s * d_k / n**2, 0.0)
    sa, saf, saff = np.cumsum(a), np.cumsum(a * cif), np.cumsum(a * cif**2)
    sc, scf = np.cumsum(c), np.cumsum(c * cif)
    variance = cif**2 * sa - 2 * cif * saf + saff + np.cumsum(b) - 2 * (cif * sc - scf)
    return AalenJohansen(day, n, cif, np.maximum(variance, 0.0), survival)


def loglog_band(cif, variance, ci_level: float) -> tuple[np.ndarray, np.ndarray]:
    """Band on the log(-log F) scale (inside 0-1): F^exp(-+z se), se = sd / (F |log F|)."""
    f = np.asarray(cif, dtype=float)
    z = Z[round(ci_level, 2)]
    inside = (f > 0) & (f < 1)
    safe = np.where(inside, f, 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(variance) / (safe * np.abs(np.log(safe)))
    low = np.where(inside, safe ** np.exp(z * se), f)
    high = np.where(inside, safe ** np.exp(-z * se), f)
    return low, high


def _weekly(values: np.ndarray, day: np.ndarray, weeks: np.ndarray) -> np.ndarray:
    """The value at the end of each week (last day <= 7w + 6), 0 before the first day."""
    index = np.searchsorted(day, 7 * weeks + 6, side="right") - 1
    return np.where(index >= 0, values[np.maximum(index, 0)], 0.0)


def _week_sums(counts: np.ndarray, day: np.ndarray, weeks: np.ndarray) -> np.ndarray:
    return np.bincount(day // 7, weights=counts, minlength=weeks.size)[: weeks.size]


def _group_table(event: str, course: str, g: Mapping[str, np.ndarray], ci_level: float) -> dict:
    day = g["day"]
    competing = g["d_stopped"] + g["d_died"]
    aj = aalen_johansen(day, g["entries"], g["d_event"], competing, g["censored"])
    stop = aalen_johansen(
        day, g["entries"], g["d_stopped"], g["d_event"] + g["d_died"], g["censored"]
    )
    death = aalen_johansen(
        day, g["entries"], g["d_died"], g["d_event"] + g["d_stopped"], g["censored"]
    )
    km = aalen_johansen(day, g["entries"], g["d_event"], 0 * competing, g["censored"] + competing)
    weeks = np.arange(int(day.max()) // 7 + 1)
    exits = g["d_event"] + competing + g["censored"]
    entered = np.cumsum(_week_sums(g["entries"], day, weeks))
    left_before = np.concatenate(([0.0], np.cumsum(_week_sums(exits, day, weeks))[:-1]))
    cif = _weekly(aj.cumulative_incidence, day, weeks)
    variance = _weekly(aj.variance, day, weeks)
    low, high = loglog_band(cif, variance, ci_level)
    return {
        "event_id": [event] * weeks.size,
        "course": [course] * weeks.size,
        "week": weeks,
        "first_day": 7 * weeks,
        "last_day": 7 * weeks + 6,
        "at_risk": (entered - left_before).astype(np.int64),
        "events": _week_sums(g["d_event"], day, weeks).astype(np.int64),
        "stopped": _week_sums(g["d_stopped"], day, weeks).astype(np.int64),
        "died": _week_sums(g["d_died"], day, weeks).astype(np.int64),
        "censored": _week_sums(g["censored"], day, weeks).astype(np.int64),
        "cumulative_events": np.cumsum(_week_sums(g["d_event"], day, weeks)).astype(np.int64),
        "cumulative_incidence": cif,
        "std_error": np.sqrt(variance),
        "ci_low": low,
        "ci_high": high,
        "cumulative_incidence_stopped": _weekly(stop.cumulative_incidence, day, weeks),
        "cumulative_incidence_died": _weekly(death.cumulative_incidence, day, weeks),
        "one_minus_km": _weekly(km.cumulative_incidence, day, weeks),
    }


COLUMNS = {
    "event_id": pa.string(),
    "course": pa.string(),
    "week": pa.int32(),
    "first_day": pa.int32(),
    "last_day": pa.int32(),
    "at_risk": pa.int64(),
    "events": pa.int64(),
    "stopped": pa.int64(),
    "died": pa.int64(),
    "censored": pa.int64(),
    "cumulative_events": pa.int64(),
    "cumulative_incidence": pa.float64(),
    "std_error": pa.float64(),
    "ci_low": pa.float64(),
    "ci_high": pa.float64(),
    "cumulative_incidence_stopped": pa.float64(),
    "cumulative_incidence_died": pa.float64(),
    "one_minus_km": pa.float64(),
}


def compute_competing_risks(con: duckdb.DuckDBPyConnection, config: Mapping[str, Any]) -> pa.Table:
    """marts.ae_competing_risks as an Arrow table (one row per event, course and week)."""
    ci_level = float(config["adverse_events"]["ci_level"])
    cols = con.execute(DAILY_SQL).fetchnumpy()
    keys = np.array([f"{e}\x00{c}" for e, c in zip(cols["event_id"], cols["course"], strict=True)])
    parts: dict[str, list] = {name: [] for name in COLUMNS}
    if keys.size:
        # rows are sorted by event, course and day: one slice per event and course
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        bounds = np.append(starts, keys.size)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            group = {k: np.asarray(v[lo:hi]) for k, v in cols.items()}
            group = {
                k: v.astype(float) if k not in ("event_id", "course", "day") else v
                for k, v in group.items()
            }
            group["day"] = group["day"].astype(np.int64)
            table = _group_table(
                str(cols["event_id"][lo]), str(cols["course"][lo]), group, ci_level
            )
            for name in COLUMNS:
                parts[name].append(np.asarray(table[name]))
    return pa.table(
        {
            name: pa.array(np.concatenate(parts[name]) if parts[name] else [], kind)
            for name, kind in COLUMNS.items()
        }
    )


def build_competing_risks(con: duckdb.DuckDBPyConnection, config: Mapping[str, Any]) -> int:
    """Create marts.ae_competing_risks from intermediate.ae_follow_up; returns its row count."""
    from trscohort.rates import _write_table

    return _write_table(
        con,
        "marts.ae_competing_risks",
        compute_competing_risks(con, config),
        "event_id, course, week",
    )
