"""Vectorised helpers shared by the generator modules (no per-patient Python loops)."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

EPOCH = date(1970, 1, 1)


def day_number(d: date) -> int:
    """Days since 1970-01-01 (the integer date representation used throughout)."""
    return (d - EPOCH).days


def uniform_int(rng: np.random.Generator, low, high, size=None) -> np.ndarray:
    """Integers uniform in [low, high] inclusive (bounds may be arrays)."""
    low = np.asarray(low, dtype=np.int64)
    high = np.asarray(high, dtype=np.int64)
    if size is None:
        size = np.broadcast(low, high).shape
    return low + np.floor(rng.random(size) * (high - low + 1)).astype(np.int64)


def expand_periodic(start, stop, period) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each owner i, times start[i] + k*period[i] (k = 0, 1, ...) not after stop[i].

    Returns (owner index, k, time) as flat arrays; owners with stop < start get no rows.
    """
    start = np.asarray(start, dtype=np.int64)
    stop = np.asarray(stop, dtype=np.int64)
    period = np.broadcast_to(np.asarray(period, dtype=np.int64), start.shape)
    counts = np.where(stop >= start, (stop - start) // period + 1, 0)
    owner = np.repeat(np.arange(start.size), counts)
    first = np.cumsum(counts) - counts
    k = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(first, counts)
    return owner, k, start[owner] + k * period[owner]


def pick(rng: np.random.Generator, options: list, size: int, p=None) -> np.ndarray:
    """Indices into `options` (vectorised choice)."""
    return rng.choice(len(options), size=size, p=p)


def take(strings: list[str], idx: np.ndarray) -> pl.Series:
    """String column from a small list of strings and an index array."""
    table = pl.Series(strings, dtype=pl.String)
    return table.gather(pl.Series(np.asarray(idx, dtype=np.int64)))


def case_variant(rng: np.random.Generator, text: pl.Series, share: float) -> pl.Series:
    """Write `share` of the values Title-cased or UPPER-cased (the rest unchanged)."""
    u = rng.random(text.len())
    frame = pl.DataFrame({"t": text, "u": u})
    out = frame.select(
        pl.when(pl.col("u") < share / 2)
        .then(pl.col("t").str.to_titlecase())
        .when(pl.col("u") < share)
        .then(pl.col("t").str.to_uppercase())
        .otherwise(pl.col("t"))
    )
    return out.to_series()


def window_edge_days(max_day: int) -> np.ndarray:
    """Boolean lookup: True where day offset f is within 1 day of an ANC window's last day.

    A follow-up end there would make "expected" depend on inclusive/exclusive conventions.
    """
    from trscohort.synth.params import ANC_RULES

    edge = np.zeros(max_day + 3, dtype=bool)
    for _rule, first, last, period, offset, tol in ANC_RULES:
        stop_index = last if last is not None else (max_day // period) + 1
        ends = offset + period * np.arange(first, stop_index + 1) + tol
        ends = ends[ends <= max_day + 1]
        for delta in (-1, 0, 1):
            edge[np.clip(ends + delta, 0, max_day + 2)] = True
    return edge


def nudge_off_edges(f: np.ndarray, low: np.ndarray, high: np.ndarray, edge: np.ndarray):
    """Smallest shift d in 0, ±1, ±2, ±3 so that f+d is no window edge and low <= f+d <= high.

    Returns (shift, ok); ok is False where no candidate works (caller drops or keeps as is).
    """
    shifts = np.array([0, -1, 1, -2, 2, -3, 3])
    cand = f[:, None] + shifts[None, :]
    inside = (cand >= low[:, None]) & (cand <= high[:, None])
    clipped = np.clip(cand, 0, edge.size - 1)
    good = inside & ~edge[clipped]
    ok = good.any(axis=1)
    best = np.argmax(good, axis=1)
    return np.where(ok, shifts[best], 0), ok


def format_number(values: pl.Expr, decimals: pl.Expr) -> pl.Expr:
    """Text of a number rounded to a per-row number of decimals (0 → integer text)."""
    out = pl.when(decimals == 0).then(values.round(0).cast(pl.Int64).cast(pl.String))
    for d in (1, 2, 3):
        out = out.when(decimals == d).then(values.round(d).cast(pl.String))
    return out.otherwise(values.cast(pl.String))


def date_text(days: pl.Expr) -> pl.Expr:
    """ISO date text from integer day numbers."""
    return days.cast(pl.Int32).cast(pl.Date).cast(pl.String)


def patient_id_text(numbers: pl.Expr) -> pl.Expr:
    return pl.lit("P") + numbers.cast(pl.String).str.zfill(7)
