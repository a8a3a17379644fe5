"""An idiomatic pandas implementation of the TRS trial rules and of ANC monitoring adherence,
against the SQL models, on the same warehouse (issue 17):
- TRS: `intermediate.antipsychotic_trials` (TRS-3 duration, TRS-4 dose, TRS-5 adherence by days
  covered and by drug levels, TRS-7 failure around the trial's end, adequate), here;
- ANC: the MON-ANC-0..3 rows of `intermediate.monitoring_windows` and
  `marts.monitoring_adherence` (schedules, due windows, observed, fully adherent), in
  benchmarks/pandas_anc.py. The SQL time is that of building `monitoring_schedules`,
  `monitoring_windows` and `monitoring_adherence` as the pipeline does, every MON-* rule
  included (pandas does the four ANC rules only), and, beside it, the windows model filtered to
  its ANC rows.

Both start from the same inputs (TRS: the episodes, staging dispensings and labs, LAI
prescriptions, symptom scores and the drug reference; ANC: the clozapine exposure episodes, the
patients' BEN flag and the staged ANC results), so the ratio is that of the rules alone. The outputs are
asserted equal row for row (every judged column) before any time is printed, so the baseline is
honest. Reading the inputs into pandas is timed apart from the rules.

Usage: python benchmarks/bench_pandas.py WAREHOUSE [--json FILE]
(a warehouse `trscohort run` built, e.g. bench_pipeline.py --keep --work DIR: DIR/w.duckdb)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pandas_anc import (  # noqa: E402
    SQL_MODELS,
    anc_rule_ids,
    assert_anc_equal,
    judge_anc,
    load_anc_inputs,
    sql_anc_outputs,
)

from trscohort.config import load_config  # noqa: E402
from trscohort.models import Model, build_model, render, transform_context  # noqa: E402

COMPARED = [
    "episode_id",
    "days",
    "duration_ok",
    "dose_basis",
    "dose_ok",
    "adherence_pct",
    "n_levels",
    "level_in_range",
    "adherence_ok",
    "adequate",
    "failed",
    "failure_assessed_at",
    "failure_instrument",
    "failure_score",
]


def load_inputs(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    return {
        "episodes": con.execute("SELECT * FROM intermediate.antipsychotic_episodes").df(),
        "dispensings": con.execute(
            "SELECT patient_id, generic_name, dispensed_date, days_supply FROM staging.dispensings "
            "WHERE is_antipsychotic AND NOT is_clozapine"
        ).df(),
        "lai": con.execute(
            "SELECT patient_id, generic_name, start_date, end_date "
            "FROM intermediate.antipsychotic_prescriptions WHERE is_lai AND NOT is_clozapine"
        ).df(),
        "labs": con.execute(
            "SELECT patient_id, analyte, collected_date, value, value_comparator FROM staging.labs "
            "WHERE analyte IN (SELECT level_analyte FROM reference.drugs)"
        ).df(),
        "scores": con.execute(
            "SELECT patient_id, assessed_at, instrument, score, symptoms_persistent "
            "FROM intermediate.symptom_scores WHERE is_symptom_scale"
        ).df(),
        "drugs": con.execute(
            "SELECT generic_name, level_analyte, level_min_ng_ml FROM reference.drugs"
        ).df(),
    }


def _days(series: pd.Series) -> pd.Series:
    return pd.to_timedelta(series, unit="D")


def covered_days(episodes: pd.DataFrame, dispensings: pd.DataFrame, lai: pd.DataFrame) -> pd.Series:
    """TRS-5: days of each episode covered by dispensings or a LAI, overlaps counted once."""
    supply = pd.concat(
        [
            dispensings.assign(
                first_day=dispensings.dispensed_date,
                last_day=dispensings.dispensed_date + _days(dispensings.days_supply - 1),
            )[["patient_id", "generic_name", "first_day", "last_day"]],
            lai.rename(columns={"start_date": "first_day", "end_date": "last_day"}),
        ]
    )
    e = episodes[["episode_id", "patient_id", "generic_name", "start_date", "end_date"]]
    m = e.merge(supply, on=["patient_id", "generic_name"])
    m = m[(m.first_day <= m.end_date) & (m.last_day >= m.start_date)].copy()
    m["first_day"] = m[["first_day", "start_date"]].max(axis=1)
    m["last_day"] = m[["last_day", "end_date"]].min(axis=1)
    m = m.sort_values(["episode_id", "first_day", "last_day"])
    previous = m.groupby("episode_id").last_day.transform(lambda s: s.cummax().shift())
    m["island"] = (
        (previous.isna() | (m.first_day > previous + _days(1))).groupby(m.episode_id).cumsum()
    )
    islands = m.groupby(["episode_id", "island"]).agg(
        first=("first_day", "min"), last=("last_day", "max")
    )
    islands["days"] = (islands["last"] - islands["first"]).dt.days + 1
    return islands.groupby(level="episode_id").days.sum()


def trial_levels(episodes: pd.DataFrame, labs: pd.DataFrame, drugs: pd.DataFrame) -> pd.DataFrame:
    """TRS-5 by level: levels of the trial's drug during the trial, and whether one proves the
    lower limit of the range (or, without one, a measurable value)."""
    analytes = (
        drugs.dropna(subset=["level_analyte"])
        .groupby("generic_name")
        .agg(analyte=("level_analyte", "first"), level_min=("level_min_ng_ml", "max"))
        .reset_index()
    )
    e = episodes[["episode_id", "patient_id", "generic_name", "start_date", "end_date"]]
    m = e.merge(analytes, on="generic_name").merge(labs, on=["patient_id", "analyte"])
    m = m[(m.collected_date >= m.start_date) & (m.collected_date <= m.end_date)]
    comparator = m.value_comparator
    at_least = np.where(
        comparator.isna() | comparator.isin([">", ">="]), m.value >= m.level_min, False
    )
    above = np.select(
        [comparator.isna(), comparator == ">", comparator == ">="],
        [m.value > 0, m.value >= 0, m.value > 0],
        default=False,
    )
    m = m.assign(in_range=np.where(m.level_min.notna(), at_least, above))
    return m.groupby("episode_id").agg(
        n_levels=("in_range", "size"), n_in_range=("in_range", "sum")
    )


def failure(episodes: pd.DataFrame, scores: pd.DataFrame, before: int, after: int) -> pd.DataFrame:
    """TRS-7: the latest PANSS/BPRS in the window around the trial's end."""
    e = episodes[["episode_id", "patient_id", "end_date"]]
    m = e.merge(scores, on="patient_id")
    m = m[
        (m.assessed_at >= m.end_date - _days(before)) & (m.assessed_at <= m.end_date + _days(after))
    ]
    m = m.sort_values(
        ["episode_id", "assessed_at", "score", "instrument"], ascending=[True, False, False, True]
    )
    return m.drop_duplicates("episode_id").set_index("episode_id")


def judge_trials(inputs: dict[str, pd.DataFrame], trs: dict) -> pd.DataFrame:
    e = inputs["episodes"].set_index("episode_id", drop=False)
    covered = covered_days(inputs["episodes"], inputs["dispensings"], inputs["lai"])
    levels = trial_levels(inputs["episodes"], inputs["labs"], inputs["drugs"])
    failed = failure(
        inputs["episodes"],
        inputs["scores"],
        trs["failure_window_days_before_end"],
        trs["failure_window_days_after_end"],
    )
    out = pd.DataFrame(index=e.index)
    out["episode_id"] = e.episode_id
    out["days"] = e.days
    out["duration_ok"] = e.days >= trs["min_trial_days"]
    cpz = e.mean_cpz_equivalent_mg
    label = e.label_mid_mg.notna() & e.mean_daily_dose_mg.notna()
    out["dose_basis"] = np.select([cpz.notna(), label], ["cpz_equivalent", "label_mid_range"], None)
    out["dose_ok"] = np.where(
        cpz.notna(), cpz >= trs["min_cpz_equivalent_mg"], e.mean_daily_dose_mg >= e.label_mid_mg
    ).astype(object)
    out.loc[cpz.isna() & ~label, "dose_ok"] = None
    out["adherence_pct"] = 100.0 * covered.reindex(e.index) / e.days
    n_levels = levels.n_levels.reindex(e.index)
    in_range = levels.n_in_range.reindex(e.index) > 0
    out["n_levels"] = n_levels.fillna(0).astype("int32")
    out["level_in_range"] = in_range
    by_pct = out.adherence_pct >= trs["min_adherence_pct"]
    known = out.adherence_pct.notna() | (n_levels > 0)
    out["adherence_ok"] = np.where(by_pct | in_range, True, np.where(known, False, None))
    out["adequate"] = (
        out.duration_ok & (out.dose_ok == True) & (out.adherence_ok == True)  # noqa: E712
    )
    f = failed.reindex(e.index)
    out["failed"] = f.symptoms_persistent.astype("boolean").fillna(False).astype(bool)
    out["failure_assessed_at"] = f.assessed_at
    out["failure_instrument"] = f.instrument
    out["failure_score"] = f.score
    return out.reset_index(drop=True)


def sql_trials(con: duckdb.DuckDBPyConnection, config) -> float:
    started = time.perf_counter()
    build_model(con, Model("intermediate", "antipsychotic_trials"), transform_context(config))
    return time.perf_counter() - started


def _plain(value: object, kind: type | None = None) -> object:
    """A value as Python compares it: None for every missing value (None, NaN, NaT, NA)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if kind is float:
        return round(float(value), 9)
    if kind is dt.date:
        return pd.Timestamp(value).date()
    return kind(value) if kind else value


KINDS = {
    "adherence_pct": float,
    "failure_score": float,
    "failure_assessed_at": dt.date,
    "days": int,
    "n_levels": int,
    **{c: bool for c in ("duration_ok", "dose_ok", "level_in_range", "adherence_ok")},
    **{c: bool for c in ("adequate", "failed")},
}


def _normalised(frame: pd.DataFrame) -> list[dict]:
    """Rows sorted by episode, as plain Python values (no NaN: it is unequal to itself)."""
    frame = frame[COMPARED].sort_values("episode_id")
    columns = {c: [_plain(v, KINDS.get(c)) for v in frame[c].astype(object)] for c in COMPARED}
    return [
        dict(zip(COMPARED, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]


def assert_equal(sql: pd.DataFrame, pandas: pd.DataFrame) -> None:
    left, right = _normalised(sql), _normalised(pandas)
    assert len(left) == len(right), (len(left), len(right))
    for column in COMPARED:
        differ = [
            i for i, (a, b) in enumerate(zip(left, right, strict=True)) if a[column] != b[column]
        ]
        assert not differ, (
            f"{column}: {len(differ)} rows differ, e.g. sql {left[differ[0]]} pandas {right[differ[0]]}"
        )


def sql_anc(con: duckdb.DuckDBPyConnection, config) -> float:
    """The monitoring models as the pipeline builds them (every MON-* rule)."""
    context = transform_context(config)
    started = time.perf_counter()
    for layer, name in SQL_MODELS:
        build_model(con, Model(layer, name), context)
    return time.perf_counter() - started


def sql_anc_windows_only(con: duckdb.DuckDBPyConnection, config) -> float:
    """The windows model filtered to its MON-ANC rows (DuckDB may push the filter down)."""
    rules = ", ".join(f"'{r}'" for r in anc_rule_ids(config["monitoring"]))
    sql = render(Model("intermediate", "monitoring_windows"), transform_context(config))
    started = time.perf_counter()
    con.execute(
        f"CREATE TEMP TABLE anc_windows AS SELECT * FROM ({sql}) WHERE rule_id IN ({rules})"
    )
    return time.perf_counter() - started


def _timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def _half(rows: int, sql_seconds: float, pandas_seconds: float, load_seconds: float) -> dict:
    return {
        "rows_compared": rows,
        "sql_seconds": round(sql_seconds, 3),
        "pandas_seconds": round(pandas_seconds, 3),
        "pandas_load_seconds": round(load_seconds, 3),
        "ratio": round(pandas_seconds / sql_seconds, 2),
        "ratio_with_load": round((pandas_seconds + load_seconds) / sql_seconds, 2),
        "rows_equal": True,
    }


def run(warehouse: Path) -> dict:
    """Both halves on a copy of `warehouse`: SQL builds, pandas inputs read (timed apart), the
    pandas rules timed, every judged column asserted equal row for row, then the times."""
    config = load_config()
    mon = config["monitoring"]
    work = Path(tempfile.mkdtemp(prefix="bench_pandas_"))
    copy = work / "w.duckdb"
    shutil.copyfile(warehouse, copy)  # the models are rebuilt: never in the caller's warehouse
    try:
        with duckdb.connect(str(copy)) as con:
            sql_seconds = sql_trials(con, config)
            anc_sql_seconds = sql_anc(con, config)
            anc_windows_seconds = sql_anc_windows_only(con, config)
            inputs, load_seconds = _timed(load_inputs, con)
            anc_inputs, anc_load_seconds = _timed(load_anc_inputs, con, mon)
            sql = con.execute("SELECT * FROM intermediate.antipsychotic_trials").df()
            anc_sql = sql_anc_outputs(con, mon)
        judged, pandas_seconds = _timed(judge_trials, inputs, config["trs"])
        assert_equal(sql, judged)
        del inputs, judged
        anc_judged, anc_pandas_seconds = _timed(judge_anc, anc_inputs, mon)
        assert_anc_equal(anc_sql, anc_judged)
    finally:
        shutil.rmtree(work)
    trs = _half(len(sql), sql_seconds, pandas_seconds, load_seconds)
    anc = _half(
        len(anc_sql["windows"]) + len(anc_sql["adherence"]),
        anc_sql_seconds,
        anc_pandas_seconds,
        anc_load_seconds,
    )
    anc["windows_rows"] = len(anc_sql["windows"])
    anc["adherence_rows"] = len(anc_sql["adherence"])
    anc["sql_windows_anc_rows_only_seconds"] = round(anc_windows_seconds, 3)
    anc["ratio_vs_windows_anc_rows_only"] = round(anc_pandas_seconds / anc_windows_seconds, 2)
    total_sql = sql_seconds + anc_sql_seconds
    total_pandas = pandas_seconds + anc_pandas_seconds
    total_load = load_seconds + anc_load_seconds
    return {
        "trs": {"episodes": len(sql), **trs},
        "anc": anc,
        "combined": {
            "sql_seconds": round(total_sql, 3),
            "pandas_seconds": round(total_pandas, 3),
            "ratio": round(total_pandas / total_sql, 2),
            "ratio_with_load": round((total_pandas + total_load) / total_sql, 2),
            "rows_equal": True,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.warehouse)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
