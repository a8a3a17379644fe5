"""Per-chunk patient plan: demographics, archetype, antipsychotic trials, clozapine course.

All arrays are per patient (length n) or per patient x trial slot (n, 3); days are integer day
numbers (days since 1970-01-01). Nothing here writes rows; the builders read this plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from trscohort.synth import params as P
from trscohort.synth.reference import DrugTable
from trscohort.synth.util import day_number, nudge_off_edges, uniform_int

ARCHETYPE_NAMES = list(P.ARCHETYPES)
TRS_STATUSES = ["no_schizophrenia_diagnosis", "not_trs", "pseudo_resistant", "trs"]
CLZ_STATUSES = ["not_on_clozapine", *P.CLOZAPINE_STATUS_SHARES]
TITRATING, IN_PROGRESS, INADEQUATE, RESPONDER, RESISTANT = range(1, 6)
BASIS_NONE, BASIS_LEVELS, BASIS_DOSE = 0, 1, 2
SLOTS = 3


@dataclass
class Plan:
    """Everything decided about one chunk of patients before rows are written."""

    as_of: int
    pid: np.ndarray
    birth: np.ndarray
    female: np.ndarray
    ben: np.ndarray
    site: np.ndarray
    archetype: np.ndarray
    trs_status: np.ndarray
    instrument_bprs: np.ndarray
    has_cgi: np.ndarray
    gaf_kind: np.ndarray  # 0 none, 1 GAF, 2 SOFAS
    roles: np.ndarray  # (n, 3)
    generic: np.ndarray  # (n, 3) index into DrugTable.generics
    concept: np.ndarray  # (n, 3) concept id strings ("" when no trial)
    is_lai: np.ndarray  # (n, 3)
    dose: np.ndarray  # (n, 3) daily dose mg as written
    duration: np.ndarray  # (n, 3) days (0 for ongoing/none)
    start: np.ndarray = field(default=None)  # (n, 3) day
    end: np.ndarray = field(default=None)  # (n, 3) day (END for ongoing)
    history_start: np.ndarray = field(default=None)
    end_of_data: np.ndarray = field(default=None)  # death day or as_of
    death: np.ndarray = field(default=None)  # bool
    clz: dict = field(default_factory=dict)  # clozapine arrays, see plan_clozapine


def draw_demographics(rng: np.random.Generator, first_pid: int, n: int, as_of: date) -> dict:
    pid = np.arange(first_pid, first_pid + n, dtype=np.int64)
    lo = day_number(date(P.BIRTH_YEARS[0], 1, 1))
    # the youngest are 23 at as_of, leaving ≥ 7 years of adult history for earlier as_of dates
    hi = min(day_number(date(P.BIRTH_YEARS[1], 12, 31)), day_number(as_of) - int(23 * 365.25))
    return {
        "pid": pid,
        "birth": uniform_int(rng, lo, hi, n),
        "female": rng.random(n) < P.FEMALE_SHARE,
        "ben": rng.random(n) < P.BEN_SHARE,
        "site": rng.integers(0, len(P.SITES), n),
        "instrument_bprs": rng.random(n) < P.BPRS_PATIENT_SHARE,
        "has_cgi": rng.random(n) < P.CGI_PATIENT_SHARE,
        "gaf_kind": np.where(rng.random(n) < P.GAF_PATIENT_SHARE, rng.integers(1, 3, n), 0),
    }


def _combos() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat table of (archetype, roles template) with its probability."""
    arch, roles, prob = [], [], []
    for a, (name, (share, _status, templates)) in enumerate(P.ARCHETYPES.items()):
        templates = templates or P.PSEUDO_TEMPLATES
        for weight, template in templates:
            arch.append(a)
            roles.append(list(template) + [P.NONE] * (SLOTS - len(template)))
            prob.append(share * weight)
        del name
    prob_arr = np.array(prob)
    return np.array(arch), np.array(roles), prob_arr / prob_arr.sum()


def draw_archetypes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Archetype per patient and the role of each trial slot (X filled with a reason)."""
    arch_of, roles_of, prob = _combos()
    combo = rng.choice(prob.size, size=n, p=prob)
    archetype = arch_of[combo]
    roles = roles_of[combo].copy()
    reasons = np.array(P.INADEQUATE_ROLES)[rng.integers(0, len(P.INADEQUATE_ROLES), (n, SLOTS))]
    is_x = roles == P.X
    roles[is_x] = reasons[is_x]
    # pseudo archetypes: the first inadequate slot carries the archetype's own reason
    first_x = np.argmax(is_x, axis=1)
    for name, reason in P.PSEUDO_REASON.items():
        rows = np.flatnonzero((archetype == ARCHETYPE_NAMES.index(name)) & is_x.any(axis=1))
        roles[rows, first_x[rows]] = reason
    return archetype, roles


def _distinct_generics(rng: np.random.Generator, drugs: DrugTable, n: int) -> np.ndarray:
    """Three different generics per patient, popularity-weighted (Gumbel top-k)."""
    keys = np.log(drugs.weights)[None, :] + rng.gumbel(size=(n, len(drugs.generics)))
    return np.argsort(-keys, axis=1)[:, :SLOTS]


def _round_dose(raw: np.ndarray, lai: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Oral doses to 0.5 mg, LAI daily doses to 0.01 mg; rounded away from the CPZ boundary."""
    step = np.where(lai, 0.01, 0.5)
    scaled = raw / step
    rounded = np.where(up, np.ceil(scaled - 1e-9), np.floor(scaled + 1e-9))
    return np.maximum(rounded, 1) * step


def draw_trials(rng: np.random.Generator, drugs: DrugTable, roles: np.ndarray) -> dict:
    """Drug, route, duration and dose of every trial slot."""
    n = roles.shape[0]
    generic = _distinct_generics(rng, drugs, n)
    lai_capable = drugs.has_lai[generic]
    lai_role = (roles == P.ADEQUATE) | (roles == P.RESPONDING)
    is_lai = lai_role & lai_capable & (rng.random((n, SLOTS)) < P.LAI_SHARE)
    oral = np.array(drugs.oral_concept, dtype=object)[generic]
    lai = np.array([c or "" for c in drugs.lai_concept], dtype=object)[generic]
    concept = np.where(is_lai, lai, oral)
    concept = np.where(roles == P.NONE, "", concept)
    factor = np.vectorize(lambda c: drugs.eq100.get(c, 1.0), otypes=[float])(concept)

    long_days = uniform_int(rng, *P.ADEQUATE_DAYS, (n, SLOTS))
    short_days = uniform_int(rng, *P.SHORT_DAYS, (n, SLOTS))
    duration = np.where(roles == P.SHORT, short_days, long_days)
    duration = np.where((roles == P.NONE) | (roles == P.RESPONDING), 0, duration)

    high = rng.uniform(*P.HIGH_CPZ, (n, SLOTS))
    low = rng.uniform(*P.LOW_CPZ, (n, SLOTS))
    mid = rng.uniform(*P.RESPONDING_CPZ, (n, SLOTS))
    cpz = np.where(roles == P.LOW_DOSE, low, np.where(roles == P.RESPONDING, mid, high))
    dose = _round_dose(cpz * factor / 100.0, is_lai, roles != P.LOW_DOSE)
    dose = np.where(roles == P.NONE, 0.0, dose)
    return {
        "generic": generic,
        "concept": concept,
        "is_lai": is_lai,
        "dose": dose,
        "duration": duration,
        "cpz_written": dose / factor * 100.0,
    }


def relative_schedule(rng: np.random.Generator, roles: np.ndarray, duration: np.ndarray):
    """Trial start/end relative to the first trial's start; gaps of 35–150 days between."""
    n = roles.shape[0]
    gaps = uniform_int(rng, *P.GAP_BETWEEN_TRIALS, (n, SLOTS))
    rel_start = np.zeros((n, SLOTS), dtype=np.int64)
    rel_end = np.zeros((n, SLOTS), dtype=np.int64)
    for k in range(SLOTS):  # three slots: a loop over slots, not patients
        rel_end[:, k] = rel_start[:, k] + np.maximum(duration[:, k], 1) - 1
        if k + 1 < SLOTS:
            rel_start[:, k + 1] = rel_end[:, k] + 1 + gaps[:, k]
    n_trials = (roles != P.NONE).sum(axis=1)
    last = np.maximum(n_trials - 1, 0)
    rows = np.arange(n)
    last_is_responding = roles[rows, last] == P.RESPONDING
    # span needed after the first start: up to the last trial's end, or the responding start
    last_rel = np.where(last_is_responding, rel_start[rows, last], rel_end[rows, last])
    last_rel = np.where(n_trials == 0, 0, last_rel)
    return rel_start, rel_end, last_rel, last_is_responding, n_trials


def history_floor(birth: np.ndarray) -> np.ndarray:
    """Earliest history start: 2012-01-01 and age 16 (+30 days margin)."""
    epoch = day_number(date.fromisoformat(P.EPOCH_HISTORY_START))
    return np.maximum(epoch, birth + int(P.MIN_AGE_AT_HISTORY_YEARS * 365.25) + 30)


def trs_status_of(archetype: np.ndarray) -> np.ndarray:
    table = np.array([TRS_STATUSES.index(v[1]) for v in P.ARCHETYPES.values()])
    return table[archetype]


def clozapine_probability() -> dict[str, float]:
    """P(clozapine | archetype): 70 % of trs; 5 % of not_trs + pseudo, drawn from pseudo."""
    shares = {k: v[0] for k, v in P.ARCHETYPES.items()}
    statuses = {k: v[1] for k, v in P.ARCHETYPES.items()}
    eligible = sum(s for k, s in shares.items() if statuses[k] in ("not_trs", "pseudo_resistant"))
    pseudo = sum(s for k, s in shares.items() if statuses[k] == "pseudo_resistant")
    out = {k: 0.0 for k in shares}
    out["trs"] = P.CLOZAPINE_SHARE_OF_TRS
    for k in P.PSEUDO_REASON:
        out[k] = P.CLOZAPINE_WITHOUT_TRS_SHARE * eligible / pseudo
    return out


def build_plan(rng: np.random.Generator, drugs: DrugTable, first_pid: int, n: int, as_of: date):
    """Draw the whole chunk plan (demographics, trials, clozapine, timeline, deaths)."""
    from trscohort.synth.clozapine import plan_clozapine  # local: avoids an import cycle

    demo = draw_demographics(rng, first_pid, n, as_of)
    archetype, roles = draw_archetypes(rng, n)
    trials = draw_trials(rng, drugs, roles)
    plan = Plan(
        as_of=day_number(as_of),
        archetype=archetype,
        trs_status=trs_status_of(archetype),
        roles=roles,
        **demo,
        **{k: v for k, v in trials.items() if k != "cpz_written"},
    )
    # functional_ok must record CGI-S so that TRS-8 visibly fails
    plan.has_cgi |= archetype == ARCHETYPE_NAMES.index("functional_ok")
    p_clz = np.array(list(clozapine_probability().values()))[archetype]
    on_clz = rng.random(n) < p_clz
    schedule = relative_schedule(rng, plan.roles, plan.duration)
    first_offset = uniform_int(rng, 0, 30, n)
    # earliest clozapine start that leaves room for the trials after the history floor
    earliest_clz = history_floor(plan.birth) + first_offset + schedule[2] + 3
    plan.clz = plan_clozapine(rng, plan, on_clz, earliest_clz)
    place_timeline(rng, plan, schedule, first_offset)
    choose_deaths(rng, plan)
    return plan


def place_timeline(rng: np.random.Generator, plan: Plan, schedule, first_offset) -> None:
    """History start and absolute trial dates; clozapine patients are anchored on their start."""
    rel_start, rel_end, last_rel, last_responding, n_trials = schedule
    floor = history_floor(plan.birth)
    tail = np.where(last_responding, 150, np.where(n_trials == 0, 365, 60))
    ceiling = plan.as_of - first_offset - last_rel - tail
    if np.any(ceiling < floor):
        raise AssertionError("history does not fit before as_of")
    history = uniform_int(rng, floor, ceiling)
    clz = plan.clz
    # clozapine: the last trial ends gap_before days before the clozapine start
    anchored = clz["start"] - clz["gap_before"] - last_rel - first_offset
    history = np.where(clz["on"], anchored, history)
    if np.any(history < floor):
        raise AssertionError("clozapine history starts before the floor")
    first_start = history + first_offset
    plan.history_start = history
    plan.start = np.where(plan.roles != P.NONE, first_start[:, None] + rel_start, 0)
    plan.end = np.where(plan.roles != P.NONE, first_start[:, None] + rel_end, 0)


def last_anchor_day(plan: Plan) -> np.ndarray:
    """Last planned fact a death must follow (assessments after failed trials, etc.)."""
    roles = plan.roles
    failed = (roles != P.NONE) & (roles != P.RESPONDING)
    fail_end = np.where(failed, plan.end + 20, 0).max(axis=1)
    responding_start = np.where(roles == P.RESPONDING, plan.start + 90, 0).max(axis=1)
    anchor = np.maximum.reduce([fail_end, responding_start, plan.history_start + 30])
    clz = plan.clz
    clz_anchor = clz["start"] + clz["assess_off"]
    return np.where(clz["on"], clz_anchor, anchor) + 30


def choose_deaths(rng: np.random.Generator, plan: Plan) -> None:
    """~0.5 % die: non-clozapine patients, and clozapine responders/resistant after assessment."""
    n = plan.pid.size
    clz = plan.clz
    anchor = last_anchor_day(plan)
    latest = plan.as_of - 5
    eligible = (~clz["on"] | np.isin(clz["status"], (RESPONDER, RESISTANT))) & (anchor <= latest)
    p = min(1.0, P.DEATH_SHARE * n / max(1, eligible.sum()))
    dies = eligible & (rng.random(n) < p)
    death = uniform_int(rng, np.minimum(anchor, latest), latest)
    # clozapine follow-up ends at death: keep that day clear of ANC window edges
    offset = death - clz["start"]
    shift, ok = nudge_off_edges(offset, offset - 3, offset + 3, clz["edge"])
    death = np.where(dies & clz["on"], np.minimum(death + shift, latest), death)
    dies &= ~(clz["on"] & ~ok)
    plan.death = dies
    plan.end_of_data = np.where(dies, death, plan.as_of)
    clz["course_end_off"] = np.where(
        clz["on"] & dies, plan.end_of_data - clz["start"], clz["course_end_off"]
    )
