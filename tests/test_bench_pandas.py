"""The pandas baseline (benchmarks/bench_pandas.py, issue 17: an honest baseline) gives the SQL
models' rows exactly: the TRS trial rules (intermediate.antipsychotic_trials) and ANC monitoring
adherence (the MON-ANC rows of intermediate.monitoring_windows and marts.monitoring_adherence), on
the 500-patient sample and, for ANC, on hand-built patients whose windows are worked out by hand.
The 100,000-patient timing is the benchmark's."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_pandas import assert_equal, judge_trials, load_inputs, run  # noqa: E402
from pandas_anc import (  # noqa: E402
    assert_anc_equal,
    judge_anc,
    load_anc_inputs,
    sql_anc_outputs,
)

from tests.test_clozapine_helpers import anc, build, d, rx, titrated  # noqa: E402
from trscohort.config import load_config  # noqa: E402


def test_pandas_equals_the_sql_models_row_for_row(sample_warehouse):
    result = run(sample_warehouse)
    assert result["trs"]["rows_equal"] and result["trs"]["episodes"] > 100
    assert result["anc"]["rows_equal"] and result["anc"]["windows_rows"] > 1000
    assert result["anc"]["adherence_rows"] > 100
    for half in ("trs", "anc", "combined"):
        assert result[half]["sql_seconds"] > 0 and result[half]["pandas_seconds"] > 0
    combined = result["combined"]
    assert combined["ratio"] == pytest.approx(
        combined["pandas_seconds"] / combined["sql_seconds"], abs=0.01
    )


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


def test_the_anc_comparison_catches_a_changed_window_on_the_sample(sample_warehouse):
    mon = load_config()["monitoring"]
    with duckdb.connect(str(sample_warehouse), read_only=True) as con:
        inputs = load_anc_inputs(con, mon)
        sql = sql_anc_outputs(con, mon)
    assert_anc_equal(sql, judge_anc(inputs, mon))
    wider = copy.deepcopy(mon)
    wider["window_tolerance_days"]["weekly"] += 1  # MON-ANC-1 windows +/- 4 days, not 3
    weekly = int((sql["windows"].rule_id == "MON-ANC-1").sum())  # every weekly window moves
    with pytest.raises(AssertionError, match=f"window_start: {weekly} rows differ"):
        assert_anc_equal(sql, judge_anc(inputs, wider))
    miscounted = dict(sql, windows=sql["windows"].assign(n_results=sql["windows"].n_results + 1))
    with pytest.raises(AssertionError, match="monitoring_windows.n_results"):
        assert_anc_equal(miscounted, judge_anc(inputs, mon))


# --- hand-built patients (day 0 = 2024-01-01, the first clozapine dose; as-of day 100) ---------
#
# P1 (general ANC minimum 1500): clozapine from day 0, ongoing. Baseline ANC 1499 on day -2:
#   MON-ANC-0 due, not observed (below the minimum). Weekly windows centre 7 + 7n +/- 3 that end
#   by day 100: centres 7..91, 13 windows. ANCs on day 10 (last day of window 1, 4..10), day 11
#   (first day of window 2, 11..17), none in week 3 (18..24), then on centres 28..91: 12 of 13.
# P2 (benign ethnic neutropenia, minimum 1000): baseline ANC 1000 on day -7 (first day of the
#   baseline window): observed. Clozapine days 0..40, restarted on day 71 after 30 days off: a
#   new schedule from day 71. Schedule 1: centres 7..35 (end 38 <= 40), an ANC on each: 5 of 5;
#   schedule 2: baseline days 64..71 (none) and centres 78, 85, 92 (end 95 <= 100), no ANC: 0 of 3.
# P3: clozapine days 0..40 and from day 60 (19 days off: same schedule). Weekly centres 7..91,
#   of which 46..52 and 53..59 lie wholly off clozapine: 11 due, no ANC at all.

AS_OF = 100
P1_LABS = [anc("P1", -2, 1499), anc("P1", 10, 2000), anc("P1", 11, 2000)]
P1_LABS += [anc("P1", c, 2000) for c in range(28, 92, 7)]
P2_LABS = [anc("P2", -7, 1000), *(anc("P2", c, 2000) for c in range(7, 36, 7))]
PRESCRIPTIONS = [
    *titrated("P1"),
    *titrated("P2", until=40),
    rx("P2", 71, None, 350),
    *titrated("P3", until=40),
    rx("P3", 60, None, 350),
]


@pytest.fixture(scope="module")
def hand_built(tmp_path_factory):
    con = build(
        tmp_path_factory.mktemp("anc_hand"),
        as_of=AS_OF,
        prescriptions=PRESCRIPTIONS,
        labs=P1_LABS + P2_LABS,
    )
    mon = load_config()["monitoring"]
    inputs, sql = load_anc_inputs(con, mon), sql_anc_outputs(con, mon)
    con.close()
    return inputs, sql, mon


def _adherence(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[int, int]]:
    rows = frame[frame.expected_tests > 0]
    return {
        (p, r): (int(e), int(o))
        for p, r, e, o in rows[
            ["patient_id", "rule_id", "expected_tests", "observed_tests"]
        ].itertuples(index=False)
    }


def test_mon_anc_hand_built_windows_pandas_equals_sql_and_the_hand_count(hand_built):
    inputs, sql, mon = hand_built
    got = judge_anc(inputs, mon)
    assert_anc_equal(sql, got)
    assert _adherence(got["adherence"]) == {
        ("P1", "MON-ANC-0"): (1, 0),
        ("P1", "MON-ANC-1"): (13, 12),
        ("P2", "MON-ANC-0"): (2, 1),
        ("P2", "MON-ANC-1"): (8, 5),
        ("P3", "MON-ANC-0"): (1, 0),
        ("P3", "MON-ANC-1"): (11, 0),
    }
    adherence = got["adherence"].set_index(["patient_id", "rule_id"])
    assert adherence.loc[("P1", "MON-ANC-1"), "first_missed_window_start"] == pd.Timestamp(d(18))
    assert adherence.loc[("P1", "MON-ANC-1"), "adherence_pct"] == pytest.approx(92.3)
    assert adherence.loc[("P1", "MON-ANC-1"), "fully_adherent"] == False  # noqa: E712
    assert pd.isna(adherence.loc[("P1", "MON-ANC-2"), "fully_adherent"])  # none due by day 100
    w = got["windows"].set_index(["patient_id", "schedule_number", "rule_id", "window_number"])
    p1 = w.loc[("P1", 1, "MON-ANC-1")]
    assert list(p1.start_day[:3]) == [4, 11, 18] and list(p1.n_results[:3]) == [1, 1, 0]
    assert p1.loc[3, "missing_detail"] == "no result for anc"
    assert w.loc[("P1", 1, "MON-ANC-0", 1), "missing_detail"] == (
        "ANC 1499/uL, below the baseline minimum"
    )
    assert w.loc[("P2", 1, "MON-ANC-0", 1), "is_observed"]  # BEN: 1000 is enough
    assert w.loc[("P2", 2, "MON-ANC-0", 1), "window_start"] == pd.Timestamp(d(64))
    p3 = w.loc[("P3", 1, "MON-ANC-1")]
    assert 46 not in set(p3.start_day) and 53 not in set(p3.start_day) and 60 in set(p3.start_day)


@pytest.mark.parametrize(
    ("change", "caught"),
    [
        # MON-ANC-0: 1499 would prove a minimum of 1499 (P1's baseline)
        (lambda m: m.update(baseline_anc_min_per_ul=1499), "is_observed"),
        # MON-ANC-1 +/- 2 days: centre 98 (end 100) is due for P1 and P3 (36 + 2 windows)
        (lambda m: m["window_tolerance_days"].update(weekly=2), "36 rows in SQL, 38 in pandas"),
        # restart after 31 days off: P2 keeps one schedule
        (lambda m: m.update(restart_schedule_after_days_off=31), "monitoring_windows"),
    ],
)
def test_mon_anc_hand_built_a_changed_threshold_fails_the_comparison(hand_built, change, caught):
    inputs, sql, mon = hand_built
    changed = copy.deepcopy(mon)
    change(changed)
    with pytest.raises(AssertionError, match=caught):
        assert_anc_equal(sql, judge_anc(inputs, changed))
