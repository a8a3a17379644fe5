"""Raw layer: each extract file read by DuckDB itself into `raw.<extract>`, every column as text.

Column names are resolved through the site mapping (canonical name -> site column, matched
case-insensitively); missing optional columns become NULL, extra columns are kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from trscohort.contract import EXTRACTS, SiteMapping, SourceFile
from trscohort.errors import ContractError


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def relation_sql(source: SourceFile) -> str:
    path = quote_literal(str(source.path))
    if source.format == "parquet":
        return f"read_parquet({path})"
    # All text: typing happens in staging, where a bad value is quarantined instead of failing.
    return f"read_csv({path}, header = true, all_varchar = true, auto_detect = true)"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def source_columns(con: duckdb.DuckDBPyConnection, source: SourceFile) -> list[str]:
    if source.path.stat().st_size == 0:
        raise ContractError(f"{source.path}: the file is empty (0 bytes)")
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {relation_sql(source)}").fetchall()
    except duckdb.Error as exc:
        raise ContractError(f"{source.path}: cannot be read ({_first_line(exc)})") from None
    return [row[0] for row in rows]


@dataclass(frozen=True)
class ColumnPlan:
    """canonical column -> the file's column (None: optional and absent), plus extra columns."""

    selected: dict[str, str | None]
    extras: list[str]


def _key(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


def plan_columns(source: SourceFile, columns: list[str], mapping: SiteMapping) -> ColumnPlan:
    extract = EXTRACTS[source.extract]
    by_key = {_key(c): c for c in columns}
    site_names = mapping.for_extract(source.extract).columns
    selected: dict[str, str | None] = {}
    for column in extract.columns:
        wanted = site_names.get(column.name, column.name)
        found = by_key.get(_key(wanted))
        if found is None and column.required:
            mapped = f" (mapped from site column '{wanted}')" if wanted != column.name else ""
            raise ContractError(
                f"{source.path.name}: missing required column '{column.name}'{mapped}"
            )
        selected[column.name] = found
    used = {c for c in selected.values() if c is not None}
    reserved = set(extract.column_names) | {"_row", "source_row", "reason"}
    extras = [c for c in columns if c not in used and _key(c) not in reserved]
    return ColumnPlan(selected, extras)


def check_source(
    con: duckdb.DuckDBPyConnection, source: SourceFile, mapping: SiteMapping
) -> ColumnPlan:
    """Read only the header: raises ContractError naming the file and the missing column."""
    return plan_columns(source, source_columns(con, source), mapping)


def load_raw(con: duckdb.DuckDBPyConnection, source: SourceFile, mapping: SiteMapping) -> int:
    """Create raw.<extract> from the file; returns the number of rows read."""
    plan = check_source(con, source, mapping)
    select = ["CAST(row_number() OVER () AS BIGINT) AS _row"]
    for canonical, found in plan.selected.items():
        value = f"CAST({quote_ident(found)} AS VARCHAR)" if found else "CAST(NULL AS VARCHAR)"
        select.append(f"{value} AS {quote_ident(canonical)}")
    select += [f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in plan.extras]
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE raw.{source.extract} AS "
            f"SELECT {', '.join(select)} FROM {relation_sql(source)}"
        )
    except duckdb.Error as exc:
        raise ContractError(f"{source.path}: cannot be read ({_first_line(exc)})") from None
    return con.execute(f"SELECT count(*) FROM raw.{source.extract}").fetchone()[0]


def create_empty_raw(con: duckdb.DuckDBPyConnection, extract: str) -> None:
    """An optional extract that was not delivered: an empty raw table with the canonical columns."""
    columns = ", ".join(
        f"CAST(NULL AS VARCHAR) AS {quote_ident(c)}" for c in EXTRACTS[extract].column_names
    )
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(
        f"CREATE OR REPLACE TABLE raw.{extract} AS "
        f"SELECT CAST(NULL AS BIGINT) AS _row, {columns} WHERE FALSE"
    )
