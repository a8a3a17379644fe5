"""SQL models: Jinja-templated SELECT statements under `sql/<layer>/<name>.sql`.

A model renders to one SELECT in DuckDB's dialect; `build_model` materialises it as the table
`<layer>.<name>`. Rendering is separate from running so that tests can parse every model with
SQLGlot and transpile it to Spark.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import jinja2

SQL_DIR = Path(__file__).with_name("sql")

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


def all_models() -> list[Model]:
    """Every model file, by layer and name (macros and helpers starting with '_' excluded)."""
    return [
        Model(path.parent.name, path.stem)
        for path in sorted(SQL_DIR.glob("*/*.sql"))
        if not path.stem.startswith("_")
    ]


def render(model: Model, context: Mapping[str, Any]) -> str:
    return _ENV.get_template(model.template).render(**context)


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
