"""`trscohort vocab suggest`: the unmapped values as a commented `concepts:` draft.

Every entry is written commented out: a pharmacist or lab scientist confirms (or corrects) it
and removes the `#` before it is used; nothing is ever applied unreviewed.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import duckdb

from trscohort.config import load_config
from trscohort.contract import EXTRACT_ORDER, discover_sources, load_mapping
from trscohort.ingest import ingest_extract
from trscohort.ingest.staging import load_reference
from trscohort.omop import CdmSource, cdm_sources
from trscohort.omop.check import check_cdm
from trscohort.vocab.unmapped import TABLE, build_unmapped_values

DOMAIN_OF_FIELD = {"drug": "drugs", "test_name": "labs", "test_code": "labs", "code": "diagnoses"}
COLUMNS = (
    "extract", "field", "source_value", "source_code", "unit", "description", "n_rows",
    "n_patients", "first_date", "last_date", "suggested_concept", "suggestion_score",
    "suggestion_match", "looks_like",
)  # fmt: skip


def unmapped_rows(
    input_dir: Path,
    mapping_path: Path | None,
    config_path: Path | None,
    cdm: CdmSource | None = None,
) -> list[dict]:
    """Ingest the extracts (or the OMOP CDM `cdm`) into a scratch DuckDB file and return
    audit.unmapped_values rows."""
    config = load_config(config_path)
    mapping = load_mapping(mapping_path)
    if cdm is not None:
        check_cdm(cdm, mapping)
    sources = cdm_sources(cdm) if cdm is not None else discover_sources(input_dir, mapping)
    with tempfile.TemporaryDirectory(prefix="trscohort-vocab-") as scratch:
        con = duckdb.connect(str(Path(scratch) / "vocab.duckdb"))
        try:
            load_reference(con, config, mapping)
            for extract in EXTRACT_ORDER:
                ingest_extract(con, extract, sources.get(extract), mapping, config)
            build_unmapped_values(con, config)
            rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} ORDER BY rank").fetchall()
        finally:
            con.close()
    return [dict(zip(COLUMNS, r, strict=True)) for r in rows]


def _about(row: dict) -> str:
    facts = [f"{row['n_rows']:,} rows", f"{row['n_patients']:,} patients"]
    if row["first_date"]:
        facts.append(f"{row['first_date']}..{row['last_date']}")
    if row["extract"] == "labs" and row["source_code"] and row["field"] == "test_name":
        facts.append(f"code {row['source_code']}")
    if row["extract"] == "labs" and row["unit"]:
        facts.append(f"unit {row['unit']}")
    if row["extract"] == "diagnoses":
        facts.append(f"system {row['source_code']}")
        if row["description"]:
            facts.append(f"description {json.dumps(row['description'], ensure_ascii=False)}")
    if row["extract"] == "dispensings":
        facts.append("dispensings")
    return "; ".join(facts)


def _suggestion(row: dict) -> str:
    if not row["suggested_concept"]:
        return "no suggestion: name the concept, or `ignore` if it is not needed"
    text = (
        f"suggested {row['suggested_concept']} (similarity {row['suggestion_score']:.0f} "
        f"to {json.dumps(row['suggestion_match'], ensure_ascii=False)})"
    )
    if row["looks_like"]:
        text += f"; LOOKS LIKE {row['looks_like'].upper()}"
    return text


def render_draft(rows: list[dict], input_dir: Path | str, mapping_path: Path | None) -> str:
    """The commented YAML draft: one block per domain, values biggest first."""
    lines = [
        f"# trscohort vocab suggest: {input_dir}"
        + (f" (mapping {mapping_path})" if mapping_path else "")
        + f", {dt.date.today().isoformat()}",
        "# DRAFT for review by a pharmacist (drugs) or lab scientist (labs): every entry is",
        "# commented out. Confirm or correct the concept, remove the '#', and copy the entries",
        "# into your mapping file's `concepts:` section. Suggestions are fuzzy text matches",
        "# (rapidfuzz WRatio 0-100): similarity, not evidence. `ignore` marks a value as",
        "# reviewed and not needed (an unlisted co-medication, a test the project does not use).",
        "concepts:",
    ]
    seen: set[tuple[str, str]] = set()
    for domain in ("labs", "drugs", "diagnoses"):
        entries = [r for r in rows if DOMAIN_OF_FIELD.get(r["field"]) == domain]
        lines.append(f"  {domain}:" + ("" if entries else " {}"))
        for row in entries:
            key = (domain, row["source_value"].lower())
            if key in seen:  # the same drug name in prescriptions and dispensings
                continue
            seen.add(key)
            concept = row["suggested_concept"] or "ignore"
            value = json.dumps(row["source_value"], ensure_ascii=False)
            lines += [
                f"    # {_about(row)}",
                f"    # {_suggestion(row)}",
                f"    # {value}: {concept}",
            ]
    units = [r for r in rows if r["field"] == "unit"]
    if units:
        lines.append("# Units that got rows of a monitored analyte quarantined (a unit is not a")
        lines.append("# concept: convert it, or propose it for reference/lab_units.csv):")
        lines += [f"#   {r['unit']}: {json.dumps(r['source_value'])} ({_about(r)})" for r in units]
    return "\n".join(lines) + "\n"


def suggest_draft(
    input_dir: Path,
    mapping_path: Path | None = None,
    config_path: Path | None = None,
    cdm: CdmSource | None = None,
) -> str:
    rows = unmapped_rows(input_dir, mapping_path, config_path, cdm)
    return render_draft(rows, cdm.label() if cdm else input_dir, mapping_path)
