"""Drug names and CPZ factors read from the project's reference CSVs at generation time."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trscohort.synth.params import DRUG_POPULARITY, TRIAL_GENERICS

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"


@dataclass(frozen=True)
class DrugTable:
    """Non-clozapine antipsychotic generics usable for trials (index = generic id)."""

    generics: list[str]
    weights: np.ndarray  # sampling weight per generic
    oral_concept: list[str]
    lai_concept: list[str | None]
    names: dict[str, list[str]]  # concept_id -> spellings (first = generic spelling)
    eq100: dict[str, float]  # concept_id -> mg/day equivalent to 100 mg/day CPZ
    clozapine_names: list[str]
    comed_names: dict[str, list[str]]  # comedication concept_id -> spellings

    @property
    def has_lai(self) -> np.ndarray:
        return np.array([c is not None for c in self.lai_concept])


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _number(row: dict[str, str], key: str) -> float | None:
    text = (row.get(key) or "").strip()
    return float(text) if text else None


def _cpz_factor(row: dict[str, str]) -> float | None:
    """mg/day equivalent to 100 mg/day CPZ by the default `ingest.cpz_methods` order (TRS-4):
    Gardner 2010 (median / 6 per day), Leucht 2016 (DDD / 3), Leucht 2020 (x 100/30), DDD / 3."""
    median, interval = _number(row, "g10_median_mg"), _number(row, "g10_interval_days") or 1.0
    ddd, olz = _number(row, "who_ddd_mg"), _number(row, "l20_olz_eq_mg")
    if median:
        return median / interval / 6
    if ddd and row.get("in_leucht2016", "").strip() == "true":
        return ddd / 3
    if olz:
        return olz * 100 / 30
    return ddd / 3 if ddd else None


def _spellings(row: dict[str, str]) -> list[str]:
    names = [n.strip() for n in row["names"].split("|") if n.strip()]
    generic = row["generic_name"].strip()
    if row.get("formulation", "oral") == "lai":
        return names  # LAI names are already "haloperidol decanoate" etc.
    return [generic] + [n for n in names if n != generic]


def load_drugs(reference_dir: Path = REFERENCE_DIR) -> DrugTable:
    """Build the drug table from antipsychotics.csv and comedications.csv."""
    rows = _read(reference_dir / "antipsychotics.csv")
    names: dict[str, list[str]] = {}
    eq100: dict[str, float] = {}
    oral: dict[str, str] = {}
    lai: dict[str, str] = {}
    clozapine_names: list[str] = []
    for row in rows:
        concept = row["concept_id"].strip()
        names[concept] = _spellings(row)
        if row["is_clozapine"].strip().lower() == "true":
            clozapine_names = names[concept]
            continue
        factor = _cpz_factor(row)
        generic = row["generic_name"].strip()
        if factor is None or generic not in TRIAL_GENERICS:
            continue
        eq100[concept] = factor
        if row["formulation"].strip() != "lai":
            oral.setdefault(generic, concept)
        elif row.get("default_lai", "").strip() == "true":
            lai.setdefault(generic, concept)
    generics = sorted(oral)
    weights = np.array([DRUG_POPULARITY.get(g, 1) for g in generics], dtype=float)
    comed_rows = _read(reference_dir / "comedications.csv")
    comed_names = {
        r["concept_id"].strip(): [r["generic_name"].strip()]
        + [n for n in r["names"].split("|") if n.strip() and n != r["generic_name"].strip()]
        for r in comed_rows
    }
    if not clozapine_names:
        raise ValueError("antipsychotics.csv has no clozapine row")
    return DrugTable(
        generics=generics,
        weights=weights / weights.sum(),
        oral_concept=[oral[g] for g in generics],
        lai_concept=[lai.get(g) for g in generics],
        names=names,
        eq100=eq100,
        clozapine_names=clozapine_names,
        comed_names=comed_names,
    )
