"""marts.ae_rates: adverse-event incidence with exact Poisson intervals (a thin wrapper over
trscohort.rates, which sums marts.clozapine_person_time in DuckDB and adds the intervals)."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset
from dagster_duckdb import DuckDBResource

from pipelines.resources import TrsSettings
from trscohort.models import Model
from trscohort.rates import build_ae_rates

from .progress import report
from .transform import _column_schema

AE_RATES = Model("marts", "ae_rates")  # documented in trscohort/sql/marts/ae_rates.yml


@asset(
    key=["marts", "ae_rates"],
    deps=[AssetKey(["marts", "clozapine_person_time"]), AssetKey(["audit", "run_parameters"])],
    group_name="marts",
    description=AE_RATES.doc()["description"],
)
def ae_rates(
    context: AssetExecutionContext, duckdb: DuckDBResource, settings: TrsSettings
) -> MaterializeResult:
    with duckdb.get_connection() as con:
        count = build_ae_rates(con, settings.config())
        schema = _column_schema(con, AE_RATES)
    report(context, f"marts.ae_rates: {count:,} rows")
    return MaterializeResult(metadata={"dagster/row_count": count, "dagster/column_schema": schema})


rate_assets = [ae_rates]
