"""Warehouses for the dashboard tests: a synthetic cohort run through ingest, every SQL model and
marts.ae_rates, plus data-quality results (audit.dq_results, as the checks record them) whose
observed values quote patient rows, so the tests can show those are never published."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb

from trscohort.competing import build_competing_risks
from trscohort.config import load_config
from trscohort.contract import EXTRACT_ORDER, discover_sources, load_mapping
from trscohort.dashboards import Published, write_dashboards
from trscohort.dashboards.common import has_table
from trscohort.ingest import ingest_extract
from trscohort.ingest.staging import load_reference
from trscohort.models import build_transform
from trscohort.quality.results import DQ_RESULTS_DDL
from trscohort.rates import build_ae_rates
from trscohort.run_parameters import record_run_parameters
from trscohort.synth import generate

# What the "bare" warehouse lacks: the adverse-event marts, safety flags and data-quality results.
BARE_DROP = (
    "marts.ae_rates",
    "marts.ae_cumulative_incidence",
    "marts.adverse_events",
    "marts.safety_flags",
    "audit.dq_results",
)


def add_standins(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Record data-quality results unless the warehouse has some; returns the tables made."""
    made = []
    if not has_table(con, "audit.dq_results"):
        pid, birth = con.execute(
            "SELECT patient_id, CAST(birth_date AS VARCHAR) FROM staging.patients LIMIT 1"
        ).fetchone()
        con.execute(DQ_RESULTS_DDL)
        now = dt.datetime(2025, 1, 1, 12, 0)
        quoted = json.dumps([pid, birth])  # observed values quote rows: never published
        con.executemany(
            "INSERT INTO audit.dq_results (suite, asset, table_name, check_name, severity, "
            "expectation, success, observed_value, unexpected_count, element_count, "
            "unexpected_percent, examples, message, run_at, seconds) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    "patients",
                    "staging/patients",
                    "staging.patients",
                    "unique_ids",
                    "blocking",
                    "expect_column_values_to_be_unique",
                    True,
                    "0",
                    0,
                    300,
                    0.0,
                    None,
                    "ok",
                    now,
                    0.1,
                ),
                (
                    "labs",
                    "staging/labs",
                    "staging.labs",
                    "values_present",
                    "warning",
                    "expect_column_values_to_not_be_null",
                    False,
                    quoted,
                    4,
                    9000,
                    0.04,
                    quoted,
                    f"4 rows, e.g. {pid}",
                    now,
                    0.1,
                ),
                (
                    "marts",
                    "marts/anc_results",
                    "marts.anc_results",
                    "anc_range",
                    "warning",
                    "expect_column_values_to_be_between",
                    False,
                    "[12, 400000]",
                    37,
                    9000,
                    0.4,
                    quoted,
                    f"37 rows, e.g. {pid} born {birth}",
                    now,
                    0.1,
                ),
            ],
        )
        made.append("audit.dq_results")
    return made


def build_warehouse(
    folder: Path,
    *,
    patients: int = 300,
    seed: int = 11,
    standins: bool = True,
    drop: tuple[str, ...] = (),
) -> Path:
    """Synthetic extracts -> ingest -> every SQL model -> marts.ae_rates (-> data-quality
    results unless `standins` is false) in `folder/w.duckdb`, without the tables in `drop`."""
    folder.mkdir(parents=True, exist_ok=True)
    extracts = folder / "input"
    generate(patients, seed, extracts)
    con = duckdb.connect()
    config = load_config()
    load_reference(con, config)
    sources = discover_sources(extracts, load_mapping(None))
    for extract in EXTRACT_ORDER:
        ingest_extract(con, extract, sources.get(extract), load_mapping(None), config)
    record_run_parameters(con, config, as_of=None, input_dir=str(extracts), mapping_path=None)
    build_transform(con, config)
    build_ae_rates(con, config)
    build_competing_risks(con, config)
    for table in drop:  # tables a test wants missing, whatever exists by now
        con.execute(f"DROP TABLE IF EXISTS {table}")
    if standins:
        add_standins(con)
    path = folder / "w.duckdb"
    path.unlink(missing_ok=True)
    con.execute(f"ATTACH '{path}' AS w")
    con.execute("COPY FROM DATABASE memory TO w")
    con.execute("DETACH w")
    con.close()
    return path


def unsuppressed(config) -> object:
    """`config` with small-count suppression off: pages built with it embed every cell's true
    count, in the same layout as the published ones (what the attack tests check against)."""
    from trscohort.config import validate_config

    settings = json.loads(config.to_json())
    settings["publication"] |= {"small_count_max": 0, "allow_unsuppressed": True}
    return validate_config(settings)


def published_site(base: Path, name: str = "full", **kwargs) -> tuple[Path, Path]:
    """(warehouse, dashboards dir), built once per test session under `base` and then reused."""
    folder = base / f"dashboards_{name}"
    done = folder / "done"
    if not done.is_file():
        warehouse = build_warehouse(folder, **kwargs)
        with duckdb.connect(str(warehouse), read_only=True) as con:
            published: Published = write_dashboards(con, folder / "out")
        done.write_text(str(published.directory))
    return folder / "w.duckdb", Path(done.read_text())


def _tables_with_patient_site(con) -> list[str]:
    """Built tables (intermediate and marts) with a patient's site beside its id, other than
    the quality-indicator mart's patients (rebuilt by `spread_over_sites` on its own)."""
    rows = con.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.columns "
        "WHERE table_schema IN ('intermediate', 'marts') AND column_name IN ('site', 'patient_id') "
        "GROUP BY ALL HAVING count(*) = 2 ORDER BY 1"
    ).fetchall()
    return [t for (t,) in rows if t != "marts.qi_indicator_patients"]


def spread_over_sites(warehouse: Path, sites: int) -> None:
    """Reassign every patient to one of `sites` sites (a hash of the id: reproducible), in
    every table that carries a patient's site; the marts counted per site (the quality
    indicators, which keep each unit's site, the monitoring per site and month) are built
    again with the new sites."""
    from trscohort.models import Model, build_model, transform_context

    site = f"'site_' || lpad(CAST(hash(patient_id) % {int(sites)} AS VARCHAR), 2, '0')"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"UPDATE staging.patients SET site = {site}")
        for table in _tables_with_patient_site(con):
            con.execute(f"UPDATE {table} SET site = {site}")
        if has_table(con, "marts.qi_indicator_patients"):
            con.execute(f"UPDATE marts.qi_indicator_patients SET site = {site}")
        for table in _site_aggregates(con):  # counted from the tables above: counted again
            build_model(con, Model(*table.split(".")), transform_context(load_config()))


def _site_aggregates(con) -> list[str]:
    """Built mart models counted per site (a site column, no patient id), such as the
    monitoring windows per site and month and the quality indicators."""
    from trscohort.models import transform_models

    rows = con.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.columns "
        "WHERE table_schema = 'marts' GROUP BY ALL "
        "HAVING bool_or(column_name = 'site') AND NOT bool_or(column_name = 'patient_id') "
        "ORDER BY 1"
    ).fetchall()
    models = {m.table for m in transform_models()}
    return [t for (t,) in rows if t in models]
