"""One Dagster asset per intermediate and mart SQL model, generated from the model files.

Dependencies come from each model's `ref()` calls; descriptions and column docs from its .yml.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    TableColumn,
    TableSchema,
    asset,
)
from dagster_duckdb import DuckDBResource

from trscohort.config import load_config
from trscohort.models import Model, build_model, model_refs, transform_context, transform_models
from trscohort.orchestration.resources import TrsEngine, TrsSettings

from .progress import report


def asset_key_for(table: str) -> AssetKey:
    """The asset that produces a table (reference tables all come from one asset)."""
    layer, name = table.split(".")
    if layer == "reference":
        return AssetKey(["reference", "reference_data"])
    if layer == "audit":
        return AssetKey(["audit", "run_parameters"])
    return AssetKey([layer, name])


def _column_schema(con, model: Model) -> TableSchema:
    docs = model.doc()["columns"]
    described = con.execute(f"DESCRIBE {model.table}").fetchall()
    return TableSchema(
        columns=[
            TableColumn(name, str(kind), description=docs.get(name, ""))
            for name, kind, *_ in described
        ]
    )


def _model_asset(model: Model) -> AssetsDefinition:
    refs = model_refs(model, transform_context(load_config()))

    @asset(
        key=[model.layer, model.name],
        deps=sorted({asset_key_for(r) for r in refs}, key=lambda k: k.to_user_string()),
        group_name=model.layer,
        description=model.doc()["description"] or f"SQL model {model.table}",
    )
    def _build(
        context: AssetExecutionContext,
        duckdb: DuckDBResource,
        settings: TrsSettings,
        engine: TrsEngine,
    ) -> MaterializeResult:
        config = settings.config()
        if engine.is_spark:
            engine.spark_warehouse(config).build_model(model, transform_context(config))
        with engine.connection(duckdb) as con:
            if not engine.is_spark:
                build_model(con, model, transform_context(config))
            count = con.execute(f"SELECT count(*) FROM {model.table}").fetchone()[0]
            schema = _column_schema(con, model)
        report(context, f"{model.table}: {count:,} rows")
        return MaterializeResult(
            metadata={"dagster/row_count": count, "dagster/column_schema": schema}
        )

    return _build


transform_assets = [_model_asset(m) for m in transform_models()]
