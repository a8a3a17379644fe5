"""Warehouses for the dashboard tests: a synthetic cohort run through ingest and every SQL model,
plus stand-ins (shaped as issue 5 and the data-quality helper describe them) for the marts and
audit tables that may not exist yet, so every chart can be drawn. A real table always wins over
its stand-in."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb

from trscohort.config import load_config
from trscohort.contract import EXTRACT_ORDER, discover_sources, load_mapping
from trscohort.dashboards import Published, write_dashboards
from trscohort.dashboards.common import has_table
from trscohort.ingest import ingest_extract
from trscohort.ingest.staging import load_reference
from trscohort.models import build_transform
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

STANDIN_EVENTS = ("AE-NEU", "AE-MYO", "AE-SEIZ", "AE-GI", "AE-MET")


def add_standins(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create the stand-in tables that are missing; returns their names."""
    made = []
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    if not has_table(con, "marts.ae_rates"):
        rows = []
        strata = {
            "overall": ["all"],
            "time since start": ["weeks 0-4", "weeks 4-18", "weeks 18-52", "> 52 weeks"],
            "dose band": ["< 300", "300-600", "> 600"],
            "sex": ["F", "M"],
        }
        for i, event in enumerate(STANDIN_EVENTS):
            for stratifier, levels in strata.items():
                for j, level in enumerate(levels):
                    # a mix of large counts and 1..10 (to be withheld) and 0
                    events = [0, 3, 25, 140, 12][(i + j) % 5] * (
                        4 if stratifier == "overall" else 1
                    )
                    py = 800.0 + 100 * j
                    rate = 1000 * events / py
                    rows.append(
                        (event, stratifier, level, events, py, rate, rate * 0.7, rate * 1.4 + 0.5)
                    )
        con.execute(
            "CREATE TABLE marts.ae_rates (event_id VARCHAR, stratifier VARCHAR, stratum VARCHAR, "
            "events BIGINT, person_years DOUBLE, rate_per_1000py DOUBLE, ci_low DOUBLE, "
            "ci_high DOUBLE)"
        )
        con.executemany("INSERT INTO marts.ae_rates VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        made.append("marts.ae_rates")
    if not has_table(con, "marts.ae_cumulative_incidence"):
        rows = []
        for i, event in enumerate(STANDIN_EVENTS):
            total = [40, 5, 30, 400, 60][i]  # AE-MYO: 5 events, withheld throughout
            for week in range(0, 105):
                events = round(total * min(week, 52) / 52)
                p = events / 2000
                rows.append((event, week, p, max(p - 0.003, 0), p + 0.003, events, 2000 - week))
        con.execute(
            "CREATE TABLE marts.ae_cumulative_incidence (event_id VARCHAR, week INTEGER, "
            "cumulative_incidence DOUBLE, ci_low DOUBLE, ci_high DOUBLE, cumulative_events "
            "BIGINT, at_risk BIGINT)"
        )
        con.executemany(
            "INSERT INTO marts.ae_cumulative_incidence VALUES (?, ?, ?, ?, ?, ?, ?)", rows
        )
        made.append("marts.ae_cumulative_incidence")
    if not has_table(con, "audit.dq_results"):
        pid, birth = con.execute(
            "SELECT patient_id, CAST(birth_date AS VARCHAR) FROM staging.patients LIMIT 1"
        ).fetchone()
        con.execute(
            "CREATE TABLE audit.dq_results (suite VARCHAR, asset VARCHAR, table_name VARCHAR, "
            "check_name VARCHAR, severity VARCHAR, expectation VARCHAR, success BOOLEAN, "
            "observed_value VARCHAR, unexpected_count BIGINT, element_count BIGINT, "
            "unexpected_percent DOUBLE, examples VARCHAR, message VARCHAR, run_at TIMESTAMP, "
            "seconds DOUBLE)"
        )
        now = dt.datetime(2025, 1, 1, 12, 0)
        quoted = json.dumps([pid, birth])  # observed values quote rows: never published
        con.executemany(
            "INSERT INTO audit.dq_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    """Synthetic extracts -> ingest -> every SQL model (-> stand-ins) in `folder/w.duckdb`.

    Marts built in Python by their own asset (marts.ae_rates) are not built here: their
    stand-in is used unless `standins` is false."""
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
