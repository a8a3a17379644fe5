"""Raw layer: each extract file read by DuckDB itself into `raw.<extract>`, every column as text.

Column names are resolved through the site mapping (canonical name -> site column, matched
case-insensitively); missing optional columns become NULL, extra columns are kept.
"""

from __future__ import annotations

import codecs
import csv
import gzip
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


DELIMITERS = (",", ";", "\t", "|")
REJECTS = "raw_rejects"  # temporary tables DuckDB fills with the malformed lines of a CSV


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is read: decided from its bytes and header line, never sniffed by DuckDB
    (whose sniffer gives up, or reads one column, when some lines are malformed)."""

    encoding: str  # "utf-8" or "latin-1" (a file that is not valid UTF-8)
    delimiter: str
    columns: tuple[str, ...]


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with _open_bytes(path) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def csv_dialect(path: Path) -> CsvDialect:
    encoding = "utf-8" if _is_utf8(path) else "latin-1"
    try:
        with _open_bytes(path) as handle:
            first = handle.readline()
    except (OSError, EOFError) as exc:
        raise ContractError(f"{path}: cannot be read ({exc})") from None
    header = first.decode(encoding).lstrip("\ufeff").rstrip("\r\n")
    if not header.strip():
        raise ContractError(f"{path}: the first line is empty; expected the header row")
    delimiter = max(DELIMITERS, key=lambda d: (header.count(d), d == ","))
    names = next(csv.reader([header], delimiter=delimiter))
    columns: list[str] = []
    for i, name in enumerate(names, start=1):
        name = name.strip() or f"column{i}"
        while name in columns:  # DuckDB needs distinct names; a repeated one gets a suffix
            name = f"{name}_{i}"
        columns.append(name)
    return CsvDialect(encoding, delimiter, tuple(columns))


def relation_sql(
    source: SourceFile, dialect: CsvDialect | None = None, rejects: bool = False
) -> str:
    path = quote_literal(str(source.path))
    if source.format == "parquet":
        return f"read_parquet({path})"
    dialect = dialect or csv_dialect(source.path)
    columns = ", ".join(f"{quote_literal(c)}: 'VARCHAR'" for c in dialect.columns)
    # All text: typing happens in staging, where a bad value is quarantined instead of failing.
    # Malformed lines (wrong number of fields, unterminated quote) go to the rejects tables.
    store = (
        f", store_rejects = true, rejects_table = '{REJECTS}', rejects_scan = '{REJECTS}_scan'"
        if rejects
        else ""
    )
    return (
        f"read_csv({path}, header = true, auto_detect = false, columns = {{{columns}}}, "
        f"delim = {quote_literal(dialect.delimiter)}, quote = '\"', escape = '\"', "
        f"encoding = '{dialect.encoding}', max_line_size = 16777216{store})"
    )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def source_columns(con: duckdb.DuckDBPyConnection, source: SourceFile) -> list[str]:
    if source.path.stat().st_size == 0:
        raise ContractError(f"{source.path}: the file is empty (0 bytes)")
    if source.format == "csv":
        return list(csv_dialect(source.path).columns)
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {relation_sql(source)}").fetchall()
    except duckdb.Error as exc:
        raise ContractError(
            f"{source.path}: not a readable Parquet file ({_first_line(exc)})"
        ) from None
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
    _check_one_of(source, extract.one_of, selected)
    used = {c for c in selected.values() if c is not None}
    reserved = set(extract.column_names) | {"_row", "_problem", "source_row", "reason"}
    extras = [c for c in columns if c not in used and _key(c) not in reserved]
    return ColumnPlan(selected, extras)


def _check_one_of(
    source: SourceFile, groups: tuple[tuple[str, ...], ...], selected: dict[str, str | None]
) -> None:
    """Optional columns of which one group must be complete (daily_dose_mg, or dose_mg +
    interval_days): without any, a prescription's dose would silently vanish."""
    if groups and not any(all(selected.get(c) for c in group) for group in groups):
        wanted = " or ".join(" + ".join(group) for group in groups)
        raise ContractError(f"{source.path.name}: missing dose column(s): give {wanted}")


def check_source(
    con: duckdb.DuckDBPyConnection, source: SourceFile, mapping: SiteMapping
) -> ColumnPlan:
    """Read only the header: raises ContractError naming the file and the missing column."""
    return plan_columns(source, source_columns(con, source), mapping)


def load_raw(con: duckdb.DuckDBPyConnection, source: SourceFile, mapping: SiteMapping) -> int:
    """Create raw.<extract> from the file; returns the number of rows read.

    Besides the file's columns, `_problem` says why a row cannot be used whatever its values:
    a malformed CSV line (kept as an all-NULL row after the good ones, its line number in the
    reason) or a repeat of the header row. Staging quarantines such rows with that reason.
    """
    plan = check_source(con, source, mapping)
    dialect = csv_dialect(source.path) if source.format == "csv" else None
    select = ["CAST(row_number() OVER () AS BIGINT) AS _row"]
    for canonical, found in plan.selected.items():
        value = f"CAST({quote_ident(found)} AS VARCHAR)" if found else "CAST(NULL AS VARCHAR)"
        select.append(f"{value} AS {quote_ident(canonical)}")
    select += [f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in plan.extras]
    select.append("CAST(NULL AS VARCHAR) AS _problem")
    table = f"raw.{source.extract}"
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    _drop_rejects(con)
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS "
            f"SELECT {', '.join(select)} FROM {relation_sql(source, dialect, rejects=True)}"
        )
    except duckdb.Error as exc:
        raise ContractError(f"{source.path}: cannot be read ({_first_line(exc)})") from None
    if dialect is not None:
        _append_rejects(con, table)
    _mark_header_rows(con, table, plan)
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _append_rejects(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """One all-NULL row per malformed line, numbered after the good rows, with its reason."""
    con.execute(
        f"""
        INSERT INTO {table} (_row, _problem)
        SELECT (SELECT count(*) FROM {table}) + row_number() OVER (ORDER BY line),
               'malformed line ' || line || ': ' || CASE
                   WHEN bool_or(error_type = 'TOO MANY COLUMNS') THEN 'more fields than the header'
                   WHEN bool_or(error_type = 'MISSING COLUMNS') THEN 'fewer fields than the header'
                   WHEN bool_or(error_type = 'UNQUOTED VALUE') THEN 'unterminated or stray quote'
                   WHEN bool_or(error_type = 'LINE SIZE OVER MAXIMUM') THEN 'line too long'
                   ELSE lower(CAST(any_value(error_type) AS VARCHAR)) END
               || coalesce(' ' || '''' || left(any_value(csv_line), 60) || '''', '')
        FROM {REJECTS} GROUP BY line
        """
    )
    _drop_rejects(con)


def _drop_rejects(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP TABLE IF EXISTS {REJECTS}")
    con.execute(f"DROP TABLE IF EXISTS {REJECTS}_scan")


def _mark_header_rows(con: duckdb.DuckDBPyConnection, table: str, plan: ColumnPlan) -> None:
    """A row repeating the header (files concatenated with their headers) is not data."""
    present = [(c, f) for c, f in plan.selected.items() if f is not None]
    condition = " AND ".join(
        f"lower(trim({quote_ident(c)})) = {quote_literal(_key(f))}" for c, f in present
    )
    con.execute(f"UPDATE {table} SET _problem = 'repeated header row' WHERE {condition}")


def create_empty_raw(con: duckdb.DuckDBPyConnection, extract: str) -> None:
    """An optional extract that was not delivered: an empty raw table with the canonical columns."""
    columns = ", ".join(
        f"CAST(NULL AS VARCHAR) AS {quote_ident(c)}" for c in EXTRACTS[extract].column_names
    )
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(
        f"CREATE OR REPLACE TABLE raw.{extract} AS "
        f"SELECT CAST(NULL AS BIGINT) AS _row, {columns}, CAST(NULL AS VARCHAR) AS _problem "
        "WHERE FALSE"
    )
