"""The real world's mess (issue 12): a configurable share of rows written the way hospital
extracts write them, so the ground-truth tests prove the mapping, not the generator's agreement
with itself.

Rewrites keep each row's meaning (the pipeline must map them back): LOINC long common and short
names, local lab spellings and local codes, odd unit spellings (10⁹/L, G/L, K/uL, /mm³, ...),
`<` qualifiers on results below a detection limit, timestamps with a UTC offset, brand and pack
descriptions of drugs, long-acting injectables written as a dose per injection with its
interval. Extra rows only (never replacing a row the ground truth depends on): lab tests the
reference does not know (including "Neutrophils" in %), unlisted co-medications, and copies of
injections with the per-injection dose written as daily_dose_mg (to be quarantined).

Everything draws from its own random stream, so the clean data of a seed is unchanged.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from trscohort.synth.labs_spec import A

LAB_NAMES: dict[int, list[str]] = {
    A.ANC: [
        "Neutrophils",
        "NEUT#",
        "Neut Abs",
        "ANC (auto)",
        "Neutrophils [#/volume] in Blood by Automated count",
        "Neutrophils # Bld Auto",
    ],
    A.CLOZAPINE: ["Clozapine [Mass/volume] in Serum or Plasma", "CLOZAPINE LEVEL"],
    A.CRP: ["C reactive protein [Mass/volume] in Serum or Plasma", "CRP SerPl-mCnc"],
    A.GLUCOSE: ["Fasting glucose [Mass/volume] in Serum or Plasma", "Glucose p fast SerPl-mCnc"],
    A.CHOL: ["Cholesterol [Mass/volume] in Serum or Plasma", "Cholest SerPl-mCnc"],
    A.HDL: ["Cholesterol in HDL [Mass/volume] in Serum or Plasma", "HDLc SerPl-mCnc"],
    A.TG: ["Triglyceride [Mass/volume] in Serum or Plasma", "Trigl SerPl-mCnc"],
    A.AST: ["Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma"],
    A.ALT: ["ALT SerPl-cCnc"],
    A.BILIRUBIN: ["Bilirubin.total [Mass/volume] in Serum or Plasma", "Bilirub SerPl-mCnc"],
}
UNIT_SPELLINGS: dict[str, list[str]] = {
    "10^9/L": ["10⁹/L", "×10^9/l", "G/L", "10*9/L"],
    "/µL": ["/mm³", "cells/mcL"],
    "cells/µL": ["cells/mcL"],
    "10^3/µL": ["K/uL", "K/mcL", "thous/uL"],
    "cells/mm3": ["/mm³"],
    "µg/L": ["mcg/L", "microg/L"],
}
LOCAL_CODES = {A.ANC: "NEUT-ABS-L7", A.CLOZAPINE: "CLOZ-LVL", A.CRP: "CRP-01"}
UNKNOWN_TESTS = [  # (name, unit, low, high, decimals): tests the reference does not map
    ("Neutrophils", "%", 40.0, 70.0, 0),
    ("Vitamin B12", "pg/mL", 200.0, 900.0, 0),
    ("Ferritin", "ng/mL", 20.0, 300.0, 0),
    ("Sodium", "mmol/L", 135.0, 145.0, 0),
]
OTHER_DRUGS = [  # (as written, daily mg): common co-medications (since issue 18 sertraline,
    # atorvastatin and mirtazapine are in reference/comedications.csv; the others in no list)
    ("Omeprazole 20mg gastro-resistant capsules", 20.0),
    ("Sertraline 50mg tablets", 50.0),
    ("Hyoscine hydrobromide 300 microgram tablets", 0.6),
    ("Metoclopramide 10mg tablets", 30.0),
    ("Paracetamol 500mg tablets", 4000.0),
    ("Atorvastatin 20mg tablets", 20.0),
    ("Amlodipine 5mg tablets", 5.0),
    ("Mirtazapine 15mg tablets", 15.0),
    ("Propranolol 40mg tablets", 80.0),
    ("Salbutamol 100micrograms/dose inhaler", 0.4),
]
ORAL_FORMS = ["tablets", "tab", "film-coated tablets", "orodispersible tablets", "capsules"]
LAI_FORMS = ["prefilled syringe", "inj", "vial"]
MAKERS = ["", "", " Mylan", " Teva", " Sandoz"]
# Per-injection interval written for long-acting rows: paliperidone monthly, the others every
# 2 weeks (a generator choice that keeps each injection within twice its labelled maximum).
LAI_MONTHLY_NAMES = "paliperidone|invega|xeplion|trevicta"
DEFAULT_LAI_INTERVAL = 14


def _pick(rng: np.random.Generator, share: float, n: int) -> np.ndarray:
    return rng.random(n) < share


def _choose(rng: np.random.Generator, options: list[str], n: int) -> pl.Series:
    return pl.Series(options, dtype=pl.String).gather(pl.Series(rng.integers(0, len(options), n)))


def mess_labs(
    rng: np.random.Generator, labs: pl.DataFrame, share: float
) -> tuple[pl.DataFrame, dict]:
    """Rewrite names, codes, units, qualifiers and timestamps of `share` of the lab rows."""
    n = labs.height
    analyte = labs["analyte"].to_numpy()
    counts: dict[str, int] = {}
    name = labs["test_name"]
    renamed = np.zeros(n, dtype=bool)
    for a, options in LAB_NAMES.items():  # loop over a dozen analytes, not rows
        rows = (analyte == a) & _pick(rng, share, n)
        chosen = _choose(rng, options, n)
        name = pl.select(pl.when(pl.Series(rows)).then(chosen).otherwise(name)).to_series()
        renamed |= rows
    counts["lab_names_rewritten"] = int(renamed.sum())
    code = labs["test_code"]
    local = np.zeros(n, dtype=bool)
    for a, local_code in LOCAL_CODES.items():
        rows = (analyte == a) & _pick(rng, share / 2, n)
        code = pl.select(
            pl.when(pl.Series(rows)).then(pl.lit(local_code)).otherwise(code)
        ).to_series()
        local |= rows
    counts["lab_local_codes"] = int(local.sum())
    unit = labs["unit"]
    respelled = np.zeros(n, dtype=bool)
    for written, options in UNIT_SPELLINGS.items():
        rows = (unit == written).to_numpy() & _pick(rng, share, n)
        chosen = _choose(rng, options, n)
        unit = pl.select(pl.when(pl.Series(rows)).then(chosen).otherwise(unit)).to_series()
        respelled |= rows
    counts["lab_units_respelled"] = int(respelled.sum())
    value = labs["value"]
    below = (analyte == A.CRP) & (value.cast(pl.Float64, strict=False) < 5).fill_null(
        False
    ).to_numpy()
    below &= _pick(rng, share * 3, n)
    value = pl.select(pl.when(pl.Series(below)).then(pl.lit("<5")).otherwise(value)).to_series()
    counts["lab_below_detection_qualifiers"] = int(below.sum())
    stamped = labs["collected_at"].str.contains(" ").to_numpy() & _pick(rng, share * 3, n)
    offset = _choose(rng, ["+01:00", "Z", "+0000", "-05:00"], n)
    collected = pl.select(
        pl.when(pl.Series(stamped))
        .then(labs["collected_at"].str.replace(" ", "T") + offset)
        .otherwise(labs["collected_at"])
    ).to_series()
    counts["lab_timestamps_with_utc_offset"] = int(stamped.sum())
    out = labs.with_columns(
        name.alias("test_name"), code.alias("test_code"), unit.alias("unit"),
        value.alias("value"), collected.alias("collected_at"),
    )  # fmt: skip
    extra = _unknown_tests(rng, labs, share)
    counts["lab_unknown_tests"] = extra.height
    return out, extra, counts


def _unknown_tests(rng: np.random.Generator, labs: pl.DataFrame, share: float) -> pl.DataFrame:
    """Copies of some ANC rows as tests the reference does not map (counted, never mapped)."""
    anc = np.flatnonzero(labs["analyte"].to_numpy() == A.ANC)
    pick = anc[rng.random(anc.size) < share / 4]
    kind = rng.integers(0, len(UNKNOWN_TESTS), pick.size)
    base = labs[pick]
    low = np.array([t[2] for t in UNKNOWN_TESTS])[kind]
    high = np.array([t[3] for t in UNKNOWN_TESTS])[kind]
    values = np.round(low + rng.random(pick.size) * (high - low)).astype(np.int64)
    return base.with_columns(
        pl.Series([UNKNOWN_TESTS[k][0] for k in kind], dtype=pl.String).alias("test_name"),
        pl.lit(None, dtype=pl.String).alias("test_code"),
        pl.Series(values).cast(pl.String).alias("value"),
        pl.Series([UNKNOWN_TESTS[k][1] for k in kind], dtype=pl.String).alias("unit"),
        pl.lit(None, dtype=pl.String).alias("reference_high"),
        pl.lit(-1).cast(labs["analyte"].dtype).alias("analyte"),
    )


def _pack_description(
    rng: np.random.Generator, drug: pl.Series, dose: pl.Series, lai: np.ndarray
) -> pl.Series:
    n = drug.len()
    form = pl.select(
        pl.when(pl.Series(lai))
        .then(_choose(rng, LAI_FORMS, n))
        .otherwise(_choose(rng, ORAL_FORMS, n))
    ).to_series()
    text = drug + _choose(rng, MAKERS, n) + " " + dose + "mg " + form
    upper = rng.random(n) < 0.3
    return pl.select(
        pl.when(pl.Series(upper)).then(text.str.to_uppercase()).otherwise(text)
    ).to_series()


def mess_prescriptions(
    rng: np.random.Generator, rx: pl.DataFrame, share: float
) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Pack descriptions and per-injection LAI doses (rewritten rows), plus extra rows:
    unlisted co-medications and per-injection doses copied into daily_dose_mg (quarantined)."""
    n = rx.height
    lai = (rx["route"] == "lai").to_numpy()
    described = _pick(rng, share, n)
    shown_dose = rx["daily_dose_mg"].fill_null("")
    drug = pl.select(
        pl.when(pl.Series(described))
        .then(_pack_description(rng, rx["drug"], shown_dose, lai))
        .otherwise(rx["drug"])
    ).to_series()
    monthly = rx["drug"].str.to_lowercase().str.contains(LAI_MONTHLY_NAMES)
    interval_days = pl.select(
        pl.when(monthly).then(pl.lit(28)).otherwise(pl.lit(DEFAULT_LAI_INTERVAL))
    ).to_series()
    injected = lai & _pick(rng, min(1.0, share * 5), n)
    daily = rx["daily_dose_mg"].cast(pl.Float64)
    dose_mg = (daily * interval_days).round(1)
    out = rx.with_columns(
        drug.alias("drug"),
        pl.select(pl.when(pl.Series(injected)).then(None).otherwise(rx["daily_dose_mg"]))
        .to_series()
        .alias("daily_dose_mg"),
        pl.select(pl.when(pl.Series(injected)).then(dose_mg.cast(pl.String)).otherwise(None))
        .to_series()
        .alias("dose_mg"),
        pl.select(pl.when(pl.Series(injected)).then(interval_days.cast(pl.String)).otherwise(None))
        .to_series()
        .alias("interval_days"),
    )
    wrong = np.flatnonzero(lai & _pick(rng, share / 5, n))
    per_injection_as_daily = out[wrong].with_columns(
        dose_mg.gather(pl.Series(wrong)).cast(pl.String).alias("daily_dose_mg"),
        pl.lit(None, dtype=pl.String).alias("dose_mg"),
        pl.lit(None, dtype=pl.String).alias("interval_days"),
        (pl.col("prescription_id") + "X").alias("prescription_id"),
    )
    others = _other_drugs(rng, rx, share)
    counts = {
        "drug_pack_descriptions": int(described.sum()),
        "lai_written_per_injection": int(injected.sum()),
        "lai_per_injection_in_daily_dose": per_injection_as_daily.height,
        "unlisted_comedications": others.height,
    }
    return out, pl.concat([per_injection_as_daily, others]), counts


def _other_drugs(rng: np.random.Generator, rx: pl.DataFrame, share: float) -> pl.DataFrame:
    """Unlisted co-medications: a copy of some rows as a drug no reference list names."""
    pick = np.flatnonzero(rng.random(rx.height) < share / 2)
    kind = rng.integers(0, len(OTHER_DRUGS), pick.size)
    return rx[pick].with_columns(
        pl.Series([OTHER_DRUGS[k][0] for k in kind], dtype=pl.String).alias("drug"),
        pl.Series([OTHER_DRUGS[k][1] for k in kind]).cast(pl.String).alias("daily_dose_mg"),
        pl.lit("oral").alias("route"),
        pl.lit(None, dtype=pl.String).alias("dose_mg"),
        pl.lit(None, dtype=pl.String).alias("interval_days"),
        (pl.col("prescription_id") + "C").alias("prescription_id"),
    )


def mess_dispensings(
    rng: np.random.Generator, disp: pl.DataFrame, share: float
) -> tuple[pl.DataFrame, dict]:
    """Pack descriptions of dispensed drugs (same concept, written as the pharmacy does)."""
    n = disp.height
    described = _pick(rng, share, n)
    dose = pl.Series(np.where(rng.random(n) < 0.5, "10", "25"), dtype=pl.String)
    drug = pl.select(
        pl.when(pl.Series(described))
        .then(_pack_description(rng, disp["drug"], dose, np.zeros(n, dtype=bool)))
        .otherwise(disp["drug"])
    ).to_series()
    return disp.with_columns(drug.alias("drug")), {
        "dispensing_pack_descriptions": int(described.sum())
    }
