"""Issue 17: models marked `slice_by: patient_id` are built in slices of patients when their
inputs are large for DuckDB's memory limit (at 1,000,000 patients antipsychotic_segments ran out
of a 3 GB limit in one statement). Sliced or not, the table must hold the same rows."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from trscohort.config import load_config, validate_config
from trscohort.models import (
    Model,
    _tables_with_column,
    build_model,
    model_refs,
    slice_count,
    transform_context,
    transform_models,
)

SLICED = [m for m in transform_models() if m.doc()["slice_by"]]


def _context(rows_per_gb: int) -> dict:
    config = dict(load_config())
    config["runtime"] = {**config["runtime"], "slice_rows_per_gb": rows_per_gb}
    return transform_context(validate_config(config))


def test_the_model_that_ran_out_of_memory_is_sliced():
    assert Model("intermediate", "antipsychotic_segments") in SLICED


@pytest.mark.parametrize("model", SLICED, ids=lambda m: m.table)
def test_a_sliced_build_holds_the_same_rows_as_one_statement(sample_warehouse, tmp_path, model):
    copy = tmp_path / "w.duckdb"
    shutil.copy(sample_warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("SET memory_limit = '1GB'")
        context = _context(rows_per_gb=1_000)  # ~1,000 input rows per slice on the sample
        key = model.doc()["slice_by"]
        inputs = _tables_with_column(con, model_refs(model, context), key)
        assert inputs, f"{model.table}: slice_by {key} but no input has that column"
        slices = slice_count(con, inputs, context)
        assert slices > 3, slices
        con.execute(f"CREATE TABLE main.whole AS SELECT * FROM {model.table}")
        build_model(con, model, context)
        whole, sliced = (
            con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("main.whole", model.table)
        )
        assert whole == sliced > 0
        for a, b in (("main.whole", model.table), (model.table, "main.whole")):
            extra = con.execute(f"SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}").fetchall()
            assert extra == [], (model.table, extra[:3])


@pytest.mark.parametrize(
    ("limit", "rows", "rows_per_gb", "expected"),
    [
        ("1GiB", 2_500_000, 1_000_000, 3),  # 2.5 M rows, 1 M per GB of a 1 GiB limit
        ("1GiB", 1_000_000, 1_000_000, 1),  # exactly one slice's worth
        ("1GiB", 1_000_001, 1_000_000, 2),
        ("4GiB", 15_500_000, 1_000_000, 4),  # 1M patients' prescriptions at 4 GiB
        ("1GiB", 0, 1_000_000, 1),
    ],
)
def test_slice_count_is_the_largest_input_over_rows_per_gb(
    tmp_path, limit, rows, rows_per_gb, expected
):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(f"SET memory_limit = '{limit}'")
        con.execute("CREATE SCHEMA s")
        con.execute(f"CREATE TABLE s.big AS SELECT range AS patient_id FROM range({rows})")
        con.execute("CREATE TABLE s.small AS SELECT 1 AS patient_id")
        con.execute("CHECKPOINT")  # estimated_size is exact once written
        assert slice_count(con, {"s.big", "s.small"}, _context(rows_per_gb)) == expected
