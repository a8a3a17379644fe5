"""The input contract: the extracts a site delivers, their canonical columns, site mappings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trscohort.errors import ContractError, UsageError, read_yaml_mapping
from trscohort.vocab.site import SiteConcept, parse_concepts

FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # text, date, timestamp, number, integer, bool
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class Extract:
    name: str
    required: bool
    columns: tuple[Column, ...]
    description: str = ""
    # Optional columns of which at least one group must be present in the file.
    one_of: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def _c(name: str, kind: str, required: bool = True, description: str = "") -> Column:
    return Column(name, kind, required, description)


EXTRACTS: dict[str, Extract] = {
    e.name: e
    for e in (
        Extract(
            "patients",
            True,
            (
                _c("patient_id", "text", description="unique patient identifier"),
                _c("birth_date", "date"),
                _c("sex", "text", description="F/M/U; common spellings mapped"),
                _c("benign_ethnic_neutropenia", "bool", False, "default false"),
                _c("site", "text", False),
                _c("death_date", "date", False),
            ),
            "one row per patient",
        ),
        Extract(
            "prescriptions",
            True,
            (
                _c("patient_id", "text"),
                _c("drug", "text", description="generic or brand name as written"),
                _c("start_date", "date"),
                _c("end_date", "date", description="empty = still active at the as-of date"),
                _c("daily_dose_mg", "number", False, "mg per day"),
                _c("route", "text", False, "oral / lai / other"),
                _c("prescription_id", "text", False),
                _c("dose_mg", "number", False, "mg per administration (e.g. per injection)"),
                _c("interval_days", "number", False, "days between administrations"),
            ),
            "one row per prescription",
            one_of=(("daily_dose_mg",), ("dose_mg", "interval_days")),
        ),
        Extract(
            "labs",
            True,
            (
                _c("patient_id", "text"),
                _c("collected_at", "timestamp"),
                _c("test_code", "text", False, "LOINC or local code"),
                _c("test_name", "text"),
                _c("value", "text", description='number, or text such as "<0.5"'),
                _c("unit", "text"),
                _c("reference_high", "number", False),
            ),
            "lab results and vital signs",
        ),
        Extract(
            "diagnoses",
            True,
            (
                _c("patient_id", "text"),
                _c("code", "text", description="ICD-10, with or without the dot"),
                _c("code_system", "text", False, "default ICD10"),
                _c("diagnosed_at", "date"),
                _c("description", "text", False),
            ),
            "one row per recorded diagnosis",
        ),
        Extract(
            "dispensings",
            False,
            (
                _c("patient_id", "text"),
                _c("drug", "text"),
                _c("dispensed_date", "date"),
                _c("days_supply", "integer"),
            ),
            "pharmacy dispensings",
        ),
        Extract(
            "assessments",
            False,
            (
                _c("patient_id", "text"),
                _c("assessed_at", "date"),
                _c("instrument", "text", description="PANSS, BPRS, CGI-S, GAF, SOFAS"),
                _c("score", "number", description="total score"),
            ),
            "symptom and functioning scales",
        ),
        Extract(
            "observation_periods",
            False,
            (
                _c("patient_id", "text"),
                _c(
                    "start_date", "date", description="first day the patient's records are complete"
                ),
                _c("end_date", "date", description="last such day (empty = up to the as-of date)"),
            ),
            "spans of time in which the patient's records are complete (OMOP observation_period)",
        ),
    )
}

# Patients first: every other extract's rows are checked against staged patients.
EXTRACT_ORDER: tuple[str, ...] = tuple(EXTRACTS)


@dataclass(frozen=True)
class ExtractMapping:
    """How one site's file maps onto an extract: its file name, column names and date formats."""

    file: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)  # canonical -> site column
    date_formats: tuple[str, ...] = ()


@dataclass(frozen=True)
class SiteMapping:
    extracts: Mapping[str, ExtractMapping] = field(default_factory=dict)
    date_formats: tuple[str, ...] = ()
    concepts: tuple[SiteConcept, ...] = ()  # the site vocabulary (`concepts:` section)

    def for_extract(self, name: str) -> ExtractMapping:
        return self.extracts.get(name, ExtractMapping())

    def date_formats_for(self, name: str) -> tuple[str, ...]:
        return self.for_extract(name).date_formats + self.date_formats


def _formats(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise UsageError(f"{where}: date_format must be a string or a list of strings")


def _extract_mapping(name: str, spec: object, where: str) -> ExtractMapping:
    if name not in EXTRACTS:
        raise UsageError(f"{where}: unknown extract '{name}' (known: {', '.join(EXTRACTS)})")
    if not isinstance(spec, Mapping):
        raise UsageError(f"{where}: '{name}' must be a mapping")
    keys = {"file", "columns", "date_format"}
    # Shorthand: `patients: {patient_id: MRN}` is a bare column mapping.
    columns = spec.get("columns", {}) if keys & set(spec) else spec
    if not isinstance(columns, Mapping):
        raise UsageError(f"{where}: '{name}.columns' must be a mapping")
    for canonical, site_col in columns.items():
        if canonical not in EXTRACTS[name].column_names:
            raise UsageError(f"{where}: '{name}' has no canonical column '{canonical}'")
        if not isinstance(site_col, str) or not site_col:
            raise UsageError(f"{where}: '{name}.{canonical}' must name a site column")
    file = spec.get("file") if keys & set(spec) else None
    return ExtractMapping(
        file=file,
        columns=dict(columns),
        date_formats=_formats(spec.get("date_format") if keys & set(spec) else None, where),
    )


def load_mapping(path: str | Path | None) -> SiteMapping:
    """Parse a site mapping YAML (canonical column -> site column, date formats, file names)."""
    if path is None:
        return SiteMapping()
    data = read_yaml_mapping(path, "mapping")
    unknown = set(data) - {"date_format", "extracts", "concepts"}
    if unknown:
        raise UsageError(
            f"{path}: unknown key(s) {sorted(unknown)}; use 'extracts', 'date_format' "
            "and 'concepts'"
        )
    extracts = data.get("extracts") or {}
    if not isinstance(extracts, Mapping):
        raise UsageError(f"{path}: 'extracts' must be a mapping")
    return SiteMapping(
        extracts={n: _extract_mapping(n, s, str(path)) for n, s in extracts.items()},
        date_formats=_formats(data.get("date_format"), str(path)),
        concepts=parse_concepts(data.get("concepts"), Path(path)),
    )


@dataclass(frozen=True)
class SourceFile:
    extract: str
    path: Path

    @property
    def format(self) -> str:
        return "parquet" if self.path.name.endswith(".parquet") else "csv"


def _outside(mapped: str) -> bool:
    """Whether a mapping's `file:` leaves the input folder (absolute, or ../ after normalising).
    Read lexically: a symlink the site placed inside its input folder is the site's choice."""
    path = Path(mapped)
    return path.is_absolute() or os.path.normpath(path).split(os.sep)[0] == os.pardir


def default_input_dir() -> Path:
    """`data/sample` under the working folder (a checkout), else the 500-patient synthetic sample
    shipped inside the package (a wheel install run from anywhere)."""
    here = Path("data/sample")
    return here if here.is_dir() else Path(__file__).resolve().parent / "sample"


def discover_sources(
    input_dir: str | Path, mapping: SiteMapping, *, allow_outside: bool = False
) -> dict[str, SourceFile]:
    """Find each extract's file; a missing required extract or an ambiguous one is an error,
    and so is a mapping `file:` outside the input folder unless `allow_outside`
    (config `ingest.allow_files_outside_input`)."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise UsageError(f"{input_dir}: input folder not found")
    found: dict[str, SourceFile] = {}
    for name, extract in EXTRACTS.items():
        mapped = mapping.for_extract(name).file
        if mapped and not allow_outside and _outside(mapped):
            raise UsageError(
                f"mapping: extracts.{name}.file '{mapped}' is outside the input folder "
                f"{input_dir}; set ingest.allow_files_outside_input: true in the config to allow it"
            )
        candidates = (
            [input_dir / mapped] if mapped else [input_dir / f"{name}{s}" for s in FILE_SUFFIXES]
        )
        present = [p for p in candidates if p.is_file()]
        if len(present) > 1:
            names = ", ".join(p.name for p in present)
            raise ContractError(f"{input_dir}: extract '{name}' is ambiguous ({names}); keep one")
        if present:
            found[name] = SourceFile(name, present[0])
        elif extract.required:
            expected = mapped or f"{name}.csv, {name}.csv.gz or {name}.parquet"
            raise ContractError(f"{input_dir}: required extract '{name}' not found ({expected})")
    return found
