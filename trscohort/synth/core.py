"""generate(): stream chunks of synthetic patients into the extract CSVs and the ground truth."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from trscohort.synth import clinical, events, labs, prescriptions
from trscohort.synth import params as P
from trscohort.synth.clozapine import draw_safety_scenarios
from trscohort.synth.labs_spec import A, write_labs
from trscohort.synth.mess import mess_dispensings, mess_labs, mess_prescriptions
from trscohort.synth.monitoring import expected_counts, observed_counts
from trscohort.synth.names import spellings_book
from trscohort.synth.noise import lab_noise, prescription_noise
from trscohort.synth.plan import build_plan, clozapine_probability
from trscohort.synth.reference import DrugTable, load_drugs
from trscohort.synth.tables import (
    EXTRACT_COLUMNS,
    assessments_frame,
    diagnoses_frame,
    dispensings_frame,
    patients_frame,
    prescriptions_frame,
    truth_events_frame,
    truth_patients_frame,
    with_patient_id,
)

EARLIEST_AS_OF = date(2017, 1, 1)  # room for trials + a 255-day clozapine course after 2012
TRUTH_FILES = {
    "truth_patients": "ground_truth/patients.csv",
    "truth_events": "ground_truth/events.csv",
}


@dataclass
class Totals:
    """Counts accumulated over chunks for the manifest."""

    rows: dict[str, int] = field(default_factory=dict)
    noise: dict[str, int] = field(default_factory=dict)
    mess: dict[str, int] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    trs_status: dict[str, int] = field(default_factory=dict)
    clozapine_status: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    clozapine_days: int = 0

    def add(self, target: dict, counts: dict) -> None:
        for key, value in counts.items():
            target[key] = target.get(key, 0) + int(value)


def _file_name(table: str) -> str:
    return TRUTH_FILES.get(table, f"{table}.csv")


def _value_counts(series: pl.Series) -> dict[str, int]:
    counts = series.value_counts()
    return dict(zip(counts[series.name].to_list(), counts["count"].to_list(), strict=True))


def _append_rows(frame: pl.DataFrame, extra: pl.DataFrame) -> pl.DataFrame:
    """Extra rows after a frame's own rows, sorted by patient and day like the rest."""
    extra = extra.select([c for c in frame.columns if c in extra.columns])
    return pl.concat([frame, extra], how="diagonal").sort(["pid", "day"], maintain_order=True)


def build_chunk(
    rng: np.random.Generator,
    drugs: DrugTable,
    book,
    first_pid: int,
    n: int,
    as_of: date,
    totals: Totals,
    mess_rng: np.random.Generator | None = None,
    mess_share: float = 0.0,
):
    """All tables of one chunk of patients as text DataFrames keyed by table name."""
    plan = build_plan(rng, drugs, first_pid, n, as_of)
    totals.add(totals.stats, events.apply_stopping_events(rng, plan))
    events.finish_course(plan)
    events.draw_rechallenge(rng, plan)
    draw_safety_scenarios(rng, plan)
    on_events = events.draw_other_events(rng, plan)
    pre_events = events.draw_pre_clozapine_events(rng, plan, on_events["owner"].size)
    all_events = events.merge_events(on_events, pre_events)
    event_labs, event_dx, source = events.evidence(rng, plan, all_events)

    lab_rows = labs.concat_parts(
        [
            labs.anc_schedule(rng, plan),
            labs.clozapine_monitoring(rng, plan),
            labs.routine_labs(rng, plan),
            labs.rechallenge_labs(rng, plan),
            event_labs,
            labs.as_of_row(plan),
        ]
    )
    observed = observed_counts(plan, lab_rows)
    lab_frame = write_labs(
        rng,
        pl.DataFrame(
            {
                "pid": plan.pid[lab_rows["owner"]],
                "day": lab_rows["day"],
                "analyte": lab_rows["analyte"],
                "value": lab_rows["value"],
            }
        ).sort(["pid", "day"], maintain_order=True),
    )
    # The mess rewrites rows in place before the noise (so the noise copies them as they are)
    # and appends its extra rows after it: the noise draws, and so the clean content of a
    # seed, do not depend on the mess.
    messy = mess_rng is not None and mess_share > 0
    mess_counts: dict[str, int] = {}
    if messy:
        lab_frame, lab_extra, found = mess_labs(mess_rng, lab_frame, mess_share)
        mess_counts.update(found)
    lab_frame, lab_noise_counts = lab_noise(rng, lab_frame)
    if messy:
        lab_frame = _append_rows(lab_frame, lab_extra)

    rx_rows = prescriptions.concat_rows(
        [
            prescriptions.trial_rows(rng, plan),
            prescriptions.clozapine_rows(rng, plan),
            prescriptions.comedication_rows(rng, plan),
        ]
    )
    unknown = prescriptions.unknown_drug_rows(rng, plan)
    rx_frame = prescriptions_frame(rng, plan, prescriptions.concat_rows([rx_rows, unknown]), book)
    if messy:
        rx_frame, rx_extra, found = mess_prescriptions(mess_rng, rx_frame, mess_share)
        mess_counts.update(found)
    rx_frame, rx_noise_counts = prescription_noise(rng, rx_frame)
    if messy:
        rx_frame = _append_rows(rx_frame, rx_extra)

    disp = clinical.trial_dispensings(rng, plan)
    is_anc = lab_rows["analyte"] == A.ANC
    clz_disp = clinical.clozapine_dispensings(
        plan, lab_rows["owner"][is_anc], lab_rows["day"][is_anc]
    )
    disp = {k: np.concatenate([disp[k], clz_disp[k]]) for k in disp}
    dx = clinical.primary_diagnoses(rng, plan)
    preg = clinical.pregnancy_diagnoses(rng, plan)
    dx = {k: np.concatenate([dx[k], event_dx[k], preg[k]]) for k in dx}
    scores = clinical.assessment_scores(rng, plan, clinical.assessment_dates(rng, plan))

    tables = {
        "patients": patients_frame(rng, plan),
        "prescriptions": rx_frame,
        "labs": lab_frame,
        "diagnoses": diagnoses_frame(rng, plan, dx),
        "dispensings": dispensings_frame(rng, plan, disp, book),
        "assessments": assessments_frame(plan, scores),
    }
    if messy:
        tables["dispensings"], found = mess_dispensings(mess_rng, tables["dispensings"], mess_share)
        mess_counts.update(found)
    tables = {name: with_patient_id(f, EXTRACT_COLUMNS[name]) for name, f in tables.items()}
    truth = truth_patients_frame(plan, expected_counts(plan), observed)
    tables["truth_patients"] = with_patient_id(truth, ["patient_id", *truth.columns[1:]])
    ev = truth_events_frame(plan, all_events, source)
    tables["truth_events"] = with_patient_id(ev, ["patient_id", *ev.columns[1:]])

    totals.add(totals.noise, lab_noise_counts | rx_noise_counts)
    totals.add(totals.mess, mess_counts)
    totals.add(totals.noise, {"unknown_drug_prescriptions": unknown["owner"].size})
    totals.add(totals.trs_status, _value_counts(tables["truth_patients"]["trs_status"]))
    totals.add(totals.clozapine_status, _value_counts(tables["truth_patients"]["clozapine_status"]))
    on_clz = ev.filter(pl.col("on_clozapine"))
    totals.add(totals.events, _value_counts(on_clz["event_id"]) if on_clz.height else {})
    totals.add(totals.events, {"off_clozapine_total": ev.height - on_clz.height})
    clz = plan.clz
    totals.clozapine_days += int(np.where(clz["on"], clz["course_end_off"] + 1, 0).sum())
    return tables


def _prepare(out_dir: Path) -> None:
    (out_dir / "ground_truth").mkdir(parents=True, exist_ok=True)
    for table in [*EXTRACT_COLUMNS, *TRUTH_FILES]:
        (out_dir / _file_name(table)).unlink(missing_ok=True)


def _append(out_dir: Path, tables: dict[str, pl.DataFrame], first: bool, totals: Totals) -> None:
    for table, frame in tables.items():
        with (out_dir / _file_name(table)).open("ab") as handle:
            frame.write_csv(handle, include_header=first, null_value="")
        totals.add(totals.rows, {_file_name(table): frame.height})


def generate(
    n_patients: int,
    seed: int,
    out_dir: Path,
    *,
    as_of: date = date(2025, 12, 31),
    chunk_size: int = 20_000,
    mess_share: float = P.MESS_SHARE,
) -> dict:
    """Write a deterministic synthetic cohort to `out_dir`; returns the manifest (also written).

    Same (n_patients, seed, chunk_size, as_of) gives byte-identical files. Chunks of
    `chunk_size` patients are generated one at a time (own random stream per chunk:
    SeedSequence([seed, chunk_index])) and appended, so memory stays bounded.
    """
    if n_patients < 1 or chunk_size < 1:
        raise ValueError("n_patients and chunk_size must be positive")
    if not 0 <= mess_share <= 1:
        raise ValueError("mess_share must be between 0 and 1")
    if as_of < EARLIEST_AS_OF:
        raise ValueError(f"as_of must be on or after {EARLIEST_AS_OF} (history starts in 2012)")
    out_dir = Path(out_dir)
    _prepare(out_dir)
    drugs = load_drugs()
    book = spellings_book(drugs)
    totals = Totals()
    for chunk_index, offset in enumerate(range(0, n_patients, chunk_size)):
        rng = np.random.default_rng(np.random.SeedSequence([seed, chunk_index]))
        # the mess has its own stream: the clean content of a seed does not depend on it
        mess_rng = np.random.default_rng(np.random.SeedSequence([seed, chunk_index, 12]))
        n = min(chunk_size, n_patients - offset)
        tables = build_chunk(
            rng, drugs, book, offset + 1, n, as_of, totals, mess_rng=mess_rng, mess_share=mess_share
        )
        _append(out_dir, tables, chunk_index == 0, totals)
    manifest = build_manifest(n_patients, seed, as_of, chunk_size, totals, mess_share)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def build_manifest(
    n_patients: int,
    seed: int,
    as_of: date,
    chunk_size: int,
    totals: Totals,
    mess_share: float = 0.0,
) -> dict:
    person_years = totals.clozapine_days / 365.25
    return {
        "generator_version": P.GENERATOR_VERSION,
        "n_patients": n_patients,
        "seed": seed,
        "as_of": as_of.isoformat(),
        "chunk_size": chunk_size,
        "files": {
            "extracts": [f"{t}.csv" for t in EXTRACT_COLUMNS],
            "ground_truth": list(TRUTH_FILES.values()),
        },
        "row_counts": dict(sorted(totals.rows.items())),
        "noise_counts": dict(sorted(totals.noise.items())),
        "mess_share": mess_share,
        "mess_counts": dict(sorted(totals.mess.items())),
        "status_counts": {
            "trs_status": dict(sorted(totals.trs_status.items())),
            "clozapine_status": dict(sorted(totals.clozapine_status.items())),
        },
        "adverse_events": {
            "hazards_per_1000_person_years": {
                k: [{"from_day": a, "to_day": b, "rate": r} for a, b, r in v]
                for k, v in P.HAZARDS_PER_1000PY.items()
            },
            "gi_severe_fraction": P.GI_SEVERE_FRACTION,
            "recurrent_min_separation_days": P.RECURRENT_MIN_SEPARATION_DAYS,
            "first_only_events": list(P.FIRST_ONLY_EVENTS),
            "stopping_events": list(P.STOPPING_EVENTS),
            "person_years_on_clozapine": round(person_years, 3),
            "event_counts": dict(sorted(totals.events.items())),
        },
        "parameters": {
            "archetype_shares": {k: v[0] for k, v in P.ARCHETYPES.items()},
            "clozapine_probability_by_archetype": clozapine_probability(),
            "clozapine_status_shares": P.CLOZAPINE_STATUS_SHARES,
            "dose_500_share": P.DOSE_500_SHARE,
            "monitoring_profile": "us_rems_2015",
            "fully_adherent_share": P.FULLY_ADHERENT_SHARE,
            "miss_probability": list(P.MISS_PROBABILITY),
            "safety_shares": {
                "dose_gt_600": P.DOSE_GT_600_SHARE,
                "valproate_of_dose_gt_600": P.VALPROATE_SHARE_OF_HIGH_DOSE,
                "cyp1a2_inhibitor": P.CYP1A2_SHARE,
                "benzodiazepine": P.BENZODIAZEPINE_SHARE,
                "pregnancy_of_eligible_women": P.PREGNANCY_SHARE_OF_ELIGIBLE,
                "lactation_of_pregnant": P.LACTATION_SHARE_OF_PREGNANT,
                "laxative": P.LAXATIVE_SHARE,
                "rechallenge_of_neutropenia": P.RECHALLENGE_SHARE,
            },
            "noise_shares": P.NOISE_SHARES,
            "death_share": P.DEATH_SHARE,
            "ben_share": P.BEN_SHARE,
        },
        "definitions": {
            "trs7_assessment_window": (
                "latest PANSS/BPRS (and any CGI-S) after the end of the 2nd adequate failed "
                "trial and before the clozapine start when clozapine was started"
            ),
            "clozapine_status_after_stop": (
                "a course stopped before its responder/resistant assessment is inadequate_trial"
            ),
            "monitoring_follow_up_end": "min(as_of, end of the first clozapine course, death)",
        },
        "stats": dict(sorted(totals.stats.items())),
    }
