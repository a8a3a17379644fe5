"""A Parquet warehouse: one folder per table, `<root>/<layer>/<name>/*.parquet`.

The Spark engine writes it; DuckDB reads it through views (`attach`), so the researcher API,
the dashboards and the data-quality suites run unchanged on a Spark run's output.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from trscohort.ingest.raw import quote_literal

MARKER = "trscohort-parquet-warehouse"  # a file at the root saying what the folder is


def table_dir(root: Path, table: str) -> Path:
    layer, name = table.split(".")
    return Path(root) / layer / name


def is_parquet_warehouse(path: str | Path) -> bool:
    return Path(path).is_dir() and (Path(path) / MARKER).is_file()


def tables(root: Path) -> list[str]:
    """`layer.name` of every table folder holding Parquet files, sorted."""
    found = []
    for folder in sorted(Path(root).glob("*/*")):
        if folder.is_dir() and not folder.name.startswith(".") and any(folder.glob("*.parquet")):
            found.append(f"{folder.parent.name}.{folder.name}")
    return found


def attach(con: duckdb.DuckDBPyConnection, root: Path) -> list[str]:
    """A view `layer.name` over every table of the Parquet warehouse; returns their names."""
    names = tables(root)
    for table in names:
        layer, _ = table.split(".")
        files = quote_literal(str(table_dir(root, table) / "*.parquet"))
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet({files})")
    return names


def row_count(root: Path, table: str) -> int:
    """Rows of one table, from the Parquet footers."""
    files = quote_literal(str(table_dir(root, table) / "*.parquet"))
    with duckdb.connect() as con:
        return con.execute(f"SELECT count(*) FROM read_parquet({files})").fetchone()[0]


def connect(root: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the Parquet warehouse's tables as views."""
    con = duckdb.connect()
    attach(con, root)
    return con


def copy_table(con: duckdb.DuckDBPyConnection, table: str, root: Path) -> Path:
    """Write a DuckDB table (or view) as `<root>/<layer>/<name>/part-0.parquet`."""
    folder = table_dir(root, table)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    target = quote_literal(str(folder / "part-0.parquet"))
    con.execute(f"COPY (SELECT * FROM {table}) TO {target} (FORMAT parquet)")
    return folder
