"""The pandas baseline of the TRS trial rules (benchmarks/bench_pandas.py) gives the SQL model's
rows exactly, on the 500-patient sample (issue 17: an honest baseline); the 100,000-patient
timing is the benchmark's."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_pandas import assert_equal, judge_trials, load_inputs, run  # noqa: E402

from trscohort.config import load_config  # noqa: E402


def test_pandas_trials_equal_the_sql_model_row_for_row(sample_warehouse):
    result = run(sample_warehouse)
    assert result["rows_equal"] and result["episodes"] > 100
    assert result["sql_seconds"] > 0 and result["pandas_seconds"] > 0


def test_the_comparison_catches_a_difference(sample_warehouse):
    """A baseline that cannot fail is no baseline: one changed threshold is caught."""
    with duckdb.connect(str(sample_warehouse), read_only=True) as con:
        inputs = load_inputs(con)
        sql = con.execute("SELECT * FROM intermediate.antipsychotic_trials").df()
    trs = dict(load_config()["trs"])
    assert_equal(sql, judge_trials(inputs, trs))
    trs["min_trial_days"] = trs["min_trial_days"] + 1
    changed = judge_trials(inputs, trs)
    if (sql.days == trs["min_trial_days"] - 1).any():
        with pytest.raises(AssertionError, match="duration_ok"):
            assert_equal(sql, changed)
    trs["min_trial_days"] -= 1
    shifted = sql.assign(adherence_pct=sql.adherence_pct + 0.5)
    if shifted.adherence_pct.notna().any():
        with pytest.raises(AssertionError, match="adherence_pct"):
            assert_equal(shifted, judge_trials(inputs, trs))
    assert isinstance(sql, pd.DataFrame)
