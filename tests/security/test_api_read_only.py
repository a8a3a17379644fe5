"""Issue 15, items 5 and 15: the researcher API is read-only in effect, and reopening after a
run gives the new warehouse."""

from __future__ import annotations

import os

import duckdb
import pytest

from trscohort.api import open_warehouse
from trscohort.errors import UsageError


def _warehouse(path, patients: int):
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA staging")
        con.execute(
            "CREATE TABLE staging.patients AS SELECT 'P' || i AS patient_id FROM range(?) t(i)",
            [patients],
        )
    return path


@pytest.fixture
def wh(tmp_path):
    with open_warehouse(_warehouse(tmp_path / "w.duckdb", 2)) as handle:
        yield handle


def _attacks(tmp_path) -> dict[str, str]:
    return {
        "copy to a file": f"COPY staging.patients TO '{tmp_path / 'leak.csv'}'",
        "export the database": f"EXPORT DATABASE '{tmp_path / 'export'}'",
        "read a system file": "SELECT * FROM read_text('/etc/hostname')",
        "read a csv": "SELECT * FROM read_csv('/etc/passwd')",
        "copy over https (would install httpfs)": (
            "COPY staging.patients TO 'https://example.org/leak.csv'"
        ),
        "install an extension": "INSTALL httpfs",
        "load an extension": "LOAD httpfs",
        "turn external access back on": "SET enable_external_access = true",
        "unlock the configuration": "SET lock_configuration = false",
        "attach another database": f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
        "write into the warehouse": "CREATE TABLE staging.x AS SELECT 1 AS y",
        "change the temp directory": f"SET temp_directory = '{tmp_path / 'spill'}'",
    }


@pytest.mark.parametrize(
    "attack",
    [
        "copy to a file",
        "export the database",
        "read a system file",
        "read a csv",
        "copy over https (would install httpfs)",
        "install an extension",
        "load an extension",
        "turn external access back on",
        "unlock the configuration",
        "attach another database",
        "write into the warehouse",
        "change the temp directory",
    ],
)
def test_sql_cannot_reach_files_network_extensions_or_settings(wh, tmp_path, attack):
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(duckdb.Error):
        wh.sql(_attacks(tmp_path)[attack])
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert wh.sql("SELECT count(*) AS n FROM staging.patients")["n"].to_list() == [2]


def test_reopening_after_a_run_gives_the_new_warehouse_while_a_handle_is_open(tmp_path):
    """`trscohort run` swaps in a new file with os.replace; DuckDB's per-process instance cache
    used to hand the old file back to a reopen while any handle on it was still open."""
    path = _warehouse(tmp_path / "w.duckdb", 2)
    old = open_warehouse(path)
    count = "SELECT count(*) AS n FROM staging.patients"
    assert old.sql(count)["n"].to_list() == [2]
    os.replace(_warehouse(tmp_path / "w.duckdb.building-1", 3), path)  # what the runner does
    with open_warehouse(path) as fresh:
        assert fresh.sql(count)["n"].to_list() == [3]
    assert old.sql(count)["n"].to_list() == [2]  # the old handle keeps its view until closed
    old.close()


def test_a_folder_or_a_file_that_is_not_a_warehouse_is_one_line(tmp_path):
    with pytest.raises(UsageError, match="warehouse not found"):
        open_warehouse(tmp_path)
    (tmp_path / "notes.duckdb").write_text("not a database")
    with pytest.raises(UsageError) as caught:
        open_warehouse(tmp_path / "notes.duckdb")
    assert "\n" not in str(caught.value)
