"""Marts built in Python over small DuckDB aggregates (thin wrappers over the core):
marts.ae_rates and marts.ae_rates_grace_sensitivity (trscohort.rates: exact Poisson and robust
intervals) and marts.ae_competing_risks (trscohort.competing: Aalen-Johansen)."""

from collections.abc import Callable

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, asset
from dagster_duckdb import DuckDBResource

from trscohort.competing import build_competing_risks
from trscohort.models import Model
from trscohort.orchestration.resources import TrsEngine, TrsSettings
from trscohort.rates import build_ae_rates, build_grace_sensitivity

from .progress import report
from .transform import _column_schema


def _python_mart(name: str, upstream: str, build: Callable) -> AssetsDefinition:
    model = Model("marts", name)  # documented in trscohort/sql/marts/<name>.yml

    @asset(
        name=name,
        key_prefix=["marts"],
        deps=[AssetKey(upstream.split(".")), AssetKey(["audit", "run_parameters"])],
        group_name="marts",
        description=model.doc()["description"],
    )
    def _build(
        context: AssetExecutionContext,
        duckdb: DuckDBResource,
        settings: TrsSettings,
        engine: TrsEngine,
    ) -> MaterializeResult:
        with engine.connection(duckdb) as con:
            count = build(con, settings.config())
            schema = _column_schema(con, model)
        report(context, f"{model.table}: {count:,} rows")
        return MaterializeResult(
            metadata={"dagster/row_count": count, "dagster/column_schema": schema}
        )

    return _build


rate_assets = [
    _python_mart("ae_rates", "marts.clozapine_person_time", build_ae_rates),
    _python_mart(
        "ae_rates_grace_sensitivity", "intermediate.ae_person_time", build_grace_sensitivity
    ),
    _python_mart("ae_competing_risks", "intermediate.ae_follow_up", build_competing_risks),
]
