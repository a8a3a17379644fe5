"""Lab rows (canonical values): clozapine monitoring schedules, levels and routine labs."""

from __future__ import annotations

import numpy as np

from trscohort.synth import params as P
from trscohort.synth.labs_spec import A
from trscohort.synth.plan import Plan
from trscohort.synth.util import expand_periodic, uniform_int

LIPIDS = ((A.CHOL, 150, 240), (A.LDL, 70, 160), (A.HDL, 35, 70), (A.TG, 70, 250))


def _part(owner, day, analyte, value) -> dict:
    owner = np.asarray(owner, dtype=np.int64)
    return {
        "owner": owner,
        "day": np.asarray(day, dtype=np.int64),
        "analyte": np.full(owner.size, analyte, dtype=np.int64),
        "value": np.asarray(value, dtype=float),
    }


def concat_parts(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in ("owner", "day", "analyte", "value")}


def _anc_normal(rng, plan: Plan, owner: np.ndarray) -> np.ndarray:
    ben = plan.ben[owner]
    return np.where(
        ben, rng.uniform(1100, 2500, owner.size), rng.uniform(2000, 7000, owner.size)
    ).round(-1)


def anc_schedule(rng: np.random.Generator, plan: Plan) -> dict:
    """Baseline ANC (days -5..0) and one test per REMS window at its centre ± (tolerance-1)."""
    clz = plan.clz
    on = np.flatnonzero(clz["on"])
    f = clz["course_end_off"][on]
    owners = [on]
    offsets = [-uniform_int(rng, 0, 5, on.size)]
    for _rule, first, last, period, offset, tol in P.ANC_RULES:
        top = f + tol if last is None else np.minimum(offset + last * period, f + tol)
        idx, _k, centre = expand_periodic(np.full(on.size, offset + first * period), top, period)
        owners.append(on[idx])
        offsets.append(centre + uniform_int(rng, -(tol - 1), tol - 1, idx.size))
    owner = np.concatenate(owners)
    off = np.concatenate(offsets)
    keep = off <= clz["course_end_off"][owner]
    keep &= rng.random(owner.size) >= clz["p_miss"][owner]
    # after a severe neutropenia onset the event's own ANC run replaces the schedule
    neu_onset = np.where(clz["stop_event"] == "AE-NEU", clz["stop_event_onset"], 10**9)
    keep &= off < neu_onset[owner]
    owner, off = owner[keep], off[keep]
    return _part(owner, clz["start"][owner] + off, A.ANC, _anc_normal(rng, plan, owner))


def _at_offsets(rng, plan: Plan, offsets: list[int], miss: bool = True):
    """(owner, day offset) for fixed offsets inside each clozapine course."""
    clz = plan.clz
    on = np.flatnonzero(clz["on"])
    owner = np.repeat(on, len(offsets))
    off = np.tile(np.array(offsets, dtype=np.int64), on.size)
    keep = off <= clz["course_end_off"][owner]
    if miss:
        keep &= rng.random(owner.size) >= clz["p_miss"][owner]
    return owner[keep], off[keep]


def _periodic_in_course(plan: Plan, first: int, period: int):
    clz = plan.clz
    on = np.flatnonzero(clz["on"])
    idx, _k, off = expand_periodic(np.full(on.size, first), clz["course_end_off"][on], period)
    return on[idx], off


def clozapine_monitoring(rng: np.random.Generator, plan: Plan) -> dict:
    """MON-CV, MON-MET, MON-LFT schedules and clozapine levels."""
    clz = plan.clz
    c = clz["start"]
    parts = []
    base = -uniform_int(rng, 0, 5, plan.pid.size)  # one baseline day per patient
    # MON-CV-2 troponin + CRP on days 7, 14, 21, 28 (stopped at a myocarditis onset)
    o, off = _at_offsets(rng, plan, [7, 14, 21, 28])
    myo = np.where(clz["stop_event"] == "AE-MYO", clz["stop_event_onset"], 10**9)
    keep = off < myo[o]
    o, off = o[keep], off[keep]
    parts.append(_part(o, c[o] + off, A.TROPONIN, rng.uniform(1, 20, o.size).round()))
    parts.append(_part(o, c[o] + off, A.CRP, rng.uniform(0.5, 15, o.size)))
    # MON-CV-1 baseline ECG, BP, pulse
    o, _ = _at_offsets(rng, plan, [0], miss=False)
    for analyte, lo, hi in ((A.QTC, 380, 450), (A.SBP, 100, 140), (A.PULSE, 60, 100)):
        parts.append(_part(o, c[o] + base[o], analyte, rng.uniform(lo, hi, o.size)))
    # MON-MET-1 weight: baseline, weeks 4, 8, 12, then every 13 weeks
    o1, off1 = _at_offsets(rng, plan, [0, 28, 56, 84])
    o2, off2 = _periodic_in_course(plan, 84 + 91, 91)
    o, off = np.concatenate([o1, o2]), np.concatenate([off1, off2])
    off = np.where(off == 0, base[o], off)
    parts += weight_parts(rng, plan, o, c[o] + off)
    # MON-MET-2 glucose/HbA1c + lipids: baseline, 3 months, yearly; MON-LFT-1 baseline, yearly
    o1, off1 = _at_offsets(rng, plan, [0, 91], miss=False)
    o2, off2 = _periodic_in_course(plan, 365, 365)
    o, off = np.concatenate([o1, o2]), np.concatenate([off1, off2])
    off = np.where(off == 0, base[o], off)
    parts += metabolic_parts(rng, plan, o, c[o] + off, lipids_share=1.0)
    lft = (off <= 0) | (off >= 365)
    o, day = o[lft], c[o[lft]] + off[lft]
    parts.append(_part(o, day, A.ALT, rng.uniform(10, 36, o.size)))
    parts.append(_part(o, day, A.AST, rng.uniform(12, 35, o.size)))
    parts.append(_part(o, day, A.BILIRUBIN, rng.uniform(0.3, 1.0, o.size)))
    parts.append(level_part(plan))
    return concat_parts(parts)


def level_part(plan: Plan) -> dict:
    clz = plan.clz
    days, values = clz["level_day"], clz["level_value"]
    has = clz["on"][:, None] & (days >= 0)
    owner = np.broadcast_to(np.arange(days.shape[0])[:, None], days.shape)[has]
    return _part(owner, clz["start"][owner] + days[has], A.CLOZAPINE, values[has].round())


def weight_parts(rng, plan: Plan, owner, day) -> list[dict]:
    """Weight (kg) and, for half of the patients, BMI on the same day."""
    base_weight = 55 + (plan.pid % 65)  # stable per patient, no extra draw
    weight = base_weight[owner] + rng.normal(0, 2, owner.size)
    bmi_patient = (plan.pid % 2) == 0
    bmi = bmi_patient[owner]
    return [
        _part(owner, day, A.WEIGHT, weight),
        _part(owner[bmi], day[bmi], A.BMI, weight[bmi] / 2.9),
    ]


def metabolic_parts(rng, plan: Plan, owner, day, lipids_share: float) -> list[dict]:
    """HbA1c (60 % of patients) or fasting glucose, and lipids for `lipids_share` of dates."""
    uses_hba1c = (plan.pid % 5) < 3
    hb = uses_hba1c[owner]
    parts = [
        _part(owner[hb], day[hb], A.HBA1C, rng.uniform(31, 42, int(hb.sum()))),
        _part(owner[~hb], day[~hb], A.GLUCOSE, rng.uniform(70, 99, int((~hb).sum()))),
    ]
    lipid = rng.random(owner.size) < lipids_share
    for analyte, lo, hi in LIPIDS:
        parts.append(
            _part(owner[lipid], day[lipid], analyte, rng.uniform(lo, hi, int(lipid.sum())))
        )
    return parts


def routine_labs(rng: np.random.Generator, plan: Plan) -> dict:
    """Yearly weight, glucose/HbA1c and (half the years) lipids outside any clozapine course."""
    clz = plan.clz
    n = plan.pid.size
    stop = np.where(clz["on"], clz["start"] - 30, plan.end_of_data)
    first = plan.history_start + uniform_int(rng, 0, 200, n)
    period = uniform_int(rng, 330, 400, n)
    owner, _k, day = expand_periodic(first, stop, period)
    keep = rng.random(owner.size) < 0.8
    owner, day = owner[keep], day[keep]
    return concat_parts(
        weight_parts(rng, plan, owner, day)[:1]
        + metabolic_parts(rng, plan, owner, day, lipids_share=0.5)
    )


def rechallenge_labs(rng: np.random.Generator, plan: Plan) -> dict:
    clz = plan.clz
    o = np.flatnonzero(clz["rechallenge"])
    idx, _k, day = expand_periodic(clz["rechallenge_start"][o] - 1, clz["rechallenge_end"][o], 7)
    owner = o[idx]
    return _part(owner, day, A.ANC, _anc_normal(rng, plan, owner))


def as_of_row(plan: Plan) -> dict:
    """One weight on exactly as_of for the first living patient of the chunk (latest date)."""
    alive = np.flatnonzero(~plan.death)[:1]
    return _part(alive, np.full(alive.size, plan.as_of), A.WEIGHT, np.full(alive.size, 72.5))
