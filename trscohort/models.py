"""SQL models: Jinja-templated SELECT statements under `sql/<layer>/<name>.sql`, dbt style.

A model renders to one SELECT in DuckDB's dialect and is materialised as the table
`<layer>.<name>`. Models name their inputs with `{{ ref('layer.name') }}`, which both renders
the table name and records the dependency: the build order and the Dagster asset graph are
derived from those refs, so adding a model is adding a file. A model's documentation (its
description and every column) lives beside it in `<name>.yml`.

Rendering is separate from running so that tests can parse every model with SQLGlot and
transpile it to Spark.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import yaml

from trscohort import qi

SQL_DIR = Path(__file__).with_name("sql")

# Layers built from the ingested data by `build_transform`; ingest builds reference/staging.
TRANSFORM_LAYERS = ("intermediate", "marts")

# Tables the ingest step makes that transform models may ref.
INGEST_TABLES = ("audit.run_parameters", "audit.ingest_log")

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(SQL_DIR)),
    undefined=jinja2.StrictUndefined,
    extensions=["jinja2.ext.do"],
    keep_trailing_newline=True,
)


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
        return {"description": "", "columns": {}}
    data = yaml.safe_load(path.read_text()) or {}
    return {"description": data.get("description", ""), "columns": data.get("columns", {}) or {}}


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


def build_order(context: Mapping[str, Any]) -> list[Model]:
    """Transform models sorted so that every model comes after the models it refs."""
    models = {m.table: m for m in transform_models()}
    graph = {
        table: {r for r in model_refs(m, context) if r in models} for table, m in models.items()
    }
    return [models[t] for t in graphlib.TopologicalSorter(graph).static_order()]


def build_model(
    con: duckdb.DuckDBPyConnection, model: Model, context: Mapping[str, Any], *, temp: bool = False
) -> str:
    """Materialise the model as a table (or temp table `<layer>__<name>`); returns its name."""
    sql = render(model, context)
    if temp:
        name = f"{model.layer}__{model.name}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        return name
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {model.layer}")
    con.execute(f"CREATE OR REPLACE TABLE {model.table} AS {sql}")
    return model.table


def transform_context(config: Mapping[str, Any]) -> dict[str, Any]:
    """What intermediate and mart templates may use: the whole config as `cfg`, and the
    quality-improvement indicator definitions as `qi` (trscohort.qi)."""
    return {"cfg": config, "qi": qi.template_context(config)}


def build_transform(con: duckdb.DuckDBPyConnection, config: Mapping[str, Any]) -> list[str]:
    """Build every intermediate and mart model in dependency order (no Dagster needed)."""
    context = transform_context(config)
    return [build_model(con, m, context) for m in build_order(context)]
