"""Turn the chunk's numpy columns into the contract's text tables (and ground truth)."""

from __future__ import annotations

import numpy as np
import polars as pl

from trscohort.synth import params as P
from trscohort.synth.events import EVENT_IDS
from trscohort.synth.monitoring import RULES
from trscohort.synth.names import write_drug_names
from trscohort.synth.plan import (
    ARCHETYPE_NAMES,
    BASIS_DOSE,
    CLZ_STATUSES,
    RESISTANT,
    RESPONDER,
    TRS_STATUSES,
    Plan,
)
from trscohort.synth.util import date_text, format_number, patient_id_text, take

EXTRACT_COLUMNS = {
    "patients": [
        "patient_id",
        "birth_date",
        "sex",
        "benign_ethnic_neutropenia",
        "site",
        "death_date",
    ],
    "prescriptions": [
        "patient_id",
        "drug",
        "start_date",
        "end_date",
        "daily_dose_mg",
        "route",
        "prescription_id",
        "dose_mg",
        "interval_days",
    ],
    "labs": [
        "patient_id",
        "collected_at",
        "test_code",
        "test_name",
        "value",
        "unit",
        "reference_high",
    ],
    "diagnoses": ["patient_id", "code", "code_system", "diagnosed_at", "description"],
    "dispensings": ["patient_id", "drug", "dispensed_date", "days_supply"],
    "assessments": ["patient_id", "assessed_at", "instrument", "score"],
}
SEX_VARIANTS = {"F": ["Female", "female", "f", "FEMALE"], "M": ["Male", "male", "m", "MALE"]}


def _optional_date(values: np.ndarray) -> pl.Series:
    frame = pl.DataFrame({"d": values})
    return frame.select(
        pl.when(pl.col("d") >= 0).then(date_text(pl.col("d"))).otherwise(None)
    ).to_series()


def patients_frame(rng: np.random.Generator, plan: Plan) -> pl.DataFrame:
    n = plan.pid.size
    variant = rng.random(n) < P.SEX_VARIANT_SHARE
    which = rng.integers(0, 4, n)
    sex = np.where(plan.female, "F", "M").astype(object)
    female_variants = np.array(SEX_VARIANTS["F"], dtype=object)[which]
    male_variants = np.array(SEX_VARIANTS["M"], dtype=object)[which]
    sex = np.where(variant, np.where(plan.female, female_variants, male_variants), sex)
    return pl.DataFrame(
        {
            "pid": plan.pid,
            "birth_date": pl.DataFrame({"d": plan.birth})
            .select(date_text(pl.col("d")))
            .to_series(),
            "sex": pl.Series(sex.astype(str)),
            "benign_ethnic_neutropenia": np.where(plan.ben, "true", "false"),
            "site": take(list(P.SITES), plan.site),
            "death_date": _optional_date(np.where(plan.death, plan.end_of_data, -1)),
        }
    )


def prescriptions_frame(rng: np.random.Generator, plan: Plan, rows: dict, book) -> pl.DataFrame:
    pid = plan.pid[rows["owner"]]
    dose = rows["dose"]
    frame = pl.DataFrame(
        {
            "pid": pid,
            "day": rows["start"],
            "drug": write_drug_names(rng, rows["concept"], book),
            "start_date": _optional_date(rows["start"]),
            "end_date": _optional_date(rows["end"]),
            "dose": dose,
            "decimals": np.where(np.abs(dose - np.round(dose)) < 1e-9, 0, 2),
            "route": np.where(rows["lai"], "lai", "oral"),
        }
    ).sort(["pid", "day"], maintain_order=True)
    seq = pl.int_range(pl.len()).over("pid") + 1
    return frame.select(
        "pid",
        "day",
        "drug",
        "start_date",
        "end_date",
        format_number(pl.col("dose"), pl.col("decimals")).alias("daily_dose_mg"),
        "route",
        (
            pl.lit("RX")
            + pl.col("pid").cast(pl.String).str.zfill(7)
            + seq.cast(pl.String).str.zfill(3)
        ).alias("prescription_id"),
        pl.lit(None, dtype=pl.String).alias("dose_mg"),
        pl.lit(None, dtype=pl.String).alias("interval_days"),
    )


def diagnoses_frame(rng: np.random.Generator, plan: Plan, rows: dict) -> pl.DataFrame:
    code = pl.Series(rows["code"].astype(str))
    no_dot = rng.random(code.len()) < 0.30
    frame = pl.DataFrame(
        {
            "pid": plan.pid[rows["owner"]],
            "day": rows["day"],
            "code_raw": code,
            "no_dot": no_dot,
            "description": pl.Series(rows["description"].astype(str)),
        }
    )
    return frame.select(
        "pid",
        "day",
        pl.when(pl.col("no_dot"))
        .then(pl.col("code_raw").str.replace(".", "", literal=True))
        .otherwise(pl.col("code_raw"))
        .alias("code"),
        pl.lit("ICD10").alias("code_system"),
        date_text(pl.col("day")).alias("diagnosed_at"),
        "description",
    ).sort(["pid", "day"], maintain_order=True)


def dispensings_frame(rng: np.random.Generator, plan: Plan, rows: dict, book) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "pid": plan.pid[rows["owner"]],
            "day": rows["day"],
            "drug": write_drug_names(rng, rows["concept"], book),
            "days_supply": rows["days_supply"],
        }
    )
    return frame.select(
        "pid",
        "day",
        "drug",
        date_text(pl.col("day")).alias("dispensed_date"),
        pl.col("days_supply").cast(pl.String),
    ).sort(["pid", "day"], maintain_order=True)


def assessments_frame(plan: Plan, rows: dict) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "pid": plan.pid[rows["owner"]],
            "day": rows["day"],
            "instrument": pl.Series(rows["instrument"].astype(str)),
            "score": rows["score"],
        }
    )
    return frame.select(
        "pid",
        "day",
        date_text(pl.col("day")).alias("assessed_at"),
        "instrument",
        pl.col("score").cast(pl.String),
    ).sort(["pid", "day"], maintain_order=True)


def truth_patients_frame(plan: Plan, expected: dict, observed: dict) -> pl.DataFrame:
    clz = plan.clz
    on = clz["on"]
    start = np.where(on, clz["start"], -1)
    stop = np.where(clz["stopped"], clz["start"] + clz["course_end_off"], -1)
    # A rechallenge is a later course (CLZ-5, issue 13): clozapine ends with it, and unless the
    # first course reached an adequate trial, the rechallenge course (no basis) is the one judged.
    rechallenge = clz["rechallenge"]
    stop = np.where(rechallenge, clz["rechallenge_end"], stop)
    first_adequate = np.isin(clz["status"], (RESPONDER, RESISTANT))
    reached = clz["tl_reached"] & (~rechallenge | first_adequate)
    tl = np.where(reached, clz["start"] + clz["tl_off"], -1)
    basis = np.where(reached, np.where(clz["basis"] == BASIS_DOSE, "dose_500", "levels"), "")
    trs = np.array(TRS_STATUSES, dtype=object)[plan.trs_status]
    columns = {
        "pid": plan.pid,
        "archetype": take(ARCHETYPE_NAMES, plan.archetype),
        "trs_status": pl.Series(trs.astype(str)),
        "schizophrenia_dx": trs != "no_schizophrenia_diagnosis",
        "n_adequate_failed_trials": (plan.roles == P.ADEQUATE).sum(axis=1),
        "clozapine_status": take(CLZ_STATUSES, clz["status"]),
        "clozapine_without_trs": on & (trs != "trs"),
        "clozapine_start_date": _optional_date(start),
        "clozapine_stop_date": _optional_date(stop),
        "level_basis": pl.Series(basis.astype(str)).replace("", None),
        "therapeutic_level_date": _optional_date(tl),
        "adequate_trial_date": _optional_date(np.where(reached, tl + P.ADEQUATE_TRIAL_DAYS, -1)),
    }
    for rule in RULES:
        columns[f"{rule}_expected"] = expected[rule]
        columns[f"{rule}_observed"] = observed[rule]
    columns.update(
        {
            "dose_gt_600": clz["dose_gt_600"],
            "valproate": clz["valproate"],
            "cyp1a2_inhibitor": clz["cyp1a2"],
            "benzodiazepine": clz["benzodiazepine"],
            "pregnancy_on_clozapine": clz["pregnancy"],
            "lactation_on_clozapine": clz["lactation"],
            "laxative": clz["laxative"],
            "rechallenge": clz["rechallenge"],
        }
    )
    return pl.DataFrame(columns)


def truth_events_frame(plan: Plan, events: dict, source: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "pid": plan.pid[events["owner"]],
            "event_id": take(EVENT_IDS, events["kind"]),
            "onset_date": _optional_date(events["day"]),
            "on_clozapine": events["on_clozapine"],
            "source": pl.Series(source.astype(str)),
        }
    )


def with_patient_id(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Replace the integer key by the text patient_id (keeping a noise override if present)."""
    pid_text = patient_id_text(pl.col("pid"))
    if "patient_id" in frame.columns:
        pid_text = pl.coalesce(pl.col("patient_id"), pid_text)
    return frame.with_columns(pid_text.alias("patient_id")).select(columns)
