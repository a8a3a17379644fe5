"""The published dashboards (issue 6): `<out>/dashboards/`, written from the marts.

Depends on the marts (and intermediate tables) the pages read whose SQL model (or, for a mart
built in Python, its .yml doc) exists when the definitions load, so a page lights up as its mart lands; a missing table is a panel on the
page, not a failure.
"""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource

from trscohort.dashboards import tables_read, write_dashboards
from trscohort.models import SQL_DIR
from trscohort.orchestration.resources import TrsEngine, TrsSettings

from .progress import report


def _upstream() -> list[AssetKey]:
    keys = [AssetKey(["audit", "run_parameters"])]
    for table in tables_read():
        layer, name = table.split(".")
        # a SQL model, or a documented table built in Python (marts.ae_rates)
        if any((SQL_DIR / layer / f"{name}.{ext}").is_file() for ext in ("sql", "yml")):
            keys.append(AssetKey([layer, name]))
    return keys


@asset(key=["dashboards"], deps=_upstream(), group_name="publication")
def dashboards(
    context: AssetExecutionContext,
    duckdb: DuckDBResource,
    settings: TrsSettings,
    engine: TrsEngine,
) -> MaterializeResult:
    """Offline HTML dashboards (funnel, monitoring, ANC, adverse events, safety and data
    quality): aggregates only, small counts suppressed, checked for patient identifiers."""
    with engine.connection(duckdb) as con:
        published = write_dashboards(con, settings.out_dir)
    report(
        context,
        f"dashboards: {len(published.files) - 1} pages, {published.charts} charts "
        f"in {published.directory}",
    )
    if published.exposure_warning():
        report(context, published.exposure_warning(), ok=False)
    return MaterializeResult(
        metadata={
            "index": MetadataValue.path(str(published.index)),
            "charts": published.charts,
            "not_available": MetadataValue.md(
                "\n".join(f"- {m}" for m in published.unavailable) or "none"
            ),
        }
    )


dashboard_assets = [dashboards]
