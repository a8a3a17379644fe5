"""Clozapine course plan: intended status, titration, levels, anchors (offsets from day 0)."""

from __future__ import annotations

import numpy as np

from trscohort.synth import params as P
from trscohort.synth.plan import (
    BASIS_DOSE,
    BASIS_LEVELS,
    BASIS_NONE,
    IN_PROGRESS,
    INADEQUATE,
    RESISTANT,
    RESPONDER,
    TITRATING,
    Plan,
)
from trscohort.synth.util import nudge_off_edges, uniform_int, window_edge_days

MAX_OFFSET_DAYS = 20_000  # longest possible clozapine follow-up, in days


def draw_titration(rng: np.random.Generator, n: int) -> dict:
    """12.5 mg on day 0, +37.5 or +50 mg per step, target 300–450 mg reached by day 14."""
    target = 300.0 + 25.0 * rng.integers(0, 7, n)
    inc = np.where(rng.random(n) < 0.5, 37.5, 50.0)
    steps = np.ceil((target - 12.5) / inc).astype(np.int64)  # steps after the first dose
    hold = np.where(steps > 7, 1, rng.integers(1, 3, n))  # each dose held 1–2 days
    return {"target": target, "inc": inc, "steps": steps, "hold": hold, "m_day": steps * hold}


def draw_status(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Intended clozapine status (1..5) and, for level-reaching statuses, the level basis."""
    shares = np.array(list(P.CLOZAPINE_STATUS_SHARES.values()))
    status = 1 + rng.choice(shares.size, size=n, p=shares / shares.sum())
    reaches = np.isin(status, (IN_PROGRESS, RESPONDER, RESISTANT))
    basis = np.where(rng.random(n) < P.DOSE_500_SHARE, BASIS_DOSE, BASIS_LEVELS)
    return status, np.where(reaches, basis, BASIS_NONE)


def draw_levels(rng: np.random.Generator, status, basis, m_day) -> dict:
    """Two high trough levels (levels basis), low levels (inadequate), or a dose ≥ 550 day."""
    n = status.size
    day1 = m_day + uniform_int(rng, 10, 20, n)  # ≥ 10 days after the last dose change
    day2 = day1 + uniform_int(rng, 10, 28, n)  # ≥ 10 days apart
    high = rng.uniform(*P.LEVEL_HIGH, (n, 2))
    low = rng.uniform(*P.LEVEL_LOW, (n, 2))
    low_day1 = m_day + uniform_int(rng, 20, 60, n)
    low_day2 = low_day1 + uniform_int(rng, 30, 120, n)
    low_count = rng.choice(3, size=n, p=[0.3, 0.4, 0.3])
    low_status = status == INADEQUATE  # callers pass 0 for courses stopped early
    days = np.full((n, 2), -1, dtype=np.int64)
    values = np.zeros((n, 2))
    by_levels = basis == BASIS_LEVELS
    days[by_levels] = np.stack([day1, day2], axis=1)[by_levels]
    values[by_levels] = high[by_levels]
    low_days = np.stack([low_day1, low_day2], axis=1)
    low_days[low_count < 2, 1] = -1
    low_days[low_count < 1, 0] = -1
    days[low_status] = low_days[low_status]
    values[low_status] = low[low_status]
    dose500_day = m_day + uniform_int(rng, 10, 25, n)
    tl_off = np.where(by_levels, day2, np.where(basis == BASIS_DOSE, dose500_day, -1))
    return {"level_day": days, "level_value": values, "dose500_day": dose500_day, "tl_off": tl_off}


def place_start(rng, status, stop_plan, tl_off, assess_off, earliest, as_of, edge):
    """Clozapine start day per status, nudged so follow-up never ends at an ANC window edge."""
    n = status.size
    start = np.zeros(n, dtype=np.int64)
    start = np.where(status == TITRATING, as_of - uniform_int(rng, 4, 8, n), start)
    start = np.where(status == IN_PROGRESS, as_of - uniform_int(rng, 26, 64, n) - tl_off, start)
    late = np.select(
        [status == INADEQUATE, np.isin(status, (RESPONDER, RESISTANT))],
        [np.where(stop_plan > 0, as_of - 150, as_of - 240), as_of - assess_off - 30],
        as_of,
    )
    free = np.isin(status, (INADEQUATE, RESPONDER, RESISTANT))
    start = np.where(free, uniform_int(rng, earliest, np.maximum(earliest, late)), start)
    if np.any(free & (earliest > late)):
        raise AssertionError("clozapine start window is empty")
    ends_at_as_of = stop_plan == 0
    f = as_of - start
    shift, _ok = nudge_off_edges(f, f - 3, f + 3, edge)
    return np.where(ends_at_as_of & (status != TITRATING), start - shift, start)


def plan_clozapine(rng: np.random.Generator, plan: Plan, on: np.ndarray, earliest) -> dict:
    """Per-patient clozapine arrays (defined for everyone; meaningful where `on`)."""
    n = on.size
    status, basis = draw_status(rng, n)
    status = np.where(on, status, 0)
    basis = np.where(on, basis, BASIS_NONE)
    titration = draw_titration(rng, n)
    inadequate_stop = (status == INADEQUATE) & (rng.random(n) < 0.5)
    levels = draw_levels(rng, np.where(inadequate_stop, 0, status), basis, titration["m_day"])
    edge = window_edge_days(MAX_OFFSET_DAYS)
    stop_off = uniform_int(rng, 10, 50, n)
    shift, _ok = nudge_off_edges(stop_off, np.full(n, 8), np.full(n, 55), edge)
    stop_plan = np.where(inadequate_stop, stop_off + shift, 0)
    assess_off = levels["tl_off"] + P.ADEQUATE_TRIAL_DAYS + uniform_int(rng, 10, 60, n)
    gap_before = uniform_int(rng, *P.GAP_BEFORE_CLOZAPINE, n)
    start = place_start(
        rng,
        status,
        stop_plan,
        levels["tl_off"],
        assess_off,
        earliest + gap_before,
        plan.as_of,
        edge,
    )
    low_dose = status == INADEQUATE
    p_miss = np.where(
        rng.random(n) < P.FULLY_ADHERENT_SHARE, 0.0, rng.uniform(*P.MISS_PROBABILITY, n)
    )
    return {
        "on": on,
        "status": status,
        "basis": basis,
        **titration,
        **levels,
        "low_dose": low_dose,
        "dose500_mg": 25.0 * np.round(rng.uniform(*P.DOSE_500_MG, n) / 25.0),
        "start": np.where(on, start, 0),
        "gap_before": gap_before,
        "assess_off": np.where(np.isin(status, (RESPONDER, RESISTANT)), assess_off, -1),
        "course_end_off": np.where(stop_plan > 0, stop_plan, plan.as_of - start),
        "planned_stop": stop_plan > 0,
        "edge": edge,
        "p_miss": p_miss,
    }


def draw_safety_scenarios(rng: np.random.Generator, plan: Plan) -> None:
    """SAF-* scenarios on clozapine patients, placed inside the final course."""
    clz = plan.clz
    n = plan.pid.size
    on, f = clz["on"], clz["course_end_off"]
    n_on = max(1, int(on.sum()))

    def chosen(eligible: np.ndarray, share_of_on: float) -> np.ndarray:
        p = min(1.0, share_of_on * n_on / max(1, int(eligible.sum())))
        return eligible & (rng.random(n) < p)

    assess = clz["assess_off"]
    room = (assess >= 0) & (assess + 14 <= f - 30)
    high = chosen(room, P.DOSE_GT_600_SHARE)
    clz["dose_gt_600"] = high
    clz["high_dose_day"] = np.minimum(assess + uniform_int(rng, 14, 60, n), f - 30)
    clz["high_dose_mg"] = 50.0 * np.round(rng.uniform(*P.DOSE_GT_600_MG, n) / 50.0)
    clz["valproate"] = high & (rng.random(n) < P.VALPROATE_SHARE_OF_HIGH_DOSE)
    clz["cyp1a2"] = chosen(on & (f >= 50), P.CYP1A2_SHARE)
    clz["benzodiazepine"] = chosen(on & (f >= 16), P.BENZODIAZEPINE_SHARE)
    clz["laxative"] = chosen(on & (f >= 2), P.LAXATIVE_SHARE)
    # pregnancy: a female aged 18–45 on the diagnosis day, while on clozapine
    preg_off = uniform_int(rng, 30, np.maximum(30, f - 10))
    age = (clz["start"] + preg_off - plan.birth) / 365.25
    eligible = on & plan.female & (f >= 60) & (age >= 18.5) & (age <= 44.5)
    preg = eligible & (rng.random(n) < P.PREGNANCY_SHARE_OF_ELIGIBLE)
    lact_off = preg_off + uniform_int(rng, 200, 280, n)
    clz["pregnancy"] = preg
    clz["pregnancy_off"] = preg_off
    clz["lactation"] = preg & (rng.random(n) < P.LACTATION_SHARE_OF_PREGNANT) & (lact_off <= f)
    clz["lactation_off"] = lact_off
