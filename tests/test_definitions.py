"""The Dagster code location loads, and its assets materialise into a temporary DuckDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from tests.conftest import BASE_EXTRACTS, write_extracts
from trscohort.errors import UsageError
from trscohort.orchestration.assets import all_assets
from trscohort.orchestration.definitions import build_resources, defs, schedule_timezone

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_hold_every_layer_and_the_monthly_schedule():
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"reference/reference_data", "staging/patients", "quarantine/labs"} <= keys
    assert "audit/run_parameters" in keys
    schedule = defs.resolve_schedule_def("full_refresh_schedule")
    # README: "02:00 on the 2nd of each month" in TRSCOHORT_SCHEDULE_TIMEZONE (UTC by default)
    assert schedule.cron_schedule == "0 2 2 * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == "full_refresh"


def test_the_schedule_time_zone_is_an_iana_name(monkeypatch):
    monkeypatch.setenv("TRSCOHORT_SCHEDULE_TIMEZONE", "Europe/London")
    assert schedule_timezone() == "Europe/London"
    monkeypatch.setenv("TRSCOHORT_SCHEDULE_TIMEZONE", "Europe/Londn")
    with pytest.raises(UsageError, match="'Europe/Londn' is not an IANA time zone"):
        schedule_timezone()


def test_the_project_loads_with_dg_and_leaves_no_dagster_home_behind(tmp_path):
    """`dg` (Dagster's current CLI) finds the code location from pyproject's [tool.dg]."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    before = {p.name for p in ROOT.iterdir()}
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("dg")), "list", "defs", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DAGSTER_HOME": str(home)},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    found = json.loads(completed.stdout)
    assert {"name": "full_refresh_schedule", "cron_schedule": "0 2 2 * *"} in found["schedules"]
    assert {"name": "full_refresh"} in found["jobs"]
    assert "marts/patient_trs_status" in {a["asset_key"] for a in found["assets"]}
    assert {p.name for p in ROOT.iterdir()} == before


def test_the_job_and_the_asset_graph_run_in_process():
    """One DuckDB writer, no subprocess per step (issue 17: the multiprocess default took 366 s
    through the UI at 500 patients against 20 s from the CLI)."""
    assert defs.resolve_job_def("full_refresh").executor_def.name == "in_process"
    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == "in_process"


def test_workspace_loads_with_the_dagster_cli():
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_materialize_into_a_temporary_duckdb(tmp_path):
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    database = tmp_path / "w.duckdb"
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            all_assets,
            resources=build_resources(
                warehouse=str(database), input_dir=str(folder), out_dir=str(tmp_path / "out")
            ),
            instance=instance,
        )
    assert result.success
    labs = result.asset_materializations_for_node("ingest_labs")
    by_key = {m.asset_key: m.metadata for m in labs}
    assert by_key[AssetKey(["staging", "labs"])]["accepted"].value == 1
    assert by_key[AssetKey(["quarantine", "labs"])]["quarantined"].value == 0
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.diagnoses").fetchone() == (1,)


def _opens_with_other_settings(database: Path) -> bool:
    """Whether a connection with settings of its own opens: DuckDB refuses one while the file
    is open in this process with the run's settings."""
    try:
        duckdb.connect(str(database), config={"threads": "1"}).close()
    except duckdb.ConnectionException:
        return False
    return True


def test_an_asset_that_raises_does_not_leave_the_warehouse_open(tmp_path):
    """dagster-duckdb closed its connection only when the body returned: after a failed asset
    the file stayed open with the run's settings while anything held the traceback, and the
    runner could not open it again (nor keep the failed run's data-quality report)."""
    from trscohort.orchestration.resources import WarehouseResource

    database = tmp_path / "w.duckdb"
    warehouse = WarehouseResource(
        database=str(database), connection_config={"threads": "1"}, hold_open=False
    )
    # `raised` keeps the traceback, and with it the frames that held the connection.
    with pytest.raises(RuntimeError) as raised, warehouse.get_connection() as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        raise RuntimeError("an asset failed")
    assert raised.traceback
    with duckdb.connect(str(database), read_only=True) as reader:
        assert reader.execute("SELECT x FROM t").fetchall() == [(1,)]


@pytest.mark.parametrize(("engine", "held"), [("duckdb", True), ("spark", False)])
def test_the_warehouse_is_held_open_while_a_run_executes(tmp_path, engine, held):
    """Each asset's connection joins the open database (no catalog load and checkpoint per
    asset); with Spark the DuckDB file is not the warehouse and is left alone."""
    from dagster import build_resources as run_resources

    database = tmp_path / "w.duckdb"
    warehouse = build_resources(warehouse=str(database), engine=engine)["duckdb"]
    with run_resources({"duckdb": warehouse}) as resources:
        if held:
            with resources.duckdb.get_connection() as con:
                con.execute("CREATE TABLE t AS SELECT 1 AS x")
            assert not _opens_with_other_settings(database)  # open between the assets' connections
        else:
            assert not database.exists()
    assert _opens_with_other_settings(database)  # closed once the run ends
