"""A site's own values mapped to the project's concepts: the mapping file's `concepts:` section.

```yaml
concepts:
  labs: {"NEUT-ABS-LAB7": anc, "CLOZ LVL": clozapine_level}   # test code or name -> analyte
  drugs: {"Clozapine Mylan 100mg tab": clozapine}             # name as written -> drug
  diagnoses: {"SCZ-PARANOID": F20.0, "ECT01": ect}            # local code -> ICD-10 code
                                                              # (or a procedure, procedures.csv)
  assessments: {"PANSS-TOT-LOCAL": PANSS}                     # instrument name -> instrument
  file: site_concepts.csv                                     # source_value,domain,concept
```

A concept of `ignore` marks a value as reviewed and deliberately left unmapped (it stays in
staging as an unknown test / other drug / unrecognised code, and leaves the unmapped report).
Every entry is checked before the run: an unknown domain, a concept not in the reference lists
or a malformed entry is a one-line UsageError naming it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from trscohort.errors import UsageError
from trscohort.reference import REFERENCE_DIR

DOMAINS = ("labs", "drugs", "diagnoses", "assessments")
IGNORE = "ignore"
CSV_COLUMNS = ("source_value", "domain", "concept")
ICD10 = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$")


@dataclass(frozen=True)
class SiteConcept:
    """One site value -> concept (None: deliberately ignored), with where it was written."""

    domain: str
    source_value: str
    concept: str | None
    origin: str


def _read_reference(name: str) -> list[dict[str, str]]:
    with (REFERENCE_DIR / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@cache
def lab_concepts() -> dict[str, str]:
    """analyte id (lower case) -> analyte id."""
    return {r["analyte"].lower(): r["analyte"] for r in _read_reference("lab_analytes")}


@cache
def procedure_concepts() -> dict[str, str]:
    """procedure concept id (lower case) -> id: codes a site maps in the diagnoses domain that
    are not ICD-10 diagnoses (ECT for QI-AUG; reference/procedures.csv)."""
    return {r["concept_id"].lower(): r["concept_id"] for r in _read_reference("procedures")}


@cache
def drug_concepts() -> dict[str, str]:
    """concept id or generic name (lower case) -> concept id; a generic name means its oral
    form (a prescription with route `lai` still maps to the long-acting form)."""
    found: dict[str, str] = {}
    for table in ("antipsychotics", "comedications"):
        for r in _read_reference(table):
            found[r["concept_id"].lower()] = r["concept_id"]
    for table in ("antipsychotics", "comedications"):
        for r in _read_reference(table):
            if r.get("formulation", "oral") == "oral":
                found.setdefault(r["generic_name"].lower(), r["concept_id"])
    return found


@cache
def instrument_concepts() -> dict[str, str]:
    """instrument (lower case) -> instrument as in assessment_instruments.csv."""
    return {
        r["instrument"].lower(): r["instrument"] for r in _read_reference("assessment_instruments")
    }


def source_key(domain: str, value: str) -> str:
    """How a source value is compared (the SQL models normalise the extracts the same way):
    diagnosis codes upper case without dots or spaces, other values lower case single-spaced."""
    if domain == "diagnoses":
        return re.sub(r"[.\s]", "", value.strip()).upper()
    return " ".join(value.lower().split())


def resolve_concept(domain: str, concept: object, where: str) -> str | None:
    """The project concept an entry names, or a UsageError naming the entry."""
    if not isinstance(concept, str) or not concept.strip():
        raise UsageError(f"{where}: the concept must be a non-empty text (or '{IGNORE}')")
    text = concept.strip()
    if text.lower() == IGNORE:
        return None
    if domain == "labs":
        known = lab_concepts()
        if text.lower() not in known:
            raise UsageError(
                f"{where}: unknown lab analyte '{text}' (known: {', '.join(sorted(known))})"
            )
        return known[text.lower()]
    if domain == "assessments":
        known = instrument_concepts()
        if text.lower() not in known:
            raise UsageError(
                f"{where}: unknown instrument '{text}' (known: {', '.join(known.values())})"
            )
        return known[text.lower()]
    if domain == "drugs":
        known = drug_concepts()
        if text.lower() not in known:
            raise UsageError(
                f"{where}: unknown drug '{text}' (use a generic name or concept_id of "
                "reference/antipsychotics.csv or comedications.csv, or 'ignore')"
            )
        return known[text.lower()]
    if text.lower() in procedure_concepts():
        return procedure_concepts()[text.lower()]
    code = re.sub(r"\s", "", text).upper()
    if not ICD10.match(code):
        raise UsageError(
            f"{where}: '{text}' is not an ICD-10 code (e.g. F20.0 or F200) "
            f"or a procedure ({', '.join(sorted(procedure_concepts()))})"
        )
    return code.replace(".", "")


def _entry(domain: str, value: object, concept: object, where: str) -> SiteConcept:
    if domain not in DOMAINS:
        raise UsageError(f"{where}: unknown domain '{domain}' (known: {', '.join(DOMAINS)})")
    if (
        not isinstance(value, (str, int, float))
        or isinstance(value, bool)
        or not str(value).strip()
    ):
        raise UsageError(f"{where}: a source value must be a non-empty text")
    text = str(value).strip()
    return SiteConcept(domain, text, resolve_concept(domain, concept, where), where)


def _csv_entries(path: Path, where: str) -> list[SiteConcept]:
    if not path.is_file():
        raise UsageError(f"{where}: concepts file '{path}' not found")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [c.strip().lower() for c in (reader.fieldnames or [])]
            missing = [c for c in CSV_COLUMNS if c not in header]
            if missing:
                raise UsageError(
                    f"{path}: missing column(s) {', '.join(missing)}; "
                    f"expected {', '.join(CSV_COLUMNS)}"
                )
            reader.fieldnames = header
            rows = list(reader)
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    return [
        _entry(
            (r.get("domain") or "").strip().lower(),
            r.get("source_value"),
            r.get("concept"),
            f"{path.name} line {line}",
        )
        for line, r in enumerate(rows, start=2)
    ]


def parse_concepts(section: object, mapping_path: Path) -> tuple[SiteConcept, ...]:
    """The `concepts:` section of a mapping file (inline entries and/or CSV files)."""
    where = f"{mapping_path}: concepts"
    if section is None:
        return ()
    if not isinstance(section, Mapping):
        raise UsageError(f"{where} must be a mapping of {', '.join(DOMAINS)} and file")
    entries: list[SiteConcept] = []
    for key, value in section.items():
        if key in ("file", "files"):
            files = [value] if isinstance(value, str) else value
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                raise UsageError(f"{where}.{key} must name a CSV file (or a list of them)")
            for name in files:
                entries += _csv_entries(mapping_path.parent / name, f"{where}.{key}")
            continue
        if key not in DOMAINS:
            raise UsageError(f"{where}: unknown domain '{key}' (known: {', '.join(DOMAINS)}, file)")
        if not isinstance(value, Mapping):
            raise UsageError(f"{where}.{key} must map source values to concepts")
        entries += [
            _entry(key, source, concept, f"{where}.{key} '{source}'")
            for source, concept in value.items()
        ]
    _check_conflicts(entries)
    return tuple(entries)


def _check_conflicts(entries: list[SiteConcept]) -> None:
    seen: dict[tuple[str, str], SiteConcept] = {}
    for entry in entries:
        key = (entry.domain, source_key(entry.domain, entry.source_value))
        first = seen.setdefault(key, entry)
        if first.concept != entry.concept:
            raise UsageError(
                f"{entry.origin}: '{entry.source_value}' is mapped to "
                f"{entry.concept or IGNORE} here and to {first.concept or IGNORE} in "
                f"{first.origin}"
            )
