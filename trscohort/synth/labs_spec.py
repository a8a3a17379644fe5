"""How each lab analyte is written: names, LOINC codes, units (with scaling), reference highs.

Values are generated in one canonical unit per analyte (ANC /µL, clozapine ng/mL, troponin
ng/L, HbA1c mmol/mol ...) and converted to the unit chosen for each row when written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from trscohort.synth.util import format_number, take


class A:
    """Analyte ids."""

    ANC, CLOZAPINE, TROPONIN, CRP, HBA1C, GLUCOSE, CHOL, LDL, HDL, TG = range(10)
    ALT, AST, BILIRUBIN, WEIGHT, BMI, SBP, PULSE, QTC = range(10, 18)


@dataclass(frozen=True)
class UnitOption:
    unit: str
    loinc: str
    factor: float  # written value = canonical value * factor (HbA1c % handled specially)
    decimals: int
    weight: float
    reference_high: str = ""
    below_detection: float | None = None  # canonical value under which "<limit" is written
    detection_text: str = ""


@dataclass(frozen=True)
class AnalyteSpec:
    names: tuple[str, ...]
    units: tuple[UnitOption, ...]


U = UnitOption
SPECS: dict[int, AnalyteSpec] = {
    A.ANC: AnalyteSpec(
        ("Neutrophils #", "ANC", "Absolute neutrophil count"),
        (
            U("10^9/L", "751-8", 0.001, 2, 0.40),
            U("/µL", "751-8", 1, 0, 0.15),
            U("cells/µL", "26499-4", 1, 0, 0.15),
            U("10^3/µL", "751-8", 0.001, 2, 0.20),
            U("cells/mm3", "753-4", 1, 0, 0.10),
        ),
    ),
    A.CLOZAPINE: AnalyteSpec(
        ("Clozapine", "Clozapine level", "Serum clozapine"),
        (
            U("ng/mL", "6896-5", 1, 0, 0.80),
            U("µg/L", "6896-5", 1, 0, 0.15),
            U("µmol/L", "6896-5", 1 / 326.8, 3, 0.05),
        ),
    ),
    A.TROPONIN: AnalyteSpec(
        ("Troponin I", "hs Troponin I"),
        (
            U("ng/L", "89579-7", 1, 0, 0.7, "26", 5.0, "<5"),
            U("ng/mL", "10839-9", 0.001, 2, 0.3, "0.04", 10.0, "<0.01"),
        ),
    ),
    A.CRP: AnalyteSpec(("CRP", "C-reactive protein"), (U("mg/L", "1988-5", 1, 1, 1, "5"),)),
    A.HBA1C: AnalyteSpec(
        ("HbA1c",),
        (U("mmol/mol", "59261-8", 1, 0, 0.5), U("%", "4548-4", 1, 1, 0.5)),
    ),
    A.GLUCOSE: AnalyteSpec(
        ("Fasting glucose", "Glucose fasting"), (U("mg/dL", "1558-6", 1, 0, 1),)
    ),
    A.CHOL: AnalyteSpec(("Cholesterol", "Total cholesterol"), (U("mg/dL", "2093-3", 1, 0, 1),)),
    A.LDL: AnalyteSpec(("LDL cholesterol",), (U("mg/dL", "13457-7", 1, 0, 1),)),
    A.HDL: AnalyteSpec(("HDL cholesterol",), (U("mg/dL", "2085-9", 1, 0, 1),)),
    A.TG: AnalyteSpec(("Triglycerides",), (U("mg/dL", "2571-8", 1, 0, 1),)),
    A.ALT: AnalyteSpec(("ALT",), (U("U/L", "1742-6", 1, 0, 1, "40"),)),
    A.AST: AnalyteSpec(("AST",), (U("U/L", "1920-8", 1, 0, 1, "40"),)),
    A.BILIRUBIN: AnalyteSpec(("Bilirubin total",), (U("mg/dL", "1975-2", 1, 1, 1, "1.2"),)),
    A.WEIGHT: AnalyteSpec(("Weight", "Body weight"), (U("kg", "29463-7", 1, 1, 1),)),
    A.BMI: AnalyteSpec(("BMI",), (U("kg/m2", "39156-5", 1, 1, 1),)),
    A.SBP: AnalyteSpec(("Systolic BP",), (U("mmHg", "8480-6", 1, 0, 1),)),
    A.PULSE: AnalyteSpec(("Pulse", "Heart rate"), (U("/min", "8867-4", 1, 0, 1),)),
    A.QTC: AnalyteSpec(("QTc",), (U("ms", "8636-3", 1, 0, 1),)),
}

# Flat option tables: global option index -> attributes.
OPTIONS = [(a, o) for a, spec in SPECS.items() for o in spec.units]
NAMES = [(a, name) for a, spec in SPECS.items() for name in spec.names]
TEST_CODE_SHARE = 0.80
TIMESTAMP_SHARE = 0.20
HBA1C_PERCENT = OPTIONS.index((A.HBA1C, SPECS[A.HBA1C].units[1]))


def _choose(rng: np.random.Generator, analyte: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: global unit-option index and global name index for its analyte."""
    option = np.zeros(analyte.size, dtype=np.int64)
    name = np.zeros(analyte.size, dtype=np.int64)
    for a, spec in SPECS.items():  # loop over ~18 analytes
        rows = np.flatnonzero(analyte == a)
        if rows.size == 0:
            continue
        base = next(i for i, (aa, _o) in enumerate(OPTIONS) if aa == a)
        w = np.array([o.weight for o in spec.units])
        option[rows] = base + rng.choice(w.size, size=rows.size, p=w / w.sum())
        name_base = next(i for i, (aa, _n) in enumerate(NAMES) if aa == a)
        name[rows] = name_base + rng.integers(0, len(spec.names), rows.size)
    return option, name


def write_labs(rng: np.random.Generator, rows: pl.DataFrame) -> pl.DataFrame:
    """rows(pid, day, analyte, value[canonical]) -> contract columns (all text) + pid/day keys."""
    n = rows.height
    option, name = _choose(rng, rows["analyte"].to_numpy())
    opts = [o for _a, o in OPTIONS]
    factor = np.array([o.factor for o in opts])[option]
    canonical = rows["value"].to_numpy()
    value = canonical * factor
    value = np.where(option == HBA1C_PERCENT, canonical / 10.929 + 2.15, value)
    below = np.array([o.below_detection or -1.0 for o in opts])[option]
    detection = take([o.detection_text for o in opts], option)
    seconds = rng.integers(7 * 3600, 18 * 3600, n)
    frame = pl.DataFrame(
        {
            "pid": rows["pid"],
            "day": rows["day"],
            "value_num": value,
            "decimals": np.array([o.decimals for o in opts])[option],
            "below": canonical < below,
            "detection": detection,
            "test_code": take([o.loinc for o in opts], option),
            "has_code": rng.random(n) < TEST_CODE_SHARE,
            "test_name": take([nm for _a, nm in NAMES], name),
            "unit": take([o.unit for o in opts], option),
            "reference_high": take([o.reference_high for o in opts], option),
            "stamp": rng.random(n) < TIMESTAMP_SHARE,
            "secs": seconds,
            "analyte": rows["analyte"],
        }
    )
    time_text = pl.concat_str(
        [
            (pl.col("secs") // 3600).cast(pl.String).str.zfill(2),
            (pl.col("secs") % 3600 // 60).cast(pl.String).str.zfill(2),
            (pl.col("secs") % 60).cast(pl.String).str.zfill(2),
        ],
        separator=":",
    )
    date = pl.col("day").cast(pl.Int32).cast(pl.Date).cast(pl.String)
    return frame.select(
        "pid",
        "day",
        "analyte",
        pl.when(pl.col("stamp"))
        .then(pl.concat_str([date, time_text], separator=" "))
        .otherwise(date)
        .alias("collected_at"),
        pl.when(pl.col("has_code")).then(pl.col("test_code")).otherwise(None).alias("test_code"),
        "test_name",
        pl.when(pl.col("below"))
        .then(pl.col("detection"))
        .otherwise(format_number(pl.col("value_num"), pl.col("decimals")))
        .alias("value"),
        "unit",
        pl.when(pl.col("reference_high") == "")
        .then(None)
        .otherwise(pl.col("reference_high"))
        .alias("reference_high"),
    )
