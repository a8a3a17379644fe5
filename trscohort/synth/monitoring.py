"""MON-ANC-0..3 expected and observed window counts, recomputed from the generated ANC rows."""

from __future__ import annotations

import numpy as np

from trscohort.synth import params as P
from trscohort.synth.labs_spec import A
from trscohort.synth.plan import Plan

RULES = ("mon_anc_0", *(r[0] for r in P.ANC_RULES))


def expected_counts(plan: Plan) -> dict[str, np.ndarray]:
    """Windows whose last day (centre + tolerance) is on or before the end of follow-up."""
    clz = plan.clz
    f = clz["course_end_off"]
    out = {"mon_anc_0": np.where(clz["on"], 1, 0)}
    for rule, first, last, period, offset, tol in P.ANC_RULES:
        count = np.floor_divide(f - offset - tol, period) - first + 1
        count = np.maximum(count, 0)
        if last is not None:
            count = np.minimum(count, last - first + 1)
        out[rule] = np.where(clz["on"], count, 0)
    return out


def observed_counts(plan: Plan, labs: dict) -> dict[str, np.ndarray]:
    """Expected windows that hold at least one ANC row (of the generated, non-noise labs)."""
    clz = plan.clz
    n = plan.pid.size
    is_anc = (labs["analyte"] == A.ANC) & clz["on"][labs["owner"]]
    owner = labs["owner"][is_anc]
    t = labs["day"][is_anc] - clz["start"][owner]
    f = clz["course_end_off"][owner]
    out = {}
    base = (t >= -7) & (t <= 0)
    out["mon_anc_0"] = _count_unique(owner[base], np.zeros(base.sum(), dtype=np.int64), n)
    for rule, first, last, period, offset, tol in P.ANC_RULES:
        k = np.rint((t - offset) / period).astype(np.int64)
        centre = offset + k * period
        inside = (np.abs(t - centre) <= tol) & (k >= first) & (centre + tol <= f)
        if last is not None:
            inside &= k <= last
        out[rule] = _count_unique(owner[inside], k[inside], n)
    return out


def _count_unique(owner: np.ndarray, window: np.ndarray, n: int) -> np.ndarray:
    if owner.size == 0:
        return np.zeros(n, dtype=np.int64)
    key = np.unique(owner * 100_000 + window)
    return np.bincount(key // 100_000, minlength=n)
