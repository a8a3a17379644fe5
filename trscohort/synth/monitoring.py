"""MON-ANC-0..3 expected and observed window counts, recomputed from the generated ANC rows.

The rules (2015 US REMS profile, issue 13): day 0 is the first dose of a schedule; MON-ANC-1 and
MON-ANC-2 windows are centred on a 7- / 14-day grid; MON-ANC-3 has one window per calendar month
(the months starting after day 364 and ending by the end of follow-up). A rechallenge course
starts after 90 days or more off clozapine (more than the 30 that restart the schedule), so it
has a schedule of its own: a baseline and weekly windows from its first dose.
"""

from __future__ import annotations

import numpy as np

from trscohort.synth import params as P
from trscohort.synth.labs_spec import A
from trscohort.synth.plan import Plan

RULES = ("mon_anc_0", *(r[0] for r in P.ANC_RULES))


def _month(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of integer day numbers (days since 1970-01-01)."""
    return np.asarray(days, dtype="datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _grid_expected(f: np.ndarray, first: int, last, period: int, offset: int, tol: int):
    count = np.floor_divide(f - offset - tol, period) - first + 1
    count = np.maximum(count, 0)
    if last is not None:
        count = np.minimum(count, last - first + 1)
    return count


def _month_range(start: np.ndarray, f: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last month index of the calendar-month windows of a schedule."""
    return _month(start + offset) + 1, _month(start + f + 1) - 1


def _schedules(plan: Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(owner, start day, follow-up days, patient has it) of the first course and rechallenges."""
    clz = plan.clz
    n = plan.pid.size
    idx = np.arange(n)
    re = clz["rechallenge"]
    owner = np.concatenate([idx, idx[re]])
    start = np.concatenate([clz["start"], clz["rechallenge_start"][re]])
    follow = np.concatenate(
        [clz["course_end_off"], (clz["rechallenge_end"] - clz["rechallenge_start"])[re]]
    )
    has = np.concatenate([clz["on"], np.ones(int(re.sum()), dtype=bool)])
    return owner, start, follow, has


def expected_counts(plan: Plan) -> dict[str, np.ndarray]:
    """Windows whose last day is on or before the end of follow-up, over every schedule."""
    n = plan.pid.size
    owner, start, f, has = _schedules(plan)
    per_schedule = {"mon_anc_0": np.where(has, 1, 0)}
    for rule, first, last, period, offset, tol in P.ANC_RULES:
        if rule == P.CALENDAR_MONTH_RULE:
            lo, hi = _month_range(start, f, offset)
            count = np.maximum(hi - lo + 1, 0)
        else:
            count = _grid_expected(f, first, last, period, offset, tol)
        per_schedule[rule] = np.where(has, count, 0)
    return {
        r: np.bincount(owner, weights=c, minlength=n).astype(np.int64)
        for r, c in per_schedule.items()
    }


def observed_counts(plan: Plan, labs: dict) -> dict[str, np.ndarray]:
    """Expected windows that hold at least one ANC row (of the generated, non-noise labs)."""
    n = plan.pid.size
    owner_s, start_s, f_s, has_s = _schedules(plan)
    is_anc = labs["analyte"] == A.ANC
    out = {r: np.zeros(n, dtype=np.int64) for r in RULES}
    # A patient has at most two schedules: the first course (index < n), a rechallenge (>= n).
    for first_course in (True, False):
        chosen = np.flatnonzero(has_s & ((np.arange(owner_s.size) < n) == first_course))
        schedule_of = np.full(n, -1, dtype=np.int64)
        schedule_of[owner_s[chosen]] = chosen
        row = is_anc & (schedule_of[labs["owner"]] >= 0)
        owner = labs["owner"][row]
        k_s = schedule_of[owner]
        t = labs["day"][row] - start_s[k_s]
        f = f_s[k_s]
        base = (t >= -7) & (t <= 0)
        out["mon_anc_0"] += _count_unique(owner[base], np.zeros(base.sum(), dtype=np.int64), n)
        for rule, first, last, period, offset, tol in P.ANC_RULES:
            if rule == P.CALENDAR_MONTH_RULE:
                lo, hi = _month_range(start_s[k_s], f, offset)
                month = _month(labs["day"][row])
                inside = (month >= lo) & (month <= hi)
                out[rule] += _count_unique(owner[inside], month[inside], n)
                continue
            k = np.rint((t - offset) / period).astype(np.int64)
            centre = offset + k * period
            inside = (np.abs(t - centre) <= tol) & (k >= first) & (centre + tol <= f)
            if last is not None:
                inside &= k <= last
            out[rule] += _count_unique(owner[inside], k[inside], n)
    return out


def _count_unique(owner: np.ndarray, window: np.ndarray, n: int) -> np.ndarray:
    if owner.size == 0:
        return np.zeros(n, dtype=np.int64)
    key = np.unique(owner * 100_000 + window)
    return np.bincount(key // 100_000, minlength=n)
