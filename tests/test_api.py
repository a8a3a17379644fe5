"""The researcher API, and readers and runs not getting in each other's way."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import BASE_EXTRACTS, write_extracts
from tests.trs_cases import build
from trscohort.api import WarehouseBusy, open_warehouse
from trscohort.cli import main
from trscohort.errors import UsageError


@pytest.fixture
def trs_warehouse(tmp_path):
    con = build(tmp_path / "case")
    path = tmp_path / "w.duckdb"
    con.execute(f"ATTACH '{path}' AS w")
    con.execute("COPY FROM DATABASE memory TO w")
    con.execute("DETACH w")
    return path


def test_tables_and_columns_carry_their_documentation(trs_warehouse):
    with open_warehouse(trs_warehouse) as wh:
        tables = dict(zip(wh.tables()["table"], wh.tables()["description"], strict=True))
        assert tables["marts.patient_trs_status"].startswith("One row per patient")
        assert tables["quarantine.labs"].startswith("rows that could not be used")
        columns = wh.columns("marts.patient_trs_status")
        doc = dict(zip(columns["column"], columns["description"], strict=True))
        assert doc["trs_status"] == "trs, pseudo_resistant, not_trs or no_schizophrenia_diagnosis"


def test_sql_returns_polars_or_pandas(trs_warehouse):
    with open_warehouse(trs_warehouse) as wh:
        polars_frame = wh.sql("SELECT trs_status FROM marts.patient_trs_status")
        pandas_frame = wh.sql("SELECT trs_status FROM marts.patient_trs_status", to="pandas")
    assert polars_frame["trs_status"].to_list() == ["trs"]
    assert pandas_frame["trs_status"].tolist() == ["trs"]


def test_cohort_timeline_and_explanation(trs_warehouse):
    with open_warehouse(trs_warehouse) as wh:
        assert wh.cohort(trs_status="trs")["patient_id"].to_list() == ["P1"]
        assert wh.cohort(trs_status="not_trs").height == 0
        timeline = wh.timeline("P1")
        assert timeline["kind"].to_list() == [
            "diagnosis",
            "prescription",
            "assessment",
            "prescription",
            "assessment",
        ]
        assert wh.explain("P1").to_text().startswith("Patient P1: trs")


def test_a_reader_keeps_its_view_while_a_run_swaps_in_a_new_warehouse(tmp_path):
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    warehouse, out = tmp_path / "w.duckdb", tmp_path / "out"
    assert (
        main(["run", "--input", str(folder), "--warehouse", str(warehouse), "--out", str(out)]) == 0
    )
    reader = open_warehouse(warehouse)
    extra = BASE_EXTRACTS["patients"].rstrip() + "\n        P3,1990-01-01,F,false,north,\n"
    write_extracts(folder, {"patients": extra})
    assert (
        main(["run", "--input", str(folder), "--warehouse", str(warehouse), "--out", str(out)]) == 0
    )
    count = "SELECT count(*) AS n FROM staging.patients"
    assert reader.sql(count)["n"].to_list() == [2]  # the old file, still open
    reader.close()
    with open_warehouse(warehouse) as fresh:
        assert fresh.sql(count)["n"].to_list() == [3]


def test_a_writer_holding_the_file_gives_a_clear_message(trs_warehouse):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys, time
                con = duckdb.connect({str(trs_warehouse)!r})
                print("locked", flush=True)
                time.sleep(30)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(WarehouseBusy, match="being written by another process"):
            open_warehouse(trs_warehouse)
    finally:
        holder.kill()
        holder.wait()


def test_figures_are_the_dashboard_functions(sample_warehouse):
    with open_warehouse(sample_warehouse) as wh:
        assert {"cohort_funnel", "anc_adherence_by_phase"} <= set(wh.figures())
        figure = wh.figure("cohort_funnel")
        # the funnel's steps as bars, so a suppressed step can carry its hatched marker
        assert figure.data and figure.data[0].type == "bar"
        assert figure.data[0].orientation == "h"
        with pytest.raises(UsageError, match="no figure 'pie'"):
            wh.figure("pie")
