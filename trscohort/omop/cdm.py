"""An OMOP CDM v5.4 as an input: where its tables are, and uniform read-only views over them.

A CDM is either a folder of one file per table (`person.csv`, `PERSON.csv`, `person.csv.gz`,
`person.tsv` or `person.parquet`, as OHDSI tools and Athena export them) or a DuckDB file (one
schema of it, `--omop-schema`). Each table the mapping reads becomes a temporary view
`cdm_<table>` on the connection, with the v5.4 column names of `TABLES` in lower case: id
columns as BIGINT, every other column as text (the raw layer is text; staging types it, so a bad
value is quarantined with what was written instead of failing the load). An absent optional
table, or an absent optional column, reads as empty / NULL.

Column names and which are required follow the OHDSI DDL for v5.4
(OHDSI/CommonDataModel, inst/ddl/5.4/duckdb/OMOPCDM_duckdb_5.4_ddl.sql; `NOT NULL` there is
`required` here only where the mapping cannot work without the column).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb

from trscohort.errors import ContractError, UsageError
from trscohort.ingest.raw import csv_dialect, quote_ident, quote_literal, sha256_of

ATTACHED = "omop_cdm"
FILE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet")


@dataclass(frozen=True)
class CdmColumn:
    name: str
    is_id: bool = False  # integer id or concept id: BIGINT in the view; else text
    required: bool = False


@dataclass(frozen=True)
class CdmTable:
    name: str
    columns: tuple[CdmColumn, ...]
    required: bool = False
    primary_key: str | None = None


def _id(name: str, required: bool = False) -> CdmColumn:
    return CdmColumn(name, True, required)


def _text(name: str, required: bool = False) -> CdmColumn:
    return CdmColumn(name, False, required)


# The v5.4 tables and columns the mapping reads (a subset of each table's columns).
TABLES: dict[str, CdmTable] = {
    t.name: t
    for t in (
        CdmTable(
            "person",
            (
                _id("person_id", True),
                _id("gender_concept_id"),
                _text("year_of_birth", True),
                _text("month_of_birth"),
                _text("day_of_birth"),
                _text("birth_datetime"),
                _id("care_site_id"),
                _text("gender_source_value"),
            ),
            required=True,
            primary_key="person_id",
        ),
        CdmTable(
            "observation_period",
            (
                _id("observation_period_id", True),
                _id("person_id", True),
                _text("observation_period_start_date", True),
                _text("observation_period_end_date", True),
            ),
            required=True,
            primary_key="observation_period_id",
        ),
        CdmTable(
            "drug_exposure",
            (
                _id("drug_exposure_id", True),
                _id("person_id", True),
                _id("drug_concept_id", True),
                _text("drug_exposure_start_date", True),
                _text("drug_exposure_end_date", True),
                _id("drug_type_concept_id", True),
                _text("quantity"),
                _text("days_supply"),
                _text("sig"),
                _id("route_concept_id"),
                _text("drug_source_value"),
                _text("route_source_value"),
                _text("dose_unit_source_value"),
            ),
            required=True,
            primary_key="drug_exposure_id",
        ),
        CdmTable(
            "measurement",
            (
                _id("measurement_id", True),
                _id("person_id", True),
                _id("measurement_concept_id", True),
                _text("measurement_date", True),
                _text("measurement_datetime"),
                _id("operator_concept_id"),
                _text("value_as_number"),
                _id("unit_concept_id"),
                _text("range_high"),
                _text("measurement_source_value"),
                _id("measurement_source_concept_id"),
                _text("unit_source_value"),
                _text("value_source_value"),
            ),
            required=True,
            primary_key="measurement_id",
        ),
        CdmTable(
            "condition_occurrence",
            (
                _id("condition_occurrence_id", True),
                _id("person_id", True),
                _id("condition_concept_id", True),
                _text("condition_start_date", True),
                _text("condition_source_value"),
                _id("condition_source_concept_id"),
            ),
            required=True,
            primary_key="condition_occurrence_id",
        ),
        CdmTable("death", (_id("person_id", True), _text("death_date", True))),
        CdmTable(
            "observation",
            (
                _id("observation_id", True),
                _id("person_id", True),
                _id("observation_concept_id", True),
                _text("observation_date", True),
                _text("value_as_number"),
                _text("observation_source_value"),
                _text("value_source_value"),
            ),
            primary_key="observation_id",
        ),
        CdmTable("care_site", (_id("care_site_id", True), _text("care_site_name"))),
        CdmTable(
            "concept",
            (
                _id("concept_id", True),
                _text("concept_name"),
                _text("domain_id"),
                _text("vocabulary_id"),
                _text("concept_class_id"),
                _text("concept_code"),
            ),
        ),
        CdmTable(
            "concept_ancestor",
            (
                _id("ancestor_concept_id", True),
                _id("descendant_concept_id", True),
                _id("min_levels_of_separation"),
            ),
        ),
        CdmTable(
            "concept_relationship",
            (_id("concept_id_1", True), _id("concept_id_2", True), _text("relationship_id", True)),
        ),
        CdmTable(
            "drug_strength",
            (
                _id("drug_concept_id", True),
                _id("ingredient_concept_id", True),
                _text("amount_value"),
                _id("amount_unit_concept_id"),
                _text("numerator_value"),
                _id("numerator_unit_concept_id"),
                _text("denominator_value"),
                _id("denominator_unit_concept_id"),
            ),
        ),
    )
}


@dataclass(frozen=True)
class CdmSource:
    """Where a CDM is: a folder of table files, or a DuckDB file (and the schema in it)."""

    path: Path
    schema: str | None = None

    @property
    def is_duckdb(self) -> bool:
        return self.path.is_file()

    def label(self) -> str:
        return f"omop:{self.path}" + (f" (schema {self.schema})" if self.schema else "")


@dataclass(frozen=True)
class CdmExtract:
    """One extract of the contract, read from a CDM (what `ingest_extract` is given)."""

    extract: str
    cdm: CdmSource

    @property
    def path(self) -> Path:
        return self.cdm.path

    @property
    def format(self) -> str:
        return "omop"

    def describe(self) -> str:
        from trscohort.omop.load import SOURCE_TABLES

        return f"{self.cdm.label()}: {', '.join(SOURCE_TABLES[self.extract])}"


def check_source(source: CdmSource) -> None:
    if not source.path.exists():
        raise UsageError(f"--omop: '{source.path}' not found (a CDM folder or a .duckdb file)")
    if source.is_duckdb and source.path.suffix.lower() not in (".duckdb", ".db", ".ddb"):
        raise UsageError(f"--omop: '{source.path}' is neither a folder nor a DuckDB file")
    if source.schema and not source.is_duckdb:
        raise UsageError("--omop-schema applies to a DuckDB CDM file, not to a folder")


def _table_files(folder: Path) -> dict[str, list[Path]]:
    """CDM table -> its file(s): `<table>.<suffix>`, or a folder `<table>/` of Parquet files
    (as Spark and `duckcdm export-parquet` write them)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        lower = path.name.lower()
        if path.is_dir() and lower in TABLES and any(path.rglob("*.parquet")):
            found.setdefault(lower, []).append(path)
            continue
        for suffix in FILE_SUFFIXES:
            if path.is_file() and lower.endswith(suffix):
                found.setdefault(lower[: -len(suffix)], []).append(path)
                break
    return found


def _file_relation(path: Path) -> str:
    if path.is_dir():
        return (
            f"read_parquet({quote_literal(str(path / '**' / '*.parquet'))}, union_by_name = true)"
        )
    if path.name.lower().endswith(".parquet"):
        return f"read_parquet({quote_literal(str(path))})"
    dialect = csv_dialect(path)
    columns = ", ".join(f"{quote_literal(c)}: 'VARCHAR'" for c in dialect.columns)
    # Athena's vocabulary files are tab-separated with unescaped quotes inside concept names:
    # a tab-separated file is read without a quote character.
    quote = "''" if dialect.delimiter == "\t" else "'\"'"
    return (
        f"read_csv({quote_literal(str(path))}, header = true, auto_detect = false, "
        f"columns = {{{columns}}}, delim = {quote_literal(dialect.delimiter)}, quote = {quote}, "
        f"escape = {quote}, encoding = '{dialect.encoding}', max_line_size = 16777216)"
    )


def _duckdb_relations(con: duckdb.DuckDBPyConnection, source: CdmSource) -> dict[str, str]:
    con.execute(f"ATTACH {quote_literal(str(source.path))} AS {ATTACHED} (READ_ONLY)")
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = ?",
        [ATTACHED],
    ).fetchall()
    schemas = sorted({s for s, t in rows if t.lower() == "person"})
    schema = source.schema
    if schema is None:
        if len(schemas) != 1:
            found = ", ".join(schemas) or "none"
            raise UsageError(
                f"{source.path}: give --omop-schema (schemas holding a person table: {found})"
            )
        schema = schemas[0]
    elif schema not in {s for s, _ in rows}:
        raise UsageError(f"{source.path}: no schema '{schema}' in the DuckDB file")
    return {
        t.lower(): f"{ATTACHED}.{quote_ident(s)}.{quote_ident(t)}" for s, t in rows if s == schema
    }


def _folder_relations(source: CdmSource) -> dict[str, str]:
    relations = {}
    for table, paths in _table_files(source.path).items():
        if table not in TABLES:
            continue
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            raise ContractError(f"{source.path}: CDM table '{table}' is ambiguous ({names})")
        relations[table] = _file_relation(paths[0])
    return relations


def _view_sql(con: duckdb.DuckDBPyConnection, table: CdmTable, relation: str | None) -> str:
    present: dict[str, str] = {}
    if relation is not None:
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0]
            raise ContractError(f"CDM table {table.name}: cannot be read ({first})") from None
        present = {row[0].strip().lower(): row[0] for row in described}
    select = []
    for column in table.columns:
        found = present.get(column.name)
        if found is None and column.required and relation is not None:
            raise ContractError(f"CDM table {table.name}: missing required column '{column.name}'")
        value = quote_ident(found) if found else "NULL"
        kind = "BIGINT" if column.is_id else "VARCHAR"
        expr = f"TRY_CAST({value} AS {kind})" if column.is_id else f"CAST({value} AS {kind})"
        select.append(f"{expr} AS {column.name}")
    source = relation if relation is not None else "(SELECT 1) AS none"
    where = "" if relation is not None else " WHERE FALSE"
    return f"SELECT {', '.join(select)} FROM {source}{where}"


def open_cdm(con: duckdb.DuckDBPyConnection, source: CdmSource) -> set[str]:
    """Create the temporary views `cdm_<table>`; returns the tables the CDM really has."""
    check_source(source)
    relations = _duckdb_relations(con, source) if source.is_duckdb else _folder_relations(source)
    missing = [t.name for t in TABLES.values() if t.required and t.name not in relations]
    if missing:
        raise ContractError(f"{source.path}: CDM table(s) not found: {', '.join(missing)}")
    for table in TABLES.values():
        sql = _view_sql(con, table, relations.get(table.name))
        con.execute(f"CREATE OR REPLACE TEMP VIEW cdm_{table.name} AS {sql}")
    return {t for t in relations if t in TABLES}


def close_cdm(con: duckdb.DuckDBPyConnection, source: CdmSource) -> None:
    for table in TABLES:
        con.execute(f"DROP VIEW IF EXISTS cdm_{table}")
    if source.is_duckdb:
        con.execute(f"DETACH DATABASE IF EXISTS {ATTACHED}")


@lru_cache(maxsize=16)
def _digest(path: Path, size: int, mtime: float) -> str:
    return sha256_of(path)


def cdm_sha256(source: CdmSource, tables: tuple[str, ...]) -> str:
    """sha256 of the DuckDB file, or of the table files read (in order), for audit.ingest_log."""
    if source.is_duckdb:
        stat = source.path.stat()
        return _digest(source.path, stat.st_size, stat.st_mtime)
    digest = hashlib.sha256()
    files = _table_files(source.path)
    for table in tables:
        for entry in files.get(table, []):
            for path in sorted(entry.rglob("*.parquet")) if entry.is_dir() else [entry]:
                stat = path.stat()
                digest.update(_digest(path, stat.st_size, stat.st_mtime).encode())
    return digest.hexdigest()
