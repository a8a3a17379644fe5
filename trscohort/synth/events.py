"""Adverse events on clozapine: piecewise-constant Poisson hazards on person-time, plus evidence.

Stopping events (AE-NEU, AE-MYO) are drawn first: they end the course 1–2 days after onset and
may change the intended clozapine status. Other events are then drawn on the final follow-up.
"""

from __future__ import annotations

import numpy as np

from trscohort.synth import params as P
from trscohort.synth.labs_spec import A
from trscohort.synth.plan import INADEQUATE, RESISTANT, RESPONDER, Plan
from trscohort.synth.util import nudge_off_edges, uniform_int

EVENT_IDS = list(P.HAZARDS_PER_1000PY)
DAYS_PER_1000PY = 365_250.0

# diagnosis evidence: event -> [(code, description), ...]
DX_CODES = {
    "AE-NEU": [("D70", "Agranulocytosis")],
    "AE-MYO": [("I40.9", "Acute myocarditis, unspecified"), ("I40.8", "Other acute myocarditis")],
    "AE-CMP": [("I42.7", "Cardiomyopathy due to drugs"), ("I42.9", "Cardiomyopathy, unspecified")],
    "AE-SEIZ": [("G40.9", "Epilepsy, unspecified"), ("R56.8", "Other convulsions")],
    "AE-GI-SEVERE": [("K56.0", "Paralytic ileus"), ("K56.7", "Ileus, unspecified")],
    "AE-GI": [("K59.0", "Constipation"), ("K59.00", "Constipation, unspecified")],
    "AE-MET": [("E11.9", "Type 2 diabetes mellitus without complications")],
    "AE-NMS": [("G21.0", "Neuroleptic malignant syndrome")],
}


def poisson_events(rng, pieces, follow_end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All event times (owner, day offset) of a piecewise-constant hazard on [0, follow_end]."""
    owners, times = [], []
    for low, high, rate in pieces:  # a few pieces per event type
        top = follow_end if high is None else np.minimum(high, follow_end)
        length = np.maximum(0, top - low).astype(float)
        counts = rng.poisson(rate * length / DAYS_PER_1000PY)
        owner = np.repeat(np.arange(follow_end.size), counts)
        owners.append(owner)
        times.append(low + rng.random(owner.size) * length[owner])
    owner = np.concatenate(owners)
    time = np.floor(np.concatenate(times)).astype(np.int64)
    order = np.lexsort((time, owner))
    return owner[order], time[order]


def first_per_owner(owner, time, n) -> np.ndarray:
    first = np.full(n, -1, dtype=np.int64)
    is_first = np.ones(owner.size, dtype=bool)
    is_first[1:] = owner[1:] != owner[:-1]
    first[owner[is_first]] = time[is_first]
    return first


def thin_recurrent(owner, time) -> np.ndarray:
    """Keep an event only if the previous one of the same patient is ≥ 180 days earlier."""
    keep = np.ones(owner.size, dtype=bool)
    same = owner[1:] == owner[:-1]
    keep[1:] = ~same | (time[1:] - time[:-1] >= P.RECURRENT_MIN_SEPARATION_DAYS)
    return keep


def apply_stopping_events(rng: np.random.Generator, plan: Plan) -> dict:
    """Draw AE-NEU / AE-MYO, stop clozapine 1–2 days later, and update statuses."""
    clz = plan.clz
    n = plan.pid.size
    follow = np.where(clz["on"], clz["course_end_off"], 0)
    onset = {}
    for event in P.STOPPING_EVENTS:
        owner, time = poisson_events(rng, P.HAZARDS_PER_1000PY[event], follow)
        onset[event] = first_per_owner(owner, np.maximum(time, 1), n)
    neu, myo = onset["AE-NEU"], onset["AE-MYO"]
    is_myo = (myo >= 0) & ((neu < 0) | (myo < neu))
    first = np.where(is_myo, myo, neu)
    has = first >= 0
    lag = uniform_int(rng, 1, 2, n)
    low = np.where(is_myo, 8, 1) + lag
    high = np.where(is_myo, np.minimum(55 + lag, follow), follow)
    shift, ok = nudge_off_edges(first + lag, low, high, clz["edge"])
    has &= ok
    stop_off = first + lag + shift
    clz["stop_event"] = np.where(has, np.where(is_myo, "AE-MYO", "AE-NEU"), "")
    clz["stop_event_onset"] = np.where(has, stop_off - lag, -1)
    kept = np.isin(clz["status"], (RESPONDER, RESISTANT)) & (clz["assess_off"] < stop_off)
    late = has & (stop_off > 60) & ~kept
    clz["status"] = np.where(has & ~kept, INADEQUATE, clz["status"])
    clz["course_end_off"] = np.where(has, stop_off, clz["course_end_off"])
    clz["stopped_by_event"] = has
    return {"stopped_after_day_60_before_adequate": int(late.sum())}


def finish_course(plan: Plan) -> None:
    """Derived clozapine facts after stops: stop flag, therapeutic-level day, assessments."""
    clz = plan.clz
    f = clz["course_end_off"]
    clz["stopped"] = clz["on"] & (clz["planned_stop"] | clz["stopped_by_event"] | plan.death)
    reached = clz["on"] & (clz["tl_off"] >= 0) & (clz["tl_off"] <= f)
    clz["tl_reached"] = reached
    clz["assess_off"] = np.where(clz["assess_off"] <= f, clz["assess_off"], -1)
    clz["level_day"] = np.where(clz["level_day"] <= f[:, None], clz["level_day"], -1)


def draw_other_events(rng: np.random.Generator, plan: Plan) -> dict:
    """Non-stopping events on the final follow-up (day 1 .. follow-up end)."""
    clz = plan.clz
    follow = np.where(clz["on"], clz["course_end_off"], 0)
    owners, days, kinds = [], [], []
    for event in EVENT_IDS:
        if event in P.STOPPING_EVENTS:
            continue
        owner, time = poisson_events(rng, P.HAZARDS_PER_1000PY[event], follow)
        time = np.maximum(time, 1)
        if event in P.FIRST_ONLY_EVENTS:
            keep = np.ones(owner.size, dtype=bool)
            keep[1:] = owner[1:] != owner[:-1]
        else:
            keep = thin_recurrent(owner, time)
        owners.append(owner[keep])
        days.append(clz["start"][owner[keep]] + time[keep])
        kinds.append(np.full(keep.sum(), EVENT_IDS.index(event)))
    stop = clz["stop_event"] != ""
    owners.append(np.flatnonzero(stop))
    days.append(clz["start"][stop] + clz["stop_event_onset"][stop])
    kinds.append(np.array([EVENT_IDS.index(e) for e in clz["stop_event"][stop]], dtype=np.int64))
    owner = np.concatenate(owners)
    return {
        "owner": owner,
        "day": np.concatenate(days),
        "kind": np.concatenate(kinds).astype(np.int64),
        "on_clozapine": np.ones(owner.size, dtype=bool),
    }


def draw_pre_clozapine_events(rng: np.random.Generator, plan: Plan, n_on: int) -> dict:
    """~5 % extra events while NOT on clozapine (before its start, or never on it)."""
    clz = plan.clz
    n = plan.pid.size
    low = plan.history_start + 1
    high = np.where(clz["on"], clz["start"] - 200, plan.end_of_data - 1)
    eligible = np.flatnonzero(high >= low + 30)
    count = min(eligible.size, int(round(P.PRE_CLOZAPINE_EVENT_SHARE * n_on)))
    owner = np.sort(rng.choice(eligible, size=count, replace=False)) if count else eligible[:0]
    kinds = np.array([EVENT_IDS.index(e) for e in P.PRE_CLOZAPINE_EVENT_TYPES])
    del n
    return {
        "owner": owner,
        "day": uniform_int(rng, low[owner], high[owner]) if count else owner,
        "kind": kinds[rng.integers(0, kinds.size, owner.size)],
        "on_clozapine": np.zeros(owner.size, dtype=bool),
    }


def merge_events(*parts: dict) -> dict:
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((out["kind"], out["day"], out["owner"]))
    return {k: v[order] for k, v in out.items()}


def evidence(rng: np.random.Generator, plan: Plan, events: dict) -> tuple[dict, dict, np.ndarray]:
    """Lab rows, diagnosis rows and the `source` of every event."""
    n_ev = events["owner"].size
    kind = np.array(EVENT_IDS)[events["kind"]]
    owner, day = events["owner"], events["day"]
    end = plan.end_of_data[owner]
    u = rng.random(n_ev)
    has_lab = np.isin(kind, ("AE-NEU", "AE-MYO", "AE-HEP", "AE-QT")) | (
        (kind == "AE-MET") & (u < 0.6)
    )
    has_dx = np.isin(kind, ("AE-CMP", "AE-SEIZ", "AE-GI", "AE-NMS"))
    has_dx |= (kind == "AE-NEU") & (u < 0.5)
    has_dx |= (kind == "AE-MYO") & (u < 0.7)
    has_dx |= (kind == "AE-MET") & ((u < 0.3) | (u >= 0.6))
    source = np.where(has_lab & has_dx, "both", np.where(has_lab, "lab", "diagnosis"))
    labs = _event_labs(rng, kind, owner, day, end, has_lab)
    dx = _event_diagnoses(rng, kind, owner, day, end, has_dx, source)
    return labs, dx, source


def _event_labs(rng, kind, owner, day, end, has_lab) -> dict:
    parts = []

    def add(mask, offset, analyte, values):
        d = day[mask] + offset
        ok = d <= end[mask]
        parts.append((owner[mask][ok], d[ok], np.full(ok.sum(), analyte), values[ok]))

    neu = has_lab & (kind == "AE-NEU")
    count = int(neu.sum())
    add(neu, 0, A.ANC, rng.uniform(100, 450, count))  # the < 500 /µL onset value
    for offset, (lo, hi) in ((1, (200, 700)), (3, (300, 900)), (7, (800, 1400))):
        add(neu, offset, A.ANC, rng.uniform(lo, hi, count))
    myo = has_lab & (kind == "AE-MYO")
    add(myo, 0, A.TROPONIN, rng.uniform(200, 5000, int(myo.sum())))
    add(myo, 0, A.CRP, rng.uniform(110, 250, int(myo.sum())))
    hep = has_lab & (kind == "AE-HEP")
    add(hep, 0, A.ALT, 40 * rng.uniform(3.5, 8, int(hep.sum())))
    qt = has_lab & (kind == "AE-QT")
    add(qt, 0, A.QTC, rng.uniform(520, 580, int(qt.sum())))
    met = has_lab & (kind == "AE-MET")
    add(met, 0, A.HBA1C, rng.uniform(52, 80, int(met.sum())))
    return {
        "owner": np.concatenate([p[0] for p in parts]),
        "day": np.concatenate([p[1] for p in parts]),
        "analyte": np.concatenate([p[2] for p in parts]).astype(np.int64),
        "value": np.concatenate([p[3] for p in parts]),
    }


def _event_diagnoses(rng, kind, owner, day, end, has_dx, source) -> dict:
    """Diagnosis rows; lab-first events get their code 0–3 days (AE-MET: 0–14) later."""
    n_ev = kind.size
    severe = (kind == "AE-GI") & (rng.random(n_ev) < P.GI_SEVERE_FRACTION)
    key = np.where(severe, "AE-GI-SEVERE", kind)
    lag = np.where(kind == "AE-MET", uniform_int(rng, 0, 14, n_ev), uniform_int(rng, 0, 3, n_ev))
    lag = np.where(source == "both", lag, 0)
    dx_day = np.minimum(day + lag, end)
    owners, days, codes, descs = [], [], [], []
    for event, options in DX_CODES.items():  # loop over event types
        mask = has_dx & (key == event)
        pick = rng.integers(0, len(options), int(mask.sum()))
        owners.append(owner[mask])
        days.append(dx_day[mask])
        codes.append(np.array([c for c, _ in options], dtype=object)[pick])
        descs.append(np.array([d for _, d in options], dtype=object)[pick])
    # seizures are sometimes recorded twice within a few days (same episode)
    again = has_dx & (kind == "AE-SEIZ") & (rng.random(n_ev) < 0.3)
    again_day = np.minimum(day + uniform_int(rng, 1, 4, n_ev), end)
    owners.append(owner[again])
    days.append(again_day[again])
    codes.append(np.full(again.sum(), "R56.8", dtype=object))
    descs.append(np.full(again.sum(), "Other convulsions", dtype=object))
    return {
        "owner": np.concatenate(owners),
        "day": np.concatenate(days),
        "code": np.concatenate(codes),
        "description": np.concatenate(descs),
    }


def draw_rechallenge(rng: np.random.Generator, plan: Plan) -> None:
    """~10 % of AE-NEU patients restart clozapine later for a short course (SAF-REC)."""
    clz = plan.clz
    n = plan.pid.size
    candidate = (clz["stop_event"] == "AE-NEU") & (rng.random(n) < P.RECHALLENGE_SHARE)
    restart = clz["start"] + clz["course_end_off"] + uniform_int(rng, 90, 300, n)
    length = uniform_int(rng, 14, 40, n)
    ok = candidate & (restart + length <= plan.end_of_data - 1)
    clz["rechallenge"] = ok
    clz["rechallenge_start"] = np.where(ok, restart, -1)
    clz["rechallenge_end"] = np.where(ok, restart + length - 1, -1)
