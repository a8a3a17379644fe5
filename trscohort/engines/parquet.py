"""A Parquet warehouse: one folder per table, `<root>/<layer>/<name>/*.parquet`.

The Spark engine writes it; DuckDB reads it through views (`attach`), so the researcher API,
the dashboards and the data-quality suites run unchanged on a Spark run's output.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from trscohort.ingest.raw import quote_literal

MARKER = "trscohort-parquet-warehouse"  # a file at the root saying what the folder is

# Tables DuckDB appends to while a run goes on (one data-quality suite at a time): loaded as
# tables, not views, when a connection will write back (`connect(root, tables=APPENDED)`).
APPENDED = ("audit.dq_results",)


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


def attach(con: duckdb.DuckDBPyConnection, root: Path, tables_: tuple[str, ...] = ()) -> list[str]:
    """A view `layer.name` over every table of the Parquet warehouse (a table, copied in, for
    those in `tables_`); returns their names."""
    names = tables(root)
    for table in names:
        layer, _ = table.split(".")
        files = quote_literal(str(table_dir(root, table) / "*.parquet"))
        kind = "TABLE" if table in tables_ else "VIEW"
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        con.execute(f"CREATE OR REPLACE {kind} {table} AS SELECT * FROM read_parquet({files})")
    return names


def write_back(con: duckdb.DuckDBPyConnection, root: Path) -> list[str]:
    """Every table (not view) of the connection written to the Parquet warehouse."""
    made = [
        f"{schema}.{name}"
        for schema, name in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary"
        ).fetchall()
    ]
    for table in made:
        copy_table(con, table, root)
    return made


def row_count(root: Path, table: str) -> int:
    """Rows of one table, from the Parquet footers."""
    files = quote_literal(str(table_dir(root, table) / "*.parquet"))
    with duckdb.connect() as con:
        return con.execute(f"SELECT count(*) FROM read_parquet({files})").fetchone()[0]


def connect(root: Path, tables: tuple[str, ...] = ()) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the Parquet warehouse's tables as views (those in `tables`
    copied in as tables, for a connection that appends to them and writes back)."""
    con = duckdb.connect()
    attach(con, root, tables)
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
