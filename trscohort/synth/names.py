"""Drug names as written in extracts: generic ~70 %, brand/synonym ~30 %, with case variants."""

from __future__ import annotations

import numpy as np
import polars as pl

from trscohort.synth.params import GENERIC_NAME_SHARE
from trscohort.synth.reference import DrugTable

UNKNOWN_DRUGS = {"unknown_vitamin_d": ["vitamin d"], "unknown_paracetamol": ["paracetamol"]}


def spellings_book(drugs: DrugTable) -> dict[str, list[str]]:
    book = dict(drugs.names)
    book.update(drugs.comed_names)
    book.update(UNKNOWN_DRUGS)
    return book


def write_drug_names(rng: np.random.Generator, concepts: np.ndarray, book: dict) -> pl.Series:
    """One written name per row for the given concept ids."""
    n = concepts.size
    if n == 0:
        return pl.Series([], dtype=pl.String)
    unique, inverse = np.unique(concepts.astype(str), return_inverse=True)
    flat: list[str] = []
    offsets, counts = [], []
    for concept in unique:  # loop over distinct drugs, not rows
        offsets.append(len(flat))
        counts.append(len(book[concept]))
        flat.extend(book[concept])
    offset = np.array(offsets)[inverse]
    count = np.array(counts)[inverse]
    brand = (rng.random(n) >= GENERIC_NAME_SHARE) & (count > 1)
    other = 1 + np.floor(rng.random(n) * np.maximum(count - 1, 1)).astype(np.int64)
    index = offset + np.where(brand, other, 0)
    u = rng.random(n)
    frame = pl.DataFrame(
        {
            "name": pl.Series(flat, dtype=pl.String).gather(pl.Series(index)),
            "brand": brand,
            "u": u,
        }
    )
    title = pl.col("name").str.to_titlecase()
    upper = pl.col("name").str.to_uppercase()
    written = (
        pl.when(pl.col("brand") & (pl.col("u") < 0.7))
        .then(title)
        .when(pl.col("brand") & (pl.col("u") < 0.9))
        .then(upper)
        .when(~pl.col("brand") & (pl.col("u") < 0.15))
        .then(title)
        .otherwise(pl.col("name"))
    )
    return frame.select(written).to_series()
