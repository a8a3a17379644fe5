"""Ingest assets: reference data, then per extract raw -> staging + quarantine, then run parameters.

Thin wrappers: each calls one function of the domain core and reports its counts as metadata.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)
from dagster_duckdb import DuckDBResource

from trscohort.contract import EXTRACTS
from trscohort.ingest import ingest_extract
from trscohort.ingest.staging import load_reference
from trscohort.orchestration.resources import TrsEngine, TrsSettings
from trscohort.quality import write_report
from trscohort.run_parameters import record_run_parameters
from trscohort.vocab.checks import raise_on_errors
from trscohort.vocab.unmapped import audit_vocabulary

from .progress import report


@asset(key=["reference", "reference_data"], group_name="reference")
def reference_data(
    context: AssetExecutionContext,
    duckdb: DuckDBResource,
    settings: TrsSettings,
    engine: TrsEngine,
) -> MaterializeResult:
    """The packaged reference CSVs (drugs and CPZ factors, lab analytes and units, ICD-10 groups)."""
    if engine.is_spark:
        config = settings.config()
        counts = engine.spark_warehouse(config).load_reference(config, settings.mapping())
    else:
        with duckdb.get_connection() as con:
            counts = load_reference(con, settings.config(), settings.mapping())
    report(context, f"reference data: {len(counts)} tables")
    return MaterializeResult(metadata={f"rows_{k}": v for k, v in counts.items()})


def _extract_asset(extract: str):
    deps = [AssetKey(["reference", "reference_data"])]
    if extract != "patients":
        deps.append(AssetKey(["staging", "patients"]))

    @multi_asset(
        name=f"ingest_{extract}",
        specs=[
            AssetSpec(
                ["staging", extract],
                deps=deps,
                group_name="staging",
                description=f"{EXTRACTS[extract].description}: typed, mapped, deduplicated",
            ),
            AssetSpec(
                ["quarantine", extract],
                deps=deps,
                group_name="quarantine",
                description=f"{extract} rows that could not be used, as read, with a reason",
            ),
        ],
    )
    def _ingest(
        context: AssetExecutionContext,
        duckdb: DuckDBResource,
        settings: TrsSettings,
        engine: TrsEngine,
    ):
        source = settings.sources().get(extract)
        if engine.is_spark:
            config = settings.config()
            wh = engine.spark_warehouse(config)
            counts = wh.ingest_extract(extract, source, settings.mapping(), config)
            sha256 = wh.sha256(extract)
            reused = False
        else:
            with duckdb.get_connection() as con:
                result = ingest_extract(
                    con, extract, source, settings.mapping(), settings.config(), settings.previous()
                )
            counts, sha256 = result.counts, result.sha256
            reused = result.reused
        report(
            context,
            f"{extract}: read {counts.read:,}, accepted {counts.accepted:,}, "
            f"quarantined {counts.quarantined:,}, duplicates {counts.duplicates:,}"
            + (" (unchanged: copied from the previous warehouse)" if reused else ""),
        )
        file = str(source.path) if source else "(not supplied)"
        yield MaterializeResult(
            asset_key=["staging", extract],
            metadata={
                "file": file,
                "sha256": sha256 or "",
                "reused": reused,
                "rows_read": counts.read,
                "accepted": counts.accepted,
                "duplicates": counts.duplicates,
                "table": MetadataValue.text(f"staging.{extract}"),
            },
        )
        yield MaterializeResult(
            asset_key=["quarantine", extract], metadata={"quarantined": counts.quarantined}
        )

    return _ingest


extract_assets = [_extract_asset(name) for name in EXTRACTS]


@asset(
    key=["audit", "unmapped_values"],
    deps=[AssetKey([layer, name]) for name in EXTRACTS for layer in ("staging", "quarantine")],
    group_name="audit",
)
def unmapped_values(
    context: AssetExecutionContext,
    duckdb: DuckDBResource,
    settings: TrsSettings,
    engine: TrsEngine,
) -> MaterializeResult:
    """Source values no concept was found for, with suggestions; the vocabulary checks (no ANC
    recognised for clozapine patients stops the run, the others are warnings)."""
    with engine.connection(duckdb) as con:
        count, checks = audit_vocabulary(con, settings.config())
        if settings.report_each_check:
            write_report(con, settings.out_dir)
    warnings = [c for c in checks if c.severity == "warning"]
    report(context, f"unmapped source values: {count:,}; vocabulary warnings: {len(warnings)}")
    raise_on_errors(checks)
    return MaterializeResult(
        metadata={
            "unmapped_values": count,
            "warnings": MetadataValue.md("\n".join(f"- {c.message}" for c in warnings) or "none"),
        }
    )


@asset(
    key=["audit", "run_parameters"],
    deps=[
        *(AssetKey(["staging", name]) for name in EXTRACTS),
        # a failed vocabulary check stops every model downstream of the run parameters
        AssetKey(["audit", "unmapped_values"]),
    ],
    group_name="audit",
)
def run_parameters(
    context: AssetExecutionContext,
    duckdb: DuckDBResource,
    settings: TrsSettings,
    engine: TrsEngine,
) -> MaterializeResult:
    """The as-of date (given, or the latest date in the extracts) and the configuration used."""
    with engine.connection(duckdb) as con:
        as_of = record_run_parameters(
            con,
            settings.config(),
            as_of=settings.as_of_date(),
            input_dir=settings.input_label(),
            mapping_path=settings.mapping_path,
        )
    report(context, f"as-of date: {as_of.isoformat()}")
    return MaterializeResult(metadata={"as_of_date": as_of.isoformat()})


ingest_assets = [reference_data, *extract_assets, unmapped_values, run_parameters]
