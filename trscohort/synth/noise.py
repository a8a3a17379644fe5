"""Noise: extra rows only (never a replacement of a row the ground truth depends on)."""

from __future__ import annotations

import numpy as np
import polars as pl

from trscohort.synth.labs_spec import A
from trscohort.synth.params import NOISE_SHARES


def _sample(rng: np.random.Generator, candidates: np.ndarray, share: float) -> np.ndarray:
    count = min(candidates.size, int(round(share * candidates.size)))
    return np.sort(rng.choice(candidates, size=count, replace=False)) if count else candidates[:0]


def lab_noise(rng: np.random.Generator, labs: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """Duplicates, impossible dates, unknown patients, ANC with unit 'foo' or value '-5'."""
    rows = np.arange(labs.height)
    anc = np.flatnonzero(labs["analyte"].to_numpy() == A.ANC)
    labs = labs.with_columns(pl.lit(None, dtype=pl.String).alias("patient_id"))
    pick = {
        "duplicate_lab_rows": _sample(rng, rows, NOISE_SHARES["duplicate_lab_rows"]),
        "lab_impossible_date": _sample(rng, rows, NOISE_SHARES["lab_impossible_date"]),
        "lab_unknown_patient": _sample(rng, rows, NOISE_SHARES["lab_unknown_patient"]),
        "anc_unit_foo": _sample(
            rng, anc, NOISE_SHARES["anc_unit_foo"] * rows.size / max(1, anc.size)
        ),
        "anc_negative_value": _sample(
            rng, anc, NOISE_SHARES["anc_negative_value"] * rows.size / max(1, anc.size)
        ),
    }
    stranger = rng.integers(0, 10**7, pick["lab_unknown_patient"].size)
    extra = [
        labs[pick["duplicate_lab_rows"]],
        labs[pick["lab_impossible_date"]].with_columns(pl.lit("2023-02-30").alias("collected_at")),
        labs[pick["lab_unknown_patient"]].with_columns(
            (pl.lit("PX") + pl.Series(stranger).cast(pl.String).str.zfill(7)).alias("patient_id")
        ),
        labs[pick["anc_unit_foo"]].with_columns(pl.lit("foo").alias("unit")),
        labs[pick["anc_negative_value"]].with_columns(pl.lit("-5").alias("value")),
    ]
    out = pl.concat([labs, *extra]).sort(["pid", "day"], maintain_order=True)
    return out, {k: int(v.size) for k, v in pick.items()}


def prescription_noise(rng: np.random.Generator, rx: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """Exact duplicate prescription rows."""
    pick = _sample(rng, np.arange(rx.height), NOISE_SHARES["duplicate_prescription_rows"])
    out = pl.concat([rx, rx[pick]]).sort(["pid", "day"], maintain_order=True)
    return out, {"duplicate_prescription_rows": int(pick.size)}
