"""Raw layer: each extract file read by DuckDB itself into `raw.<extract>`, every column as text.

Column names are resolved through the site mapping (canonical name -> site column, matched
case-insensitively); missing optional columns become NULL. Extra columns are kept in a namespace
of their own, the struct column `extras` (`extras.ward`), so that no input column name can
collide with a canonical column or with a name the staging SQL uses internally (`_copy`,
`analyte`, `unit_key`, ...).

Limits, each a one-line error or a counted, quarantined row rather than a crash or a silent loss:
a line longer than `ingest.max_line_bytes` is quarantined as "line too long" (DuckDB drops a
line longer than its read buffer without a trace, so lines are also measured here, in one
streaming pass over the bytes); a header line over that limit, a header field over 128 KB
(Python's csv field limit) or over `MAX_COLUMN_NAME` characters, and CR-only line endings stop
the run with the file named.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from trscohort.config import Config
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
EXTRAS = "extras"  # the struct column holding a file's extra columns
MAX_COLUMN_NAME = 1024  # characters in one header field
DEFAULT_MAX_LINE = 16 * 1024 * 1024  # ingest.max_line_bytes when no config is given
BLOCK = 1 << 20


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is read: decided from its bytes and header line, never sniffed by DuckDB
    (whose sniffer gives up, or reads one column, when some lines are malformed)."""

    encoding: str  # "utf-8" or "latin-1" (a file that is not valid UTF-8)
    delimiter: str
    columns: tuple[str, ...]


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


@dataclass(frozen=True)
class ByteScan:
    """One streaming pass over a CSV's bytes (decompressed): is it UTF-8, and which lines are
    longer than the limit (physical line numbers, the header being line 1)."""

    utf8: bool
    long_lines: tuple[int, ...]


def scan_bytes(path: Path, max_line: int) -> ByteScan:
    """Block by block (never a whole line in memory: a gzip bomb of one endless line is read
    in constant memory); the lengths include a CR before the LF, as DuckDB counts them."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    long_lines: list[int] = []
    # Anchored at line starts, so the search stays linear in the block's size.
    long_run = re.compile(rb"^[^\n]{%d,}" % max_line, re.MULTILINE)
    lines_before = 0  # newlines seen before this block
    current = 0  # length of the line running into this block
    try:
        with _open_bytes(path) as handle:
            for block in iter(lambda: handle.read(BLOCK), b""):
                if utf8:
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError:
                        utf8 = False
                first = block.find(b"\n")
                if first == -1:
                    current += len(block)
                    continue
                if current + first >= max_line:
                    long_lines.append(lines_before + 1)
                for match in long_run.finditer(block, first + 1) if max_line < len(block) else ():
                    if match.end() < len(block):  # a whole line inside the block
                        long_lines.append(lines_before + block.count(b"\n", 0, match.start()) + 1)
                last = block.rfind(b"\n")
                lines_before += block.count(b"\n")
                current = len(block) - last - 1
            if utf8:
                decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        utf8 = False
    except (OSError, EOFError, zlib.error) as exc:
        raise ContractError(f"{path}: cannot be read ({_first_line(exc)})") from None
    if current >= max_line:
        long_lines.append(lines_before + 1)
    return ByteScan(utf8, tuple(sorted(set(long_lines))))


def _header_line(path: Path, max_line: int) -> bytes:
    try:
        with _open_bytes(path) as handle:
            first = handle.readline(max_line + 1)  # never more: the file may be a gzip bomb
    except (OSError, EOFError, zlib.error) as exc:
        raise ContractError(f"{path}: cannot be read ({_first_line(exc)})") from None
    if len(first.rstrip(b"\n")) >= max_line:
        raise ContractError(
            f"{path}: the header line is longer than {max_line:,} bytes (ingest.max_line_bytes)"
        )
    if b"\r" in first.rstrip(b"\r\n"):
        raise ContractError(
            f"{path}: lines end with a bare carriage return (CR, old Mac format); "
            "save the file with LF or CRLF line endings"
        )
    return first


def csv_dialect(
    path: Path, max_line: int = DEFAULT_MAX_LINE, scan: ByteScan | None = None
) -> CsvDialect:
    encoding = "utf-8" if (scan or scan_bytes(path, max_line)).utf8 else "latin-1"
    header = _header_line(path, max_line).decode(encoding).lstrip("\ufeff").rstrip("\r\n")
    if not header.strip():
        raise ContractError(f"{path}: the first line is empty; expected the header row")
    delimiter = max(DELIMITERS, key=lambda d: (header.count(d), d == ","))
    try:
        names = next(csv.reader([header], delimiter=delimiter))
    except csv.Error as exc:
        raise ContractError(f"{path}: the header row cannot be read ({exc})") from None
    columns: list[str] = []
    for i, name in enumerate(names, start=1):
        if len(name) > MAX_COLUMN_NAME:
            raise ContractError(
                f"{path}: header field {i} is {len(name):,} characters long; column names are "
                f"limited to {MAX_COLUMN_NAME:,}"
            )
        name = name.strip() or f"column{i}"
        while name in columns:  # DuckDB needs distinct names; a repeated one gets a suffix
            name = f"{name}_{i}"
        columns.append(name)
    return CsvDialect(encoding, delimiter, tuple(columns))


def read_buffer(max_line: int) -> int:
    """DuckDB's CSV read buffer: bounded, so an endless line (a gzip bomb) cannot make DuckDB
    allocate a buffer as large as the line; a line longer than the buffer is then skipped by
    DuckDB and counted by `scan_bytes` instead."""
    return max(32 << 20, 2 * max_line)


def relation_sql(
    source: SourceFile,
    dialect: CsvDialect | None = None,
    rejects: bool = False,
    max_line: int = DEFAULT_MAX_LINE,
) -> str:
    path = quote_literal(str(source.path))
    if source.format == "parquet":
        return f"read_parquet({path})"
    dialect = dialect or csv_dialect(source.path, max_line)
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
        f"encoding = '{dialect.encoding}', max_line_size = {int(max_line)}, "
        f"buffer_size = {read_buffer(max_line)}{store})"
    )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def max_line_bytes(config: Config | None) -> int:
    return int(config["ingest"]["max_line_bytes"]) if config is not None else DEFAULT_MAX_LINE


def source_columns(
    con: duckdb.DuckDBPyConnection, source: SourceFile, max_line: int = DEFAULT_MAX_LINE
) -> list[str]:
    if source.path.stat().st_size == 0:
        raise ContractError(f"{source.path}: the file is empty (0 bytes)")
    if source.format == "csv":
        return list(csv_dialect(source.path, max_line).columns)
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
    # Every other column is kept, whatever its name: it lives inside `extras`.
    return ColumnPlan(selected, [c for c in columns if c not in used])


def _check_one_of(
    source: SourceFile, groups: tuple[tuple[str, ...], ...], selected: dict[str, str | None]
) -> None:
    """Optional columns of which one group must be complete (daily_dose_mg, or dose_mg +
    interval_days): without any, a prescription's dose would silently vanish."""
    if groups and not any(all(selected.get(c) for c in group) for group in groups):
        wanted = " or ".join(" + ".join(group) for group in groups)
        raise ContractError(f"{source.path.name}: missing dose column(s): give {wanted}")


def check_source(
    con: duckdb.DuckDBPyConnection,
    source: SourceFile,
    mapping: SiteMapping,
    config: Config | None = None,
) -> ColumnPlan:
    """Read only the header: raises ContractError naming the file and the missing column."""
    return plan_columns(source, source_columns(con, source, max_line_bytes(config)), mapping)


def extras_sql(extras: list[str]) -> str | None:
    """`{'ward': CAST("Ward" AS VARCHAR), ...} AS extras`: field names as the file spells them
    (a second spelling differing only in case gets a suffix: struct fields ignore case)."""
    if not extras:
        return None
    fields, seen = [], set()
    for column in extras:
        name = column
        while name.lower() in seen:
            name = f"{column}_{len(seen) + 1}"
        seen.add(name.lower())
        fields.append(f"{quote_literal(name)}: CAST({quote_ident(column)} AS VARCHAR)")
    return "{" + ", ".join(fields) + f"}} AS {EXTRAS}"


def load_raw(
    con: duckdb.DuckDBPyConnection,
    source: SourceFile,
    mapping: SiteMapping,
    config: Config | None = None,
) -> int:
    """Create raw.<extract> from the file; returns the number of rows read.

    Besides the file's columns, `_problem` says why a row cannot be used whatever its values:
    a malformed CSV line (kept as an all-NULL row after the good ones, its line number in the
    reason: too long, too many or too few fields, a stray quote) or a repeat of the header
    row. Staging quarantines such rows with that reason.
    """
    max_line = max_line_bytes(config)
    if source.path.stat().st_size == 0:
        raise ContractError(f"{source.path}: the file is empty (0 bytes)")
    scan = scan_bytes(source.path, max_line) if source.format == "csv" else None
    dialect = csv_dialect(source.path, max_line, scan) if scan else None
    columns = list(dialect.columns) if dialect else source_columns(con, source, max_line)
    plan = plan_columns(source, columns, mapping)
    select = ["CAST(row_number() OVER () AS BIGINT) AS _row"]
    for canonical, found in plan.selected.items():
        value = f"CAST({quote_ident(found)} AS VARCHAR)" if found else "CAST(NULL AS VARCHAR)"
        select.append(f"{value} AS {quote_ident(canonical)}")
    if extras := extras_sql(plan.extras):
        select.append(extras)
    select.append("CAST(NULL AS VARCHAR) AS _problem")
    table = f"raw.{source.extract}"
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    _drop_rejects(con)
    relation = relation_sql(source, dialect, rejects=True, max_line=max_line)
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT {', '.join(select)} FROM {relation}"
        )
    except duckdb.Error as exc:
        raise ContractError(f"{source.path}: cannot be read ({_first_line(exc)})") from None
    if scan is not None:
        _add_lost_long_lines(con, scan.long_lines)
        _append_rejects(con, table)
    _mark_header_rows(con, table, plan)
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _add_lost_long_lines(con: duckdb.DuckDBPyConnection, long_lines: tuple[int, ...]) -> None:
    """DuckDB records a line over max_line_size as a reject, except one longer than its read
    buffer, which it skips without a trace; add those to the rejects so they are counted."""
    if not long_lines:
        return
    recorded = {
        line
        for (line,) in con.execute(
            f"SELECT DISTINCT line FROM {REJECTS} WHERE error_type = 'LINE SIZE OVER MAXIMUM'"
        ).fetchall()
    }
    missing = len(long_lines) - len(recorded)
    if missing <= 0:
        return
    # Physical line numbers: unrecorded ones first (DuckDB counts records, so a quoted newline
    # earlier in the file can shift its numbers; the count is what must be right).
    numbers = [n for n in long_lines if n not in recorded] + [
        n for n in long_lines if n in recorded
    ]
    con.execute(
        f"INSERT INTO {REJECTS} (line, error_type, csv_line) "
        "SELECT unnest(CAST(? AS UBIGINT[])), 'LINE SIZE OVER MAXIMUM', NULL",
        [numbers[:missing]],
    )


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
