"""audit.unmapped_values: every source value no concept was found for, with suggestions.

The table itself is a set-based SQL model (`sql/audit/unmapped_values.sql`). Suggestions are
fuzzy matches (rapidfuzz WRatio) computed here, in Python, over the *distinct* unmapped values
only, and at most `vocabulary.suggest_max_values` of them (the most frequent first): a bounded
number of strings against a few hundred reference names, never a loop over patient rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl
from rapidfuzz import fuzz, process, utils

from trscohort.contract import SiteMapping
from trscohort.ingest.staging import template_context
from trscohort.models import Model, build_model

TABLE = "audit.unmapped_values"
MODEL = Model("audit", "unmapped_values")


@dataclass(frozen=True)
class Choice:
    """A reference string a value may be matched to, and what it stands for."""

    text: str
    concept: str
    looks_like: str | None


def _drug_choices(con: duckdb.DuckDBPyConnection) -> list[Choice]:
    rows = con.execute(
        """
        SELECT n.name, d.concept_id, d.is_antipsychotic, d.is_clozapine
        FROM reference.drug_names AS n JOIN reference.drugs AS d USING (concept_id)
        ORDER BY n.name, d.concept_id
        """
    ).fetchall()
    return [
        Choice(name, concept, "clozapine" if clz else "antipsychotic" if ap else None)
        for name, concept, ap, clz in rows
    ]


def _lab_choices(con: duckdb.DuckDBPyConnection) -> list[Choice]:
    rows = con.execute(
        """
        SELECT name, analyte FROM reference.lab_names
        UNION SELECT code, analyte FROM reference.lab_codes
        UNION SELECT replace(analyte, '_', ' '), analyte FROM reference.lab_analytes
        ORDER BY 1, 2
        """
    ).fetchall()
    return [Choice(text, analyte, _analyte_label(analyte)) for text, analyte in rows]


def _analyte_label(analyte: str) -> str:
    return "clozapine level" if analyte == "clozapine_level" else f"monitored analyte ({analyte})"


def _unit_choices(con: duckdb.DuckDBPyConnection) -> dict[str, list[Choice]]:
    by_analyte: dict[str, list[Choice]] = {}
    for analyte, unit in con.execute(
        "SELECT analyte, unit FROM reference.lab_units ORDER BY analyte, unit"
    ).fetchall():
        by_analyte.setdefault(analyte, []).append(Choice(unit, unit, f"unit of {analyte}"))
    return by_analyte


def _diagnosis_choices(con: duckdb.DuckDBPyConnection) -> list[Choice]:
    rows = con.execute(
        # the site vocabulary maps local codes to ICD-10, so only ICD-10 groups are suggested
        "SELECT description, code_prefix, group_id FROM reference.icd10_groups "
        "WHERE code_system LIKE 'ICD10%' AND match = 'prefix' ORDER BY group_id, code_prefix"
    ).fetchall()
    return [
        Choice(
            re.sub(r"\s*\([^)]*\)", "", description),  # "Schizophrenia (TRS-1)" -> "Schizophrenia"
            prefix,
            "schizophrenia diagnosis" if group in ("schizophrenia", "schizoaffective") else None,
        )
        for description, prefix, group in rows
    ]


def unit_key(unit: str | None) -> str:
    """The unit as reference/lab_units.csv writes it (the SQL macro norm_unit, in Python)."""
    text = (unit or "").strip().lower()
    for old, new in (
        ("µ", "u"),
        ("μ", "u"),
        ("×", "x"),
        ("*", "^"),
        ("10⁹", "10^9"),
        ("10⁶", "10^6"),
        ("10³", "10^3"),
        ("³", "3"),
        ("²", "2"),
    ):
        text = text.replace(old, new)
    text = "".join(text.split())
    return text[1:] if text.startswith("x10") else text


def _best(text: str | None, choices: list[Choice], min_score: float) -> tuple[Choice, float] | None:
    if not text or not choices:
        return None
    found = process.extractOne(
        text,
        [c.text for c in choices],
        scorer=fuzz.WRatio,
        processor=utils.default_process,
        score_cutoff=min_score,
    )
    if found is None:
        return None
    _match, score, index = found
    return choices[index], float(score)


def suggest(con: duckdb.DuckDBPyConnection, vocabulary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Suggestions for the most frequent unmapped values (one dict per value that got one)."""
    values = con.execute(
        f"SELECT rank, field, match_text, unit FROM {TABLE} ORDER BY rank LIMIT ?",
        [int(vocabulary["suggest_max_values"])],
    ).fetchall()
    min_score = float(vocabulary["suggest_min_score"])
    looks_min = float(vocabulary["looks_like_min_score"])
    drugs, labs = _drug_choices(con), _lab_choices(con)
    units, diagnoses = _unit_choices(con), _diagnosis_choices(con)
    suggestions = []
    for rank, field, text, unit in values:  # distinct values, bounded by suggest_max_values
        if field == "daily_dose_mg":  # a missing dose, not a name: nothing to suggest
            continue
        if field == "drug":
            best = _best(text, drugs, min_score)
        elif field in ("test_name", "test_code"):
            best = _best(text, labs, min_score)
        elif field == "unit":
            best = _best(text, units.get(unit, []), min_score)
        else:
            best = _best(text, diagnoses, min_score)
        looks_like = f"unit of {unit}" if field == "unit" else None
        if best is not None:
            choice, score = best
            # "Neutrophils" in % is the differential, not the absolute count it resembles
            known_units = {c.text for c in units.get(choice.concept, [])}
            unit_fits = (
                field not in ("test_name", "test_code")
                or not unit
                or (unit_key(unit) in known_units)
            )
            if score >= looks_min and choice.looks_like and unit_fits:
                looks_like = choice.looks_like
            suggestions.append(
                {
                    "rank": rank,
                    "suggested_concept": choice.concept,
                    "suggestion_score": round(score, 1),
                    "suggestion_match": choice.text,
                    "looks_like": looks_like,
                }
            )
        elif looks_like:
            suggestions.append(
                {
                    "rank": rank,
                    "suggested_concept": None,
                    "suggestion_score": None,
                    "suggestion_match": None,
                    "looks_like": looks_like,
                }
            )
    return suggestions


def build_unmapped_values(con: duckdb.DuckDBPyConnection, config: Mapping[str, Any]) -> int:
    """(Re)build audit.unmapped_values from staging and quarantine; returns its row count."""
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    build_model(con, MODEL, template_context(config, SiteMapping()))
    found = suggest(con, config["vocabulary"])
    if found:
        frame = pl.DataFrame(
            found,
            schema={
                "rank": pl.Int32,
                "suggested_concept": pl.String,
                "suggestion_score": pl.Float64,
                "suggestion_match": pl.String,
                "looks_like": pl.String,
            },
        )
        con.register("vocab_suggestions", frame)
        con.execute(
            f"""
            UPDATE {TABLE} AS u SET
                suggested_concept = s.suggested_concept,
                suggestion_score = s.suggestion_score,
                suggestion_match = s.suggestion_match,
                looks_like = s.looks_like
            FROM vocab_suggestions AS s WHERE s.rank = u.rank
            """
        )
        con.unregister("vocab_suggestions")
    return con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]


def audit_vocabulary(con: duckdb.DuckDBPyConnection, config: Mapping[str, Any]) -> tuple[int, list]:
    """audit.unmapped_values and audit.vocabulary_checks; returns (values, checks). The caller
    decides whether a failed check stops the run (`checks.raise_on_errors`)."""
    from trscohort.vocab.checks import run_checks

    count = build_unmapped_values(con, config)
    return count, run_checks(con, config)
