"""SQL models: Jinja-templated SELECT statements under `sql/<layer>/<name>.sql`, dbt style.

A model renders to one SELECT in DuckDB's dialect and is materialised as the table
`<layer>.<name>`. Models name their inputs with `{{ ref('layer.name') }}`, which both renders
the table name and records the dependency: the build order and the Dagster asset graph are
derived from those refs, so adding a model is adding a file. A model's documentation (its
description and every column) lives beside it in `<name>.yml`.

Rendering is separate from running so that tests can parse every model with SQLGlot and
transpile it to Spark.

Config values reach SQL only as typed literals. The config is validated against its schema
before any template sees it (`transform_context`), and every `{{ expression }}` passes through
`sql_value`: a number renders as a finite numeric literal, a boolean as TRUE/FALSE, a date as
its ISO text, None as NULL; a list or mapping cannot be pasted. Strings a template can reach
through `cfg` are enumerations or strict codes (see `trscohort.config.schema`). The `sql`
filter renders a value as a complete literal (`{{ cfg.clozapine.status_without_assessment |
sql }}` -> `'responder'`, a date -> `DATE '1900-01-01'`). Finally a rendered model must be
exactly one SELECT: a second statement (such as a COPY) is refused before DuckDB runs anything.
"""

from __future__ import annotations

import datetime as dt
import decimal
import graphlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import yaml

from trscohort import qi
from trscohort.config import Config, validate_config
from trscohort.errors import UsageError

SQL_DIR = Path(__file__).with_name("sql")

# Layers built from the ingested data by `build_transform`; ingest builds reference/staging.
TRANSFORM_LAYERS = ("intermediate", "marts")

# Tables the ingest step makes that transform models may ref.
INGEST_TABLES = ("audit.run_parameters", "audit.ingest_log")


def _number(value: int | float | decimal.Decimal) -> str:
    if isinstance(value, float | decimal.Decimal) and not math.isfinite(value):
        raise ValueError(f"cannot render the non-finite number {value} into SQL")
    return str(value) if isinstance(value, int | decimal.Decimal) else repr(float(value))


def sql_value(value: Any) -> Any:
    """What `{{ value }}` renders to: typed values as literals, SQL text (refs, macros) as is."""
    if isinstance(value, bool):  # before int: bool is an int
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | decimal.Decimal):
        return _number(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None:
        return "NULL"
    if isinstance(value, Mapping | list | tuple | set):
        raise TypeError(f"cannot render a {type(value).__name__} into SQL; loop over it")
    return value


def sql_literal(value: Any) -> str:
    """A complete SQL literal: 42, 0.95, TRUE, NULL, DATE '2020-01-01', 'text' (quotes doubled)."""
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return sql_value(value)


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(SQL_DIR)),
    undefined=jinja2.StrictUndefined,
    extensions=["jinja2.ext.do"],
    keep_trailing_newline=True,
    finalize=sql_value,
)
_ENV.filters["sql"] = sql_literal


@dataclass(frozen=True)
class Model:
    layer: str
    name: str

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def template(self) -> str:
        return f"{self.layer}/{self.name}.sql"

    @property
    def doc_path(self) -> Path:
        return SQL_DIR / self.layer / f"{self.name}.yml"

    def doc(self) -> dict:
        """{'description': str, 'columns': {name: description}} from the model's .yml, if any."""
        return _read_doc(self.doc_path)


@cache
def _read_doc(path: Path) -> dict:
    if not path.is_file():
        return {"description": "", "columns": {}, "slice_by": None}
    data = yaml.safe_load(path.read_text()) or {}
    return {
        "description": data.get("description", ""),
        "columns": data.get("columns", {}) or {},
        "slice_by": data.get("slice_by"),
    }


def all_models() -> list[Model]:
    """Every model file, by layer and name (files starting with '_' are helpers)."""
    return [
        Model(path.parent.name, path.stem)
        for path in sorted(SQL_DIR.glob("*/*.sql"))
        if not path.stem.startswith("_")
    ]


def transform_models() -> list[Model]:
    return [m for m in all_models() if m.layer in TRANSFORM_LAYERS]


def _ref_recorder(seen: set[str]):
    def ref(table: str) -> str:
        if table.count(".") != 1:
            raise ValueError(f"ref('{table}'): use 'layer.name'")
        seen.add(table)
        return table

    return ref


def render(model: Model, context: Mapping[str, Any]) -> str:
    return render_with_refs(model, context)[0]


def render_with_refs(model: Model, context: Mapping[str, Any]) -> tuple[str, set[str]]:
    seen: set[str] = set()
    sql = _ENV.get_template(model.template).render(**context, ref=_ref_recorder(seen))
    return sql, seen


def model_refs(model: Model, context: Mapping[str, Any]) -> set[str]:
    """Tables the model reads, as `layer.name`."""
    return render_with_refs(model, context)[1]


def build_order(context: Mapping[str, Any], targets: Iterable[str] | None = None) -> list[Model]:
    """Transform models sorted so that every model comes after the models it refs; with
    `targets` (tables), only those and the models they read, directly or through others."""
    models = {m.table: m for m in transform_models()}
    graph = {
        table: {r for r in model_refs(m, context) if r in models} for table, m in models.items()
    }
    order = [models[t] for t in graphlib.TopologicalSorter(graph).static_order()]
    if targets is None:
        return order
    needed, pending = set(), list(targets)
    while pending:
        table = pending.pop()
        if table not in graph:
            raise ValueError(f"no transform model builds {table}")
        if table not in needed:
            needed.add(table)
            pending += graph[table]
    return [m for m in order if m.table in needed]


def single_select(sql: str, what: str) -> str:
    """`sql` if it is exactly one SELECT statement; anything else is refused unexecuted."""
    statements = duckdb.extract_statements(sql)
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        kinds = ", ".join(s.type.name for s in statements) or "nothing"
        raise UsageError(f"{what}: a model must render to one SELECT statement, not {kinds}")
    return sql


def build_model(
    con: duckdb.DuckDBPyConnection, model: Model, context: Mapping[str, Any], *, temp: bool = False
) -> str:
    """Materialise the model as a table (or temp table `<layer>__<name>`); returns its name.

    A model whose .yml says `slice_by: patient_id` (every join, window and aggregate of it stays
    within one patient) is built in slices of patients when its inputs are large for DuckDB's
    memory limit (see `slice_count`): the same rows, in bounded memory."""
    if temp:
        name = f"{model.layer}__{model.name}"
        sql = single_select(render(model, context), model.template)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        return name
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {model.layer}")
    key = model.doc()["slice_by"]
    sliced = _tables_with_column(con, model_refs(model, context), key) if key else set()
    slices = slice_count(con, sliced, context) if sliced else 1
    for index in range(slices):
        sql = single_select(
            render_slice(model, context, key, sliced, index, slices), model.template
        )
        if index == 0:
            con.execute(f"CREATE OR REPLACE TABLE {model.table} AS {sql}")
        else:
            con.execute(f"INSERT INTO {model.table} {sql}")
    return model.table


def render_slice(
    model: Model,
    context: Mapping[str, Any],
    key: str | None,
    sliced: set[str],
    index: int,
    slices: int,
) -> str:
    """The model with each input in `sliced` read as its slice `index` of `slices` (rows whose
    hash(key) % slices = index); the whole model when slices is 1."""
    if slices == 1:
        return render(model, context)
    where = f"hash({key}) % {int(slices)} = {int(index)}"
    return render_reading(
        model, context, {table: f"(SELECT * FROM {table} WHERE {where})" for table in sliced}
    )


def render_reading(model: Model, context: Mapping[str, Any], relations: Mapping[str, str]) -> str:
    """The model with each table in `relations` read from the relation given for it (a
    subquery) instead of the table itself."""

    def ref(table: str) -> str:
        return relations.get(table, table)

    return _ENV.get_template(model.template).render(**context, ref=ref)


def _tables_with_column(con: duckdb.DuckDBPyConnection, tables: set[str], column: str) -> set[str]:
    rows = con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_columns() "
        "WHERE column_name = ? AND database_name = current_database()",
        [column],
    ).fetchall()
    return {table for (table,) in rows} & tables


def slice_count(
    con: duckdb.DuckDBPyConnection, tables: set[str], context: Mapping[str, Any]
) -> int:
    """How many slices of patients keep a sliced model within DuckDB's memory limit: the largest
    input's rows over `runtime.slice_rows_per_gb` rows per GB of the limit (1 when it fits)."""
    rows = con.execute(
        "SELECT max(estimated_size) FROM duckdb_tables() "
        "WHERE schema_name || '.' || table_name IN (SELECT unnest(?)) "
        "AND database_name = current_database()",
        [sorted(tables)],
    ).fetchone()[0]
    limit_gb = _memory_limit_bytes(con) / (1 << 30)
    per_slice = max(1.0, limit_gb * context["cfg"]["runtime"]["slice_rows_per_gb"])
    return max(1, min(MAX_SLICES, math.ceil((rows or 0) / per_slice)))


MAX_SLICES = 256

_UNITS = {"": 1, "B": 1, "BYTES": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_UNITS |= {"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


def _memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> float:
    """DuckDB's memory_limit setting ('2.7 GiB') in bytes."""
    text = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    number, _, unit = str(text).strip().partition(" ")
    return float(number) * _UNITS[unit.strip().upper()]


def validated(config: Mapping[str, Any]) -> Config:
    """The config checked against its schema (a Config from load_config already is)."""
    if isinstance(config, Config) and config.validated:
        return config
    return validate_config(config)


def transform_context(config: Mapping[str, Any]) -> dict[str, Any]:
    """What intermediate and mart templates may use: the whole validated config as `cfg`,
    and the quality-improvement indicator definitions as `qi` (trscohort.qi)."""
    config = validated(config)
    return {"cfg": config, "qi": qi.template_context(config)}


def build_transform(
    con: duckdb.DuckDBPyConnection,
    config: Mapping[str, Any],
    targets: Iterable[str] | None = None,
) -> list[str]:
    """Build every intermediate and mart model in dependency order (no Dagster needed), or
    only `targets` and the models they read."""
    context = transform_context(config)
    return [build_model(con, m, context) for m in build_order(context, targets)]
