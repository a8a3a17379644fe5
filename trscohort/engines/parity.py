"""Row-for-row comparison of two warehouses (a DuckDB file and a Parquet folder, or two of
either kind): the parity test of the Spark engine and `benchmarks/` use it.

Two tables are equal when they have the same columns and the same rows as multisets (row
order is not part of a table). Values are compared as text; floating-point and decimal values
are compared at 12 significant digits, since sums over a different partitioning may differ in
the last bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from trscohort.engines import parquet
from trscohort.ingest.raw import quote_ident, quote_literal

_FLOATS = ("FLOAT", "DOUBLE", "REAL", "DECIMAL")


@dataclass(frozen=True)
class TableDiff:
    table: str
    problem: str  # "" when equal
    rows_left: int = 0
    rows_right: int = 0
    examples: tuple = ()

    @property
    def equal(self) -> bool:
        return not self.problem


def open_any(path: str | Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB warehouse file read-only, or a Parquet warehouse through views."""
    if parquet.is_parquet_warehouse(path):
        return parquet.connect(Path(path))
    return duckdb.connect(str(path), read_only=True)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in con.execute(f"DESCRIBE {table}").fetchall()]


def _normalised(columns: list[tuple[str, str]]) -> str:
    parts = []
    for name, kind in columns:
        col = quote_ident(name)
        if kind.upper().startswith(_FLOATS):
            parts.append(f"printf('%.12g', CAST({col} AS DOUBLE)) AS {col}")
        else:
            parts.append(f"CAST({col} AS VARCHAR) AS {col}")
    return ", ".join(parts)


def compare_table(
    left: duckdb.DuckDBPyConnection, right: duckdb.DuckDBPyConnection, table: str
) -> TableDiff:
    """Same columns (names and order) and the same rows, whatever their order."""
    left_cols, right_cols = _columns(left, table), _columns(right, table)
    if [c for c, _ in left_cols] != [c for c, _ in right_cols]:
        return TableDiff(table, f"columns differ: {left_cols} vs {right_cols}")
    # Both sides as Arrow into one in-memory DuckDB: the same text conversion on both.
    with duckdb.connect() as con:
        con.register(
            "l", left.sql(f"SELECT {_normalised(left_cols)} FROM {table}").to_arrow_table()
        )
        con.register(
            "r", right.sql(f"SELECT {_normalised(right_cols)} FROM {table}").to_arrow_table()
        )
        only_left = con.execute("SELECT * FROM l EXCEPT ALL SELECT * FROM r").fetchall()
        only_right = con.execute("SELECT * FROM r EXCEPT ALL SELECT * FROM l").fetchall()
        n_left, n_right = (con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in "lr")
    if not only_left and not only_right:
        return TableDiff(table, "", n_left, n_right)
    return TableDiff(
        table,
        f"{len(only_left)} rows only in the first, {len(only_right)} only in the second",
        n_left,
        n_right,
        (tuple(only_left[:3]), tuple(only_right[:3])),
    )


def compare_warehouses(left: str | Path, right: str | Path, tables: list[str]) -> list[TableDiff]:
    with open_any(left) as a, open_any(right) as b:
        return [compare_table(a, b, table) for table in tables]


__all__ = ["TableDiff", "compare_table", "compare_warehouses", "open_any", "quote_literal"]
