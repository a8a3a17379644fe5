"""Prescription rows: antipsychotic trials, the clozapine course, and co-medications.

Rows are built as numpy columns: owner (patient index), concept, start, end (-1 = still
active at as_of), dose, lai. Ends are inclusive.
"""

from __future__ import annotations

import numpy as np

from trscohort.synth import params as P
from trscohort.synth.plan import BASIS_DOSE, Plan
from trscohort.synth.util import expand_periodic, uniform_int

COLUMNS = ("owner", "concept", "start", "end", "dose", "lai")


def _rows(owner, concept, start, end, dose, lai) -> dict:
    n = np.asarray(owner).size
    return {
        "owner": np.asarray(owner, dtype=np.int64),
        "concept": np.broadcast_to(np.asarray(concept, dtype=object), (n,)).copy(),
        "start": np.asarray(start, dtype=np.int64),
        "end": np.asarray(end, dtype=np.int64),
        "dose": np.broadcast_to(np.asarray(dose, dtype=float), (n,)).copy(),
        "lai": np.broadcast_to(np.asarray(lai, dtype=bool), (n,)).copy(),
    }


def concat_rows(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in COLUMNS}


def _active_end(plan: Plan, owner: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Rows reaching the end of data stay open (empty end_date) unless the patient died."""
    open_row = (end >= plan.end_of_data[owner]) & ~plan.death[owner]
    return np.where(open_row, -1, np.minimum(end, plan.end_of_data[owner]))


def trial_rows(rng: np.random.Generator, plan: Plan) -> dict:
    """Finished trials: 1–3 rows with 0–3 day gaps; responding trials: renewals to the end."""
    roles = plan.roles
    owner2d = np.broadcast_to(np.arange(roles.shape[0])[:, None], roles.shape)
    finished = (roles != P.NONE) & (roles != P.RESPONDING)
    o, s, e = owner2d[finished], plan.start[finished], plan.end[finished]
    conc, dose, lai = plan.concept[finished], plan.dose[finished], plan.is_lai[finished]
    dur = e - s + 1
    n_rows = np.where(dur < 40, 1, rng.integers(1, 4, o.size))
    cut1 = s + (dur * rng.uniform(0.25, 0.45, o.size)).astype(np.int64)
    cut2 = s + (dur * rng.uniform(0.55, 0.80, o.size)).astype(np.int64)
    gaps = rng.integers(0, P.WITHIN_TRIAL_GAP_MAX + 1, (o.size, 2))
    bounds = [
        (n_rows >= 1, s, np.where(n_rows == 1, e, cut1 - 1)),
        (n_rows >= 2, cut1 + gaps[:, 0], np.where(n_rows == 2, e, cut2 - 1)),
        (n_rows >= 3, cut2 + gaps[:, 1], e),
    ]
    parts = [_rows(o[m], conc[m], a[m], b[m], dose[m], lai[m]) for m, a, b in bounds]
    ongoing = roles == P.RESPONDING
    o, s = owner2d[ongoing], plan.start[ongoing]
    stop = plan.end_of_data[o]
    period = uniform_int(rng, 90, 180, o.size)
    idx, _k, t = expand_periodic(s, stop, period)
    end = _active_end(plan, o[idx], t + period[idx] - 1)
    conc, dose, lai = plan.concept[ongoing], plan.dose[ongoing], plan.is_lai[ongoing]
    parts.append(_rows(o[idx], conc[idx], t, end, dose[idx], lai[idx]))
    return concat_rows(parts)


def _titration_rows(plan: Plan, on: np.ndarray) -> dict:
    clz = plan.clz
    steps = clz["steps"][on]
    idx = np.repeat(np.arange(on.size), steps)
    step = np.arange(idx.size) - np.repeat(np.cumsum(steps) - steps, steps)
    owner = on[idx]
    hold = clz["hold"][owner]
    dose = np.minimum(12.5 + step * clz["inc"][owner], clz["target"][owner])
    start = clz["start"][owner] + step * hold
    return _rows(owner, "clozapine", start, start + hold - 1, dose, False)


def maintenance_segments(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """Up to three dose segments per patient: target, 550–575 (dose_500), > 600 (scenario)."""
    clz = plan.clz
    n = plan.pid.size
    seg_start = np.full((n, 3), -1, dtype=np.int64)
    seg_dose = np.zeros((n, 3))
    seg_start[:, 0] = clz["m_day"]
    seg_dose[:, 0] = clz["target"]
    by_dose = clz["basis"] == BASIS_DOSE
    seg_start[by_dose, 1] = clz["dose500_day"][by_dose]
    seg_dose[by_dose, 1] = clz["dose500_mg"][by_dose]
    high = clz["dose_gt_600"]
    seg_start[high, 2] = clz["high_dose_day"][high]
    seg_dose[high, 2] = clz["high_dose_mg"][high]
    return seg_start, seg_dose


def clozapine_rows(rng: np.random.Generator, plan: Plan) -> dict:
    """Titration steps, then renewals of each maintenance segment, cut at the course end."""
    clz = plan.clz
    on = np.flatnonzero(clz["on"])
    parts = [_titration_rows(plan, on)]
    seg_start, seg_dose = maintenance_segments(plan)
    f = clz["course_end_off"]
    for k in range(3):  # three dose segments
        later = np.where(seg_start[:, k + 1 :] >= 0, seg_start[:, k + 1 :], 10**9)
        seg_end = np.minimum(later.min(axis=1, initial=10**9) - 1, f)
        has = clz["on"] & (seg_start[:, k] >= 0)
        o = np.flatnonzero(has)
        period = uniform_int(rng, 60, 180, o.size)
        idx, _k, t = expand_periodic(seg_start[o, k], seg_end[o], period)
        owner = o[idx]
        end = np.minimum(t + period[idx] - 1, seg_end[owner])
        c = clz["start"][owner]
        parts.append(_rows(owner, "clozapine", c + t, c + end, seg_dose[owner, k], False))
    rows = concat_rows(parts)
    # cut at the course end; the row reaching it stays open while the course is ongoing
    course_end = clz["start"][rows["owner"]] + f[rows["owner"]]
    keep = rows["start"] <= course_end
    rows = {k: v[keep] for k, v in rows.items()}
    course_end = course_end[keep]
    ongoing = ~clz["stopped"][rows["owner"]]
    capped = np.minimum(rows["end"], course_end)
    rows["end"] = np.where(ongoing & (capped >= course_end), -1, capped)
    return concat_rows([rows, rechallenge_rows(plan)])


def rechallenge_rows(plan: Plan) -> dict:
    clz = plan.clz
    o = np.flatnonzero(clz["rechallenge"])
    s, e = clz["rechallenge_start"][o], clz["rechallenge_end"][o]
    return concat_rows(
        [
            _rows(o, "clozapine", s, s + 2, 12.5, False),
            _rows(o, "clozapine", s + 3, e, 100.0, False),
        ]
    )


def _course_rows(plan: Plan, mask, concept, start_off, end_off, dose) -> dict:
    """Rows for `mask` patients, placed by day offsets inside the clozapine course."""
    clz = plan.clz
    o = np.flatnonzero(mask)
    c, f = clz["start"][o], clz["course_end_off"][o]
    end = c + np.minimum(end_off[o], f)
    still_on = ~clz["stopped"][o] & (end_off[o] >= f)
    return _rows(o, concept[o], c + start_off[o], np.where(still_on, -1, end), dose[o], False)


def comedication_rows(rng: np.random.Generator, plan: Plan) -> dict:
    """Valproate, CYP1A2 inhibitors, benzodiazepines and laxatives during clozapine."""
    clz = plan.clz
    f = clz["course_end_off"]
    n = f.size
    to_end = np.full(n, 10**9)  # until the course ends (open while it continues)
    valproate_start = clz["high_dose_day"] - uniform_int(rng, 0, 14, n)
    parts = [
        _course_rows(
            plan,
            clz["valproate"],
            np.full(n, "valproate", dtype=object),
            valproate_start,
            to_end,
            np.full(n, 1000.0),
        )
    ]
    fluvox = rng.random(n) < 0.5
    cyp_concept = np.where(fluvox, "fluvoxamine", "ciprofloxacin").astype(object)
    cyp_start = uniform_int(rng, 30, np.maximum(30, f - 20))
    cyp_len = np.where(fluvox, uniform_int(rng, 60, 180, n), uniform_int(rng, 7, 14, n))
    cyp_dose = np.where(fluvox, 25.0 * rng.integers(2, 5, n), 1000.0)
    parts.append(
        _course_rows(plan, clz["cyp1a2"], cyp_concept, cyp_start, cyp_start + cyp_len - 1, cyp_dose)
    )
    bzd = rng.integers(0, 3, n)
    bzd_concept = np.array(["lorazepam", "diazepam", "clonazepam"], dtype=object)[bzd]
    bzd_dose = np.array([2.0, 10.0, 1.0])[bzd]
    bzd_start = uniform_int(rng, 1, np.maximum(1, f - 15))
    bzd_end = bzd_start + uniform_int(rng, 14, 90, n)
    parts.append(
        _course_rows(plan, clz["benzodiazepine"], bzd_concept, bzd_start, bzd_end, bzd_dose)
    )
    lax = rng.integers(0, 4, n)
    lax_concept = np.array(["docusate", "senna", "macrogol", "lactulose"], dtype=object)[lax]
    lax_dose = np.array([200.0, 15.0, 13125.0, 10000.0])[lax]
    lax_start = uniform_int(rng, 1, np.maximum(1, f - 1))
    parts.append(_course_rows(plan, clz["laxative"], lax_concept, lax_start, to_end, lax_dose))
    return concat_rows(parts)


def unknown_drug_rows(rng: np.random.Generator, plan: Plan) -> dict:
    """Noise: a few prescriptions with names in no reference list (non-clozapine patients)."""
    n = plan.pid.size
    pick = ~plan.clz["on"] & (rng.random(n) < P.NOISE_SHARES["unknown_drug_prescriptions"])
    o = np.flatnonzero(pick)
    start = uniform_int(rng, plan.history_start[o], plan.end_of_data[o] - 30)
    concept = np.where(rng.random(o.size) < 0.5, "unknown_vitamin_d", "unknown_paracetamol")
    dose = np.where(concept == "unknown_paracetamol", 3000.0, 0.025)
    return _rows(o, concept.astype(object), start, start + 29, dose, False)
