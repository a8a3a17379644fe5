"""Dispensings, diagnoses and assessments (as numpy columns keyed by patient index)."""

from __future__ import annotations

import numpy as np

from trscohort.synth import params as P
from trscohort.synth.plan import ARCHETYPE_NAMES, TRS_STATUSES, Plan, history_floor
from trscohort.synth.util import expand_periodic, uniform_int

ADH_GOOD, ADH_POOR, ADH_NONE, ADH_LAI = range(4)


# --- dispensings -------------------------------------------------------------------------
def _adherence(rng: np.random.Generator, plan: Plan) -> np.ndarray:
    roles = plan.roles
    kind = np.full(roles.shape, ADH_GOOD)
    kind[roles == P.POOR_ADH] = ADH_POOR
    kind[roles == P.UNKNOWN_ADH] = ADH_NONE
    lai_dispensed = rng.random(roles.shape) < P.LAI_WITH_DISPENSINGS
    kind[plan.is_lai] = np.where(lai_dispensed[plan.is_lai], ADH_LAI, ADH_NONE)
    return kind


def trial_dispensings(rng: np.random.Generator, plan: Plan) -> dict:
    """PDC ≥ 0.93 (good / LAI), ≤ 0.5 (poor) or no dispensings (unknown adherence)."""
    kind = _adherence(rng, plan)
    used = plan.roles != P.NONE
    owner2d = np.broadcast_to(np.arange(plan.pid.size)[:, None], kind.shape)
    end = np.where(plan.roles == P.RESPONDING, plan.end_of_data[:, None], plan.end)
    parts = []
    good = used & ((kind == ADH_GOOD) | (kind == ADH_LAI))
    o, s, e, c = owner2d[good], plan.start[good], end[good], plan.concept[good]
    period = np.where(kind[good] == ADH_LAI, 28, 28 + rng.integers(0, 3, o.size))
    idx, _k, t = expand_periodic(s, e, period)
    parts.append((o[idx], c[idx], t, np.full(idx.size, 28)))
    poor = used & (kind == ADH_POOR)
    o, s, e, c = owner2d[poor], plan.start[poor], end[poor], plan.concept[poor]
    dur = e - s + 1
    count = np.maximum(1, (0.5 * dur / 28).astype(np.int64))
    idx, _k, t = expand_periodic(s, s + (count - 1) * (dur // count), dur // count)
    parts.append((o[idx], c[idx], t, np.full(idx.size, 28)))
    return _stack(parts)


def clozapine_dispensings(plan: Plan, anc_owner: np.ndarray, anc_day: np.ndarray) -> dict:
    """7-day supplies in weeks 1–26, 14-day in weeks 27–52, 28-day after (and rechallenge).

    As under the REMS, the pharmacy dispenses on the day of the ANC taken in the monitoring
    window the dispensing falls due in; a missed window is dispensed on schedule, without one
    (SAF-DISPENSE). `anc_owner`/`anc_day` are the generated ANC rows (patient index, day).
    """
    clz = plan.clz
    on = np.flatnonzero(clz["on"])
    f = clz["course_end_off"][on]
    anc_by_centre = _anc_day_by_window_centre(plan, anc_owner, anc_day)
    parts = []
    for first, last, supply in ((0, 181, 7), (182, 363, 14), (364, None, 28)):
        top = f if last is None else np.minimum(last, f)
        idx, _k, off = expand_periodic(np.full(on.size, first), top, supply)
        o = on[idx]
        due = clz["start"][o] + off
        parts.append(
            (
                o,
                np.full(o.size, "clozapine", dtype=object),
                _on_anc_day(o, off, due, anc_by_centre),
                np.full(o.size, supply),
            )
        )
    r = np.flatnonzero(clz["rechallenge"])
    idx, _k, day = expand_periodic(clz["rechallenge_start"][r], clz["rechallenge_end"][r], 7)
    parts.append((r[idx], np.full(idx.size, "clozapine", dtype=object), day, np.full(idx.size, 7)))
    return _stack(parts)


def _anc_day_by_window_centre(plan: Plan, owner: np.ndarray, day: np.ndarray) -> dict:
    """Sorted keys (patient index, window centre in days from start) -> the first ANC day."""
    clz = plan.clz
    on = clz["on"][owner]
    owner, day = owner[on], day[on]
    t = day - clz["start"][owner]
    centre = np.full(t.size, -1, dtype=np.int64)
    for _rule, first, last, period, offset, tol in P.ANC_RULES:
        k = np.rint((t - offset) / period).astype(np.int64)
        inside = (np.abs(t - (offset + k * period)) <= tol) & (k >= first)
        if last is not None:
            inside &= k <= last
        centre = np.where(inside & (centre < 0), offset + k * period, centre)
    keep = centre >= 0
    key = owner[keep] * 100_000 + centre[keep]
    order = np.lexsort((day[keep], key))
    key, first_day = key[order], day[keep][order]
    unique, at = np.unique(key, return_index=True)
    return {"key": unique, "day": first_day[at]}


def _on_anc_day(owner: np.ndarray, offset: np.ndarray, due: np.ndarray, anc: dict) -> np.ndarray:
    """The ANC day of the window centred on the dispensing's due day, else the due day."""
    key = owner * 100_000 + offset
    pos = np.clip(np.searchsorted(anc["key"], key), 0, max(anc["key"].size - 1, 0))
    found = anc["key"].size > 0
    hit = (anc["key"][pos] == key) if found else np.zeros(key.size, dtype=bool)
    return np.where(hit, anc["day"][pos] if found else due, due)


def _stack(parts) -> dict:
    return {
        "owner": np.concatenate([p[0] for p in parts]).astype(np.int64),
        "concept": np.concatenate([np.asarray(p[1], dtype=object) for p in parts]),
        "day": np.concatenate([p[2] for p in parts]).astype(np.int64),
        "days_supply": np.concatenate([p[3] for p in parts]).astype(np.int64),
    }


# --- diagnoses ---------------------------------------------------------------------------
PRIMARY_DX = {
    "F20": [
        ("F20.0", "Paranoid schizophrenia", 0.6),
        ("F20.3", "Undifferentiated schizophrenia", 0.15),
        ("F20.9", "Schizophrenia, unspecified", 0.15),
        ("F20.1", "Hebephrenic schizophrenia", 0.05),
        ("F20.5", "Residual schizophrenia", 0.05),
    ],
    "F25": [
        ("F25.0", "Schizoaffective disorder, manic type", 0.3),
        ("F25.1", "Schizoaffective disorder, depressive type", 0.4),
        ("F25.9", "Schizoaffective disorder, unspecified", 0.3),
    ],
    "F31": [
        ("F31.2", "Bipolar affective disorder, current episode manic with psychotic symptoms", 0.5),
        ("F31.9", "Bipolar affective disorder, unspecified", 0.5),
    ],
}
PREGNANCY_DX = [
    ("Z33", "Pregnant state, incidental"),
    ("Z34.0", "Supervision of normal first pregnancy"),
    ("Z34.9", "Supervision of normal pregnancy, unspecified"),
    ("O99.3", "Mental disorders and diseases of the nervous system complicating pregnancy"),
]


def _draw_codes(rng, group: str, size: int):
    options = PRIMARY_DX[group]
    w = np.array([o[2] for o in options])
    pick = rng.choice(len(options), size=size, p=w / w.sum())
    codes = np.array([o[0] for o in options], dtype=object)[pick]
    descs = np.array([o[1] for o in options], dtype=object)[pick]
    return codes, descs


def primary_diagnoses(rng: np.random.Generator, plan: Plan) -> dict:
    """F20 (schizophrenia archetypes), F25 or F31 at history start, repeated 0–2 times later."""
    n = plan.pid.size
    group = np.full(n, "F20", dtype=object)
    group[plan.archetype == ARCHETYPE_NAMES.index("schizoaffective")] = "F25"
    group[plan.archetype == ARCHETYPE_NAMES.index("bipolar")] = "F31"
    first = np.maximum(plan.history_start - uniform_int(rng, 0, 60, n), history_floor(plan.birth))
    repeats = rng.integers(0, 3, n)
    owner = np.concatenate([np.arange(n), np.repeat(np.arange(n), repeats)])
    day = np.concatenate(
        [first, uniform_int(rng, plan.history_start[owner[n:]], plan.end_of_data[owner[n:]])]
    )
    codes = np.empty(owner.size, dtype=object)
    descs = np.empty(owner.size, dtype=object)
    for g in PRIMARY_DX:  # three diagnosis groups
        rows = np.flatnonzero(group[owner] == g)
        codes[rows], descs[rows] = _draw_codes(rng, g, rows.size)
    # some people with schizophrenia also carry a schizoaffective code (F20 still counts)
    extra = np.flatnonzero((group == "F20") & (rng.random(n) < 0.05))
    e_codes, e_descs = _draw_codes(rng, "F25", extra.size)
    e_day = uniform_int(rng, plan.history_start[extra], plan.end_of_data[extra])
    return {
        "owner": np.concatenate([owner, extra]),
        "day": np.concatenate([day, e_day]),
        "code": np.concatenate([codes, e_codes]),
        "description": np.concatenate([descs, e_descs]),
    }


def pregnancy_diagnoses(rng: np.random.Generator, plan: Plan) -> dict:
    clz = plan.clz
    preg = np.flatnonzero(clz["pregnancy"])
    lact = np.flatnonzero(clz["lactation"])
    pick = rng.integers(0, len(PREGNANCY_DX), preg.size)
    return {
        "owner": np.concatenate([preg, lact]),
        "day": np.concatenate(
            [
                clz["start"][preg] + clz["pregnancy_off"][preg],
                clz["start"][lact] + clz["lactation_off"][lact],
            ]
        ),
        "code": np.concatenate(
            [
                np.array([c for c, _ in PREGNANCY_DX], dtype=object)[pick],
                np.full(lact.size, "Z39.1", dtype=object),
            ]
        ),
        "description": np.concatenate(
            [
                np.array([d for _, d in PREGNANCY_DX], dtype=object)[pick],
                np.full(lact.size, "Care and examination of lactating mother", dtype=object),
            ]
        ),
    }


# --- assessments -------------------------------------------------------------------------
LOW, HIGH = 0, 1


def _periodic(rng, owner, first, stop, state) -> tuple:
    period = uniform_int(rng, 150, 365, owner.size)
    idx, _k, day = expand_periodic(first, stop, period)
    return owner[idx], day, np.full(idx.size, state)


def assessment_dates(rng: np.random.Generator, plan: Plan) -> dict:
    """(owner, day, high/low) for baseline, trial outcomes, follow-ups and clozapine response."""
    n = plan.pid.size
    roles, clz = plan.roles, plan.clz
    rows = np.arange(n)
    parts = []
    treated = (roles != P.NONE).any(axis=1)
    parts.append((rows, plan.history_start, np.where(treated, HIGH, LOW)))
    owner2d = np.broadcast_to(rows[:, None], roles.shape)
    failed = (roles != P.NONE) & (roles != P.RESPONDING)
    fail_day = plan.end + uniform_int(rng, 3, 20, roles.shape)
    parts.append((owner2d[failed], fail_day[failed], np.full(failed.sum(), HIGH)))
    responding = roles == P.RESPONDING
    o = owner2d[responding]
    first = plan.start[responding] + uniform_int(rng, 42, 90, o.size)
    parts.append(_periodic(rng, o, first, plan.end_of_data[o] - 30, LOW))
    last_end = np.where(failed, plan.end, 0).max(axis=1)
    follow = ~clz["on"] & failed.any(axis=1) & ~responding.any(axis=1)
    o = np.flatnonzero(follow)
    parts.append(
        _periodic(
            rng, o, last_end[o] + uniform_int(rng, 60, 120, o.size), plan.end_of_data[o] - 30, HIGH
        )
    )
    o = np.flatnonzero(~treated)
    parts.append(
        _periodic(
            rng,
            o,
            plan.history_start[o] + uniform_int(rng, 60, 120, o.size),
            plan.end_of_data[o] - 30,
            LOW,
        )
    )
    o = np.flatnonzero(clz["on"])
    parts.append((o, clz["start"][o] - uniform_int(rng, 7, 30, o.size), np.full(o.size, HIGH)))
    parts += clozapine_response_dates(rng, plan)
    return {
        "owner": np.concatenate([p[0] for p in parts]).astype(np.int64),
        "day": np.concatenate([p[1] for p in parts]).astype(np.int64),
        "state": np.concatenate([p[2] for p in parts]).astype(np.int64),
    }


def clozapine_response_dates(rng: np.random.Generator, plan: Plan) -> list[tuple]:
    """Responder (low) / resistant (high) assessment ≥ 100 days after the level date, repeated."""
    from trscohort.synth.plan import RESPONDER

    clz = plan.clz
    o = np.flatnonzero(clz["on"] & (clz["assess_off"] >= 0))
    state = np.where(clz["status"][o] == RESPONDER, LOW, HIGH)
    first = clz["start"][o] + clz["assess_off"][o]
    stop = np.minimum(plan.end_of_data[o] - 30, clz["start"][o] + clz["course_end_off"][o])
    out = []
    for s in (LOW, HIGH):
        m = state == s
        out.append(_periodic(rng, o[m], first[m], np.maximum(stop[m], first[m]), s))
    return out


def assessment_scores(rng: np.random.Generator, plan: Plan, dates: dict) -> dict:
    """PANSS or BPRS per date, plus CGI-S and GAF/SOFAS for the patients who record them."""
    owner, day, state = dates["owner"], dates["day"], dates["state"]
    m = owner.size
    high = state == HIGH
    bprs = plan.instrument_bprs[owner]
    main = np.where(
        bprs,
        np.where(
            high,
            rng.integers(P.BPRS_HIGH[0], P.BPRS_HIGH[1] + 1, m),
            rng.integers(P.BPRS_LOW[0], P.BPRS_LOW[1] + 1, m),
        ),
        np.where(
            high,
            rng.integers(P.PANSS_HIGH[0], P.PANSS_HIGH[1] + 1, m),
            rng.integers(P.PANSS_LOW[0], P.PANSS_LOW[1] + 1, m),
        ),
    )
    functional_ok = plan.archetype[owner] == ARCHETYPE_NAMES.index("functional_ok")
    impaired = high & ~functional_ok
    cgi = np.where(impaired, rng.integers(4, 7, m), rng.integers(1, 4, m))
    cgi = np.where(functional_ok, rng.integers(2, 4, m), cgi)
    gaf = np.where(impaired, rng.integers(25, 46, m), rng.integers(60, 81, m))
    gaf = np.where(functional_ok, rng.integers(56, 71, m), gaf)
    has_cgi = plan.has_cgi[owner]
    gaf_kind = plan.gaf_kind[owner]
    instruments = np.where(bprs, "BPRS", "PANSS").astype(object)
    return {
        "owner": np.concatenate([owner, owner[has_cgi], owner[gaf_kind > 0]]),
        "day": np.concatenate([day, day[has_cgi], day[gaf_kind > 0]]),
        "instrument": np.concatenate(
            [
                instruments,
                np.full(int(has_cgi.sum()), "CGI-S", dtype=object),
                np.where(gaf_kind[gaf_kind > 0] == 1, "GAF", "SOFAS").astype(object),
            ]
        ),
        "score": np.concatenate([main, cgi[has_cgi], gaf[gaf_kind > 0]]).astype(np.int64),
    }


def trs_status_names(plan: Plan) -> np.ndarray:
    return np.array(TRS_STATUSES, dtype=object)[plan.trs_status]
