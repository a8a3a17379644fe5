"""Workarounds that let Great Expectations 1.x run against DuckDB through duckdb-engine.

Kept in this one module, applied by `install()` (idempotent), and tested in
tests/test_quality_gx_duckdb.py. Remove a patch when its upstream bug is fixed:

1. Every GX metric fails with `IndexError: list index out of range` in
   `SqlAlchemyExecutionEngine.resolve_metric_bundle` (great_expectations issue #11579; the
   proposed upstream fix, PR #11635, only replaces the IndexError by a clearer error).
   `execute_query` returns the cursor result after its connection has gone back to the pool;
   the pool's reset-on-return rolls DuckDB back and its pending rows are gone. The patch buffers
   the (small: metrics are aggregates) result before the connection is released.
2. Column-type reflection fails under SQLAlchemy >= 2.0.45 because the PostgreSQL reflection
   query duckdb-engine inherits reads `pg_catalog.pg_collation`, which DuckDB does not have
   (duckdb_engine issues #1379 and #1391, duckdb issue #22069). GX then cannot see column types
   and `expect_column_values_to_be_of_type` fails with KeyError 'type'. The patch answers
   `get_columns` from DuckDB's own `DESCRIBE`, naming types as DuckDB does (VARCHAR, DOUBLE,
   DATE, TIMESTAMP, BOOLEAN, BIGINT, ...), which are also SQLAlchemy's upper-case type names.

GX also drops the schema of a table outside DuckDB's `main` schema during reflection ("Table
with name labs does not exist"); `trscohort.quality.validate` avoids that by validating a
temporary view in `main`, not by a patch.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb
import sqlalchemy as sa
from duckdb_engine import ConnectionWrapper
from duckdb_engine import Dialect as DuckDBDialect
from great_expectations.execution_engine.sqlalchemy_execution_engine import (
    SqlAlchemyExecutionEngine,
)
from sqlalchemy.pool import StaticPool

_INSTALLED = False


def _buffered_execute_query(original):
    def execute_query(self, query):
        if self.dialect_name != "duckdb":
            return original(self, query)
        with self.get_connection() as connection:
            result = self._execute_query_with_recovery(connection, query)
            # Buffer the rows while the connection is still checked out (GX issue #11579).
            return result.freeze()()

    execute_query.__wrapped__ = original
    return execute_query


_TYPE_ARGS = re.compile(r"^([A-Z ]+?)\s*(?:\((.*)\))?$")


def duckdb_type(type_name: str) -> sa.types.TypeEngine:
    """A SQLAlchemy type instance for a DuckDB type name (`DECIMAL(18,3)` -> DECIMAL(18, 3))."""
    match = _TYPE_ARGS.match(type_name.strip().upper())
    if not match:
        return sa.types.NullType()
    name = match.group(1).replace(" ", "_")
    name = {"TIMESTAMP_WITH_TIME_ZONE": "TIMESTAMP"}.get(name, name)
    cls = getattr(sa.types, name, None)
    if not isinstance(cls, type) or not issubclass(cls, sa.types.TypeEngine):
        return sa.types.NullType()
    args = [int(a) for a in (match.group(2) or "").split(",") if a.strip().isdigit()]
    try:
        return cls(*args)
    except TypeError:
        return cls()


def _get_columns(self, connection, table_name, schema=None, **kw) -> list[dict[str, Any]]:
    # duckdb_engine #1379/#1391: the inherited PostgreSQL reflection reads pg_collation.
    name = ".".join(
        '"' + part.replace('"', '""') + '"' for part in ([schema] if schema else []) + [table_name]
    )
    try:
        rows = connection.exec_driver_sql(f"DESCRIBE {name}").fetchall()
    except sa.exc.DBAPIError as exc:
        raise sa.exc.NoSuchTableError(table_name) from exc
    return [
        {
            "name": column,
            "type": duckdb_type(kind),
            "nullable": nullable != "NO",
            "default": None,
            "autoincrement": False,
            "comment": None,
        }
        for column, kind, nullable, *_ in rows
    ]


def install() -> None:
    """Apply both patches (once per process)."""
    global _INSTALLED
    if _INSTALLED:
        return
    SqlAlchemyExecutionEngine.execute_query = _buffered_execute_query(
        SqlAlchemyExecutionEngine.execute_query
    )
    DuckDBDialect.get_columns = _get_columns
    _INSTALLED = True


class _BorrowedConnection(ConnectionWrapper):
    """duckdb-engine's DBAPI wrapper over a connection we own: SQLAlchemy must not close it."""

    def close(self) -> None:  # the caller closes the DuckDB connection itself
        pass


def engine_kwargs(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """`create_engine` keyword arguments that run every GX query on `con` (one connection, so
    temporary views made on `con` are visible to GX)."""
    wrapper = _BorrowedConnection(con)
    return {"creator": lambda: wrapper, "poolclass": StaticPool}
