"""An idiomatic pandas implementation of ANC monitoring adherence (MON-ANC-0..3), the second half
of the pandas baseline (issue 17), against the SQL models `intermediate.monitoring_schedules`,
`intermediate.monitoring_windows` (its MON-ANC rows) and `marts.monitoring_adherence` (its
MON-ANC rows).

It starts from the SQL models' own inputs: the clozapine exposure episodes, the patients' benign
ethnic neutropenia flag and the staged ANC results. The rules, from the same config:
- schedules: a restart after `restart_schedule_after_days_off` days or more without clozapine
  (or after every interruption, when configured) starts a new schedule, its day 0 the restart;
- windows: MON-ANC-0 days -7..0; each profile phase every `every_days` from where the previous
  phase ended, +/- its tolerance, or one per calendar month (`calendar_month`); a window is
  expected when it ends by the end of follow-up, and due when the patient had clozapine on one
  of its days (any window of a one-episode schedule);
- observed: every component of the MON-ANC tests has a result inside the window; MON-ANC-0
  counts only an ANC proven at or above the baseline minimum (BEN-aware);
- adherence per patient and rule: expected, observed, percentage, fully adherent, first miss.

Vectorised throughout: windows are made by repeating schedule rows (np.repeat) and numbering them
(groupby.cumcount), the clozapine check is a merge_asof, and results are counted in windows with
np.searchsorted on the results sorted by patient and day (a merge of every window with every
result of its patient would hold ~200 M rows at 100,000 patients).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

WINDOW_KEYS = ["patient_id", "schedule_number", "rule_id", "window_number"]
WINDOW_COLUMNS = {
    "patient_id": "str",
    "schedule_number": "int",
    "anchor_date": "date",
    "rule_id": "str",
    "window_number": "int",
    "trigger": "str",
    "window_start": "date",
    "window_end": "date",
    "start_day": "int",
    "end_day": "int",
    "n_results": "int",
    "is_observed": "bool",
    "missing_detail": "str",
}
ADHERENCE_KEYS = ["patient_id", "rule_id"]
ADHERENCE_COLUMNS = {
    "patient_id": "str",
    "rule_id": "str",
    "expected_tests": "int",
    "observed_tests": "int",
    "adherence_pct": "float",
    "fully_adherent": "bool",
    "first_missed_window_start": "date",
}
BASELINE_RULE = "MON-ANC-0"
SQL_MODELS = [
    ("intermediate", "monitoring_schedules"),
    ("intermediate", "monitoring_windows"),
    ("marts", "monitoring_adherence"),
]


def anc_rule_ids(mon: dict) -> list[str]:
    rules = [BASELINE_RULE]
    for phase in mon["profiles"][mon["profile"]]:
        if phase["rule_id"] not in rules:
            rules.append(phase["rule_id"])
    return rules


def load_anc_inputs(con: duckdb.DuckDBPyConnection, mon: dict) -> dict[str, pd.DataFrame]:
    analytes = sorted({a for names in mon["tests"]["MON-ANC"].values() for a in names})
    listed = ", ".join(f"'{a}'" for a in analytes)  # analyte names from the validated config
    return {
        "exposure": con.execute(
            "SELECT patient_id, episode_number, episode_start, episode_end, gap_before_days, "
            "end_reason FROM intermediate.clozapine_exposure"
        ).df(),
        "patients": con.execute(
            "SELECT patient_id, benign_ethnic_neutropenia FROM staging.patients"
        ).df(),
        "labs": con.execute(
            "SELECT patient_id, analyte, collected_date, value, value_comparator "
            f"FROM staging.labs WHERE analyte IN ({listed})"
        ).df(),
    }


def sql_anc_outputs(con: duckdb.DuckDBPyConnection, mon: dict) -> dict[str, pd.DataFrame]:
    rules = ", ".join(f"'{r}'" for r in anc_rule_ids(mon))
    return {
        "windows": con.execute(
            f"SELECT * FROM intermediate.monitoring_windows WHERE rule_id IN ({rules})"
        ).df(),
        "adherence": con.execute(
            f"SELECT * FROM marts.monitoring_adherence WHERE rule_id IN ({rules})"
        ).df(),
    }


# --- schedules ------------------------------------------------------------------------------------


def schedules(exposure: pd.DataFrame, patients: pd.DataFrame, mon: dict) -> pd.DataFrame:
    """One row per monitoring schedule: day 0 (anchor), end of follow-up, episodes, BEN."""
    e = exposure.sort_values(["patient_id", "episode_number"])
    gap = e.gap_before_days
    if mon["restart_schedule_after_interruption"]:
        starts = pd.Series(True, index=e.index)
    else:
        starts = gap.isna() | (gap >= mon["restart_schedule_after_days_off"])
    e = e.assign(schedule_number=starts.astype(int).groupby(e.patient_id).cumsum())
    s = (
        e.groupby(["patient_id", "schedule_number"], sort=False)
        .agg(
            anchor_date=("episode_start", "min"),
            follow_up_end=("episode_end", "max"),
            n_episodes=("episode_number", "size"),
        )
        .reset_index()
    )
    s["follow_up_days"] = (s.follow_up_end - s.anchor_date).dt.days
    return s.merge(patients, on="patient_id")


# --- windows --------------------------------------------------------------------------------------


def phases(mon: dict) -> tuple[list[dict], list[dict]]:
    """The ANC phases as (every-n-days phases, calendar-month phases), as the SQL model's Jinja
    lays them out: each phase starts where the previous one ended."""
    tolerance = mon["window_tolerance_days"]
    regular = [
        {
            "rule_id": BASELINE_RULE,
            "first": 0,
            "every": 0,
            "last": 0,
            "before": mon["baseline_anc_days_before"],
            "after": 0,
        }
    ]
    monthly, start = [], 0
    for p in mon["profiles"][mon["profile"]]:
        last = p["until_week"] * 7 if p["until_week"] is not None else None
        if p.get("calendar_month", False):
            monthly.append({"rule_id": p["rule_id"], "after_day": start, "last": last})
        else:
            width = tolerance[p["tolerance"]]
            first = start + p["every_days"]
            regular.append(
                {
                    "rule_id": p["rule_id"],
                    "first": first,
                    "every": p["every_days"],
                    "last": last,
                    "before": width,
                    "after": width,
                }
            )
        if last is not None:
            start = last
    return regular, monthly


def _repeat(frame: pd.DataFrame, counts: np.ndarray) -> pd.DataFrame:
    """Each row `counts` times, with n = 0..count-1 for each."""
    counts = np.maximum(counts, 0)
    out = frame.loc[frame.index.repeat(counts)].reset_index(drop=True)
    out["n"] = out.groupby(np.repeat(np.arange(len(frame)), counts)).cumcount()
    return out


def regular_windows(s: pd.DataFrame, phase: dict) -> pd.DataFrame:
    """Windows centred on days first + n * every that end by the end of follow-up."""
    fu = s.follow_up_days.to_numpy()
    if phase["every"] == 0:
        counts = np.where(phase["first"] + phase["after"] <= fu, 1, 0)
    else:
        last_centre = fu - phase["after"]
        if phase["last"] is not None:
            last_centre = np.minimum(last_centre, phase["last"])
        counts = (last_centre - phase["first"]) // phase["every"] + 1
    w = _repeat(s[["patient_id", "schedule_number", "anchor_date"]], counts)
    centre = phase["first"] + w.n * phase["every"]
    return w.assign(
        rule_id=phase["rule_id"],
        start_day=centre - phase["before"],
        end_day=centre + phase["after"],
    ).drop(columns="n")


def month_windows(s: pd.DataFrame, phase: dict) -> pd.DataFrame:
    """One window per calendar month from the month after day `after_day`, each ending by the
    end of follow-up."""
    anchor = s.anchor_date.to_numpy(dtype="datetime64[D]")
    first = (anchor + np.timedelta64(phase["after_day"], "D")).astype("datetime64[M]") + 1
    ends_by = (s.follow_up_end.to_numpy(dtype="datetime64[D]") + 1).astype("datetime64[M]")
    counts = (ends_by - first).astype(np.int64)
    w = _repeat(s[["patient_id", "schedule_number", "anchor_date"]].assign(first=first), counts)
    month = w["first"].to_numpy(dtype="datetime64[M]") + w.n.to_numpy()
    start = month.astype("datetime64[D]")
    end = (month + 1).astype("datetime64[D]") - 1
    anchor = w.anchor_date.to_numpy(dtype="datetime64[D]")
    w = w.assign(
        rule_id=phase["rule_id"],
        start_day=(start - anchor).astype(np.int64),
        end_day=(end - anchor).astype(np.int64),
    )
    if phase["last"] is not None:
        w = w[start <= anchor + np.timedelta64(phase["last"], "D")]
    return w.drop(columns=["n", "first"])


def due_windows(windows: pd.DataFrame, s: pd.DataFrame, exposure: pd.DataFrame) -> pd.DataFrame:
    """Windows with a day of clozapine (any window of a one-episode schedule), numbered per
    schedule and rule. Exposure episodes of a patient are disjoint and in order, so the episode
    that starts last on or before the window's end is the one that can reach into it."""
    w = windows.merge(s[["patient_id", "schedule_number", "n_episodes"]], how="left")
    unit = exposure.episode_start.dtype  # merge_asof needs one datetime resolution
    w["window_start"] = (w.anchor_date + pd.to_timedelta(w.start_day, unit="D")).astype(unit)
    w["window_end"] = (w.anchor_date + pd.to_timedelta(w.end_day, unit="D")).astype(unit)
    episodes = exposure[["patient_id", "episode_start", "episode_end"]].sort_values("episode_start")
    w = pd.merge_asof(
        w.sort_values("window_end"),
        episodes,
        left_on="window_end",
        right_on="episode_start",
        by="patient_id",
        direction="backward",
    )
    w = w[(w.n_episodes == 1) | (w.episode_end >= w.window_start)]
    w = w.sort_values(["patient_id", "schedule_number", "rule_id", "start_day", "end_day"])
    w["window_number"] = w.groupby(["patient_id", "schedule_number", "rule_id"]).cumcount() + 1
    return w.drop(columns=["n_episodes", "episode_start", "episode_end"]).reset_index(drop=True)


# --- results in windows ---------------------------------------------------------------------------

_DAY_SPAN = np.int64(1) << 40  # patient code * span + day: one sortable key, days in +/- 2^39


def _keys(codes: np.ndarray, dates: pd.Series) -> np.ndarray:
    days = dates.to_numpy(dtype="datetime64[D]").astype(np.int64)
    return codes.astype(np.int64) * _DAY_SPAN + days + (_DAY_SPAN >> 1)


def _proves_at_least(value: pd.Series, comparator: pd.Series, threshold) -> pd.Series:
    exact_or_above = comparator.isna() | comparator.isin([">", ">="])
    return exact_or_above & (value >= threshold)


def component_counts(
    w: pd.DataFrame, labs: pd.DataFrame, s: pd.DataFrame, mon: dict, analytes: list[str]
) -> pd.DataFrame:
    """Per window: results of the component's analytes inside it (n), those that count (for
    MON-ANC-0, proven at or above the baseline minimum) and, where none count, the highest."""
    patients = pd.Index(w.patient_id.unique())
    r = labs[labs.analyte.isin(analytes)]
    r = r.assign(code=patients.get_indexer(r.patient_id))
    r = r[r.code >= 0]
    ben = s.drop_duplicates("patient_id").set_index("patient_id").benign_ethnic_neutropenia
    minimum = np.where(
        r.patient_id.map(ben).eq(True),
        mon["baseline_anc_min_per_ul_ben"],
        mon["baseline_anc_min_per_ul"],
    )
    r = r.assign(
        counts=_proves_at_least(r.value, r.value_comparator, minimum),
        key=_keys(r.code.to_numpy(), r.collected_date),
    ).sort_values("key")
    keys = r.key.to_numpy()
    counting = np.concatenate([[0], np.cumsum(r.counts.to_numpy(dtype=np.int64))])
    codes = patients.get_indexer(w.patient_id)
    lo = np.searchsorted(keys, _keys(codes, w.window_start), side="left")
    hi = np.searchsorted(keys, _keys(codes, w.window_end), side="right")
    n = hi - lo
    n_counting = np.where(w.rule_id == BASELINE_RULE, counting[hi] - counting[lo], n)
    out = pd.DataFrame({"n": n, "n_counting": n_counting}, index=w.index)
    out["max_value"] = np.nan
    short = out[(out.n > 0) & (out.n_counting == 0)].index
    if len(short):
        few = w.loc[short, ["patient_id", "window_start", "window_end"]].reset_index()
        m = few.merge(r[["patient_id", "collected_date", "value"]], on="patient_id")
        m = m[m.collected_date.between(m.window_start, m.window_end)]
        out.loc[short, "max_value"] = m.groupby("index").value.max().reindex(short)
    return out


def _number_text(values: pd.Series) -> pd.Series:
    """Numbers as DuckDB casts a DOUBLE to text, without a trailing '.0'."""
    return values.astype(str).str.replace(r"\.0$", "", regex=True)


def judge_windows(w: pd.DataFrame, labs: pd.DataFrame, s: pd.DataFrame, mon: dict) -> pd.DataFrame:
    components = sorted(mon["tests"]["MON-ANC"].items())
    counts = {c: component_counts(w, labs, s, mon, list(a)) for c, a in components}
    n_results = sum(c.n for c in counts.values())
    observed = np.logical_and.reduce([c.n_counting.to_numpy() > 0 for c in counts.values()])
    missing = pd.Series("", index=w.index)
    for component, c in counts.items():
        absent = c.n == 0
        missing = missing.where(~absent, missing + np.where(missing == "", "", ", ") + component)
    below = pd.concat([c.max_value for c in counts.values()], axis=1).max(axis=1)
    detail = np.where(
        missing != "",
        "no result for " + missing,
        "ANC " + _number_text(below) + "/uL, below the baseline minimum",
    )
    return w.assign(
        trigger="schedule",
        n_results=n_results,
        is_observed=observed,
        missing_detail=pd.Series(detail, index=w.index).where(~observed, None),
    )


def judge_anc_windows(inputs: dict[str, pd.DataFrame], s: pd.DataFrame, mon: dict) -> pd.DataFrame:
    """Every due MON-ANC window per schedule, whether it was observed and why not."""
    regular, monthly = phases(mon)
    made = [regular_windows(s, p) for p in regular] + [month_windows(s, p) for p in monthly]
    w = due_windows(pd.concat(made, ignore_index=True), s, inputs["exposure"])
    return judge_windows(w, inputs["labs"], s, mon)


# --- adherence ------------------------------------------------------------------------------------


def _round_half_away(values: pd.Series, digits: int) -> pd.Series:
    """DuckDB's round(): halves away from zero (pandas and NumPy round halves to even)."""
    scale = 10.0**digits
    return np.sign(values) * np.floor(values.abs() * scale + 0.5) / scale


def anc_adherence(windows: pd.DataFrame, s: pd.DataFrame, mon: dict) -> pd.DataFrame:
    """Per clozapine patient and ANC rule: windows expected and observed, the percentage,
    fully adherent (None with no window due) and the start of the first missed window."""
    per_rule = windows.groupby(["patient_id", "rule_id"]).agg(
        expected_tests=("is_observed", "size"), observed_tests=("is_observed", "sum")
    )
    missed = windows[~windows.is_observed].groupby(["patient_id", "rule_id"]).window_start.min()
    per_rule["first_missed_window_start"] = missed
    grid = pd.MultiIndex.from_product(
        [s.patient_id.unique(), anc_rule_ids(mon)], names=["patient_id", "rule_id"]
    )
    out = per_rule.reindex(grid).reset_index()
    expected = out.expected_tests.fillna(0).astype(int)
    observed = out.observed_tests.fillna(0).astype(int)
    out["expected_tests"], out["observed_tests"] = expected, observed
    out["adherence_pct"] = _round_half_away(100.0 * observed / expected.where(expected > 0), 1)
    out["fully_adherent"] = (observed == expected).astype(object).where(expected > 0, None)
    return out


def judge_anc(inputs: dict[str, pd.DataFrame], mon: dict) -> dict[str, pd.DataFrame]:
    """The pandas MON-ANC rules: windows (as intermediate.monitoring_windows) and adherence per
    patient and rule (as marts.monitoring_adherence)."""
    s = schedules(inputs["exposure"], inputs["patients"], mon)
    windows = judge_anc_windows(inputs, s, mon)
    return {"windows": windows, "adherence": anc_adherence(windows, s, mon)}


# --- comparison -----------------------------------------------------------------------------------


def _comparable(values: pd.Series, kind: str) -> pd.Series:
    values = values.reset_index(drop=True)
    if kind == "float":
        return pd.to_numeric(values).astype("Float64").round(9)
    if kind == "int":
        return pd.to_numeric(values).astype("Int64")
    if kind == "bool":
        return values.astype("boolean")
    if kind == "date":
        return pd.to_datetime(values).dt.floor("D")
    return values.astype("string")


def assert_frames_equal(
    sql: pd.DataFrame, pandas: pd.DataFrame, columns: dict[str, str], keys: list[str], what: str
) -> None:
    """Row for row on every column (missing equals missing), after sorting both by `keys`."""
    assert len(sql) == len(pandas), f"{what}: {len(sql)} rows in SQL, {len(pandas)} in pandas"
    left = sql.sort_values(keys, kind="stable").reset_index(drop=True)
    right = pandas.sort_values(keys, kind="stable").reset_index(drop=True)
    for column, kind in columns.items():
        a, b = _comparable(left[column], kind), _comparable(right[column], kind)
        same = (a == b).fillna(False).to_numpy(dtype=bool) | (a.isna() & b.isna()).to_numpy()
        if not same.all():
            i = int(np.flatnonzero(~same)[0])
            raise AssertionError(
                f"{what}.{column}: {int((~same).sum())} rows differ, e.g. "
                f"sql {left.loc[i].to_dict()} pandas {right.loc[i].to_dict()}"
            )


def assert_anc_equal(sql: dict[str, pd.DataFrame], pandas: dict[str, pd.DataFrame]) -> None:
    assert_frames_equal(
        sql["windows"], pandas["windows"], WINDOW_COLUMNS, WINDOW_KEYS, "monitoring_windows"
    )
    assert_frames_equal(
        sql["adherence"],
        pandas["adherence"],
        ADHERENCE_COLUMNS,
        ADHERENCE_KEYS,
        "monitoring_adherence",
    )
