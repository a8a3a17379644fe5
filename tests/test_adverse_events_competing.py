"""Issue 14, items 6 and 7, against peers: the Aalen-Johansen cumulative incidence
(trscohort.competing, marts.ae_competing_risks) against lifelines' AalenJohansenFitter and
KaplanMeierFitter, and the robust interval of marts.ae_rates against a statsmodels Poisson GLM
with patient-clustered standard errors."""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

from trscohort.competing import aalen_johansen, loglog_band
from trscohort.config import load_config
from trscohort.models import Model
from trscohort.rates import robust_rate_interval

lifelines = pytest.importorskip("lifelines")
sm = pytest.importorskip("statsmodels.api")

CODES = {"event": 1, "stopped": 2, "died": 3, "as_of": 0, "censored": 0}


def _fit_aj(durations, codes, event_of_interest=1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines warns that it jitters tied times
        return lifelines.AalenJohansenFitter(calculate_variance=True, seed=7).fit(
            durations, codes, event_of_interest=event_of_interest
        )


def _daily(durations: np.ndarray, codes: np.ndarray):
    """Per-day counts as DuckDB gives them to trscohort.competing: everyone enters on day 0."""
    days = np.unique(np.concatenate(([0], durations)))
    at = np.searchsorted(days, durations)

    def count(mask):
        return np.bincount(at[mask], minlength=days.size).astype(float)

    entries = np.zeros(days.size)
    entries[0] = durations.size
    return days, entries, count(codes == 1), count(codes >= 2), count(codes == 0)


def test_aalen_johansen_equals_lifelines_exactly_without_ties():
    # A generated cohort whose exit days are all different (no tie for lifelines to jitter):
    # cumulative incidence, delta-method variance and log-log band agree to rounding.
    rng = np.random.default_rng(14)
    durations = np.sort(rng.permutation(np.arange(1, 3001))[:400])
    codes = rng.choice([0, 1, 2, 3], size=durations.size, p=[0.3, 0.3, 0.25, 0.15])
    reference = _fit_aj(durations, codes)
    days, entries, d_event, d_competing, censored = _daily(durations, codes)
    ours = aalen_johansen(days, entries, d_event, d_competing, censored)
    index = reference.cumulative_density_.index
    ours_cif = pd.Series(ours.cumulative_incidence, index=days).reindex(index)
    assert np.allclose(ours_cif, reference.cumulative_density_.iloc[:, 0], rtol=0, atol=1e-12)
    ours_var = pd.Series(ours.variance, index=days).reindex(index)
    # lifelines divides by n - d = 0 when the last subject exits with an event (NaN there)
    finite = np.isfinite(reference.variance_.to_numpy())
    assert finite.sum() >= reference.variance_.size - 1
    assert np.allclose(ours_var[finite], reference.variance_[finite], rtol=0, atol=1e-14)
    low, high = loglog_band(ours.cumulative_incidence, ours.variance, 0.95)
    band = np.sort(reference.confidence_interval_.to_numpy(), axis=1)
    shown = ~np.isnan(band).any(axis=1)  # lifelines leaves the band empty while F = 0
    ours_band = np.column_stack(
        [pd.Series(low, index=days).reindex(index), pd.Series(high, index=days).reindex(index)]
    )
    assert shown.sum() > 100
    assert np.allclose(ours_band[shown], band[shown], rtol=0, atol=1e-12)
    hidden = ours_cif[~shown]  # F = 0, or the last day (lifelines' variance is NaN there)
    assert ((hidden == 0) | (hidden.index == index[-1])).all()


def _follow_up(con, event_id: str) -> pd.DataFrame:
    return con.execute(
        "SELECT entry_day, exit_day, exit_reason FROM intermediate.ae_follow_up "
        f"WHERE event_id = '{event_id}' AND course = 'first'"
    ).df()


@pytest.mark.parametrize("event_id", ["AE-GI", "AE-MET", "AE-SEIZ"])
def test_competing_risks_mart_against_lifelines_on_a_generated_cohort(synthetic_cohort, event_id):
    """marts.ae_competing_risks on the synthetic sample (seed 7) against lifelines fitted on the
    same subjects. Exit days tie (whole days): lifelines jitters tied event times of different
    types by up to 1e-4 day, which reorders a day's exits and shifts its estimate slightly, so
    the Aalen-Johansen curve agrees to 5e-3; 1 - Kaplan-Meier, which lifelines does not jitter,
    agrees to rounding, and with the SQL Kaplan-Meier of marts.ae_cumulative_incidence."""
    _, warehouse = synthetic_cohort(500)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        subjects = _follow_up(con, event_id)
        mart = con.execute(
            "SELECT a.week, a.cumulative_incidence, a.one_minus_km, k.cumulative_incidence "
            "FROM marts.ae_competing_risks AS a JOIN marts.ae_cumulative_incidence AS k "
            "USING (event_id, course, week) "
            f"WHERE a.event_id = '{event_id}' AND a.course = 'first' ORDER BY a.week"
        ).fetchall()
    assert (subjects["entry_day"] == 1).all()  # everyone followed from day 1 (day 0 baseline)
    codes = subjects["exit_reason"].map(CODES).to_numpy()
    durations = subjects["exit_day"].to_numpy()
    assert (codes == 1).sum() >= 10 and (codes == 2).sum() >= 10  # events and stops to compete
    weeks = np.array([w for w, *_ in mart])
    at = 7 * weeks + 6.5  # after the last day of the week, beyond any jitter
    aj = _fit_aj(durations, codes)
    reference = aj.cumulative_density_.iloc[:, 0]
    expected = reference.reindex(reference.index.union(at)).ffill().loc[at].to_numpy()
    ours = np.array([r[1] for r in mart])
    assert np.abs(ours - expected).max() < 5e-3
    km = lifelines.KaplanMeierFitter().fit(durations, codes == 1)
    expected_km = 1 - km.survival_function_at_times(at).to_numpy()
    assert np.allclose([r[2] for r in mart], expected_km, rtol=0, atol=1e-12)
    assert np.allclose([r[3] for r in mart], expected_km, rtol=0, atol=1e-12)
    # The competing-risks curve never exceeds 1 - KM
    assert all(r[1] <= r[2] + 1e-15 for r in mart)


def test_competing_risks_documents_exactly_its_columns(sample_warehouse):
    for name in ("ae_competing_risks", "ae_rates_grace_sensitivity"):
        model = Model("marts", name)
        assert not model.doc_path.with_suffix(".sql").exists()  # built in Python
        doc = model.doc()
        with duckdb.connect(str(sample_warehouse), read_only=True) as con:
            actual = [c for (c, *_) in con.execute(f"DESCRIBE {model.table}").fetchall()]
        assert sorted(doc["columns"]) == sorted(actual), name
        assert all(str(text).strip() for text in doc["columns"].values())


# --- item 7: robust interval -------------------------------------------------------------------


def test_robust_interval_equals_statsmodels_clustered_poisson(sample_warehouse):
    """AE-GI on the synthetic sample: constipation recurs, so patients have several episodes.
    A Poisson GLM of each patient's episodes with offset log(days) and patient-clustered
    (sandwich) errors gives the same interval as marts.ae_rates' robust_ci. (The generator
    spaces recurrences >= 180 days apart, so here the robust interval is slightly narrower than
    the Poisson one: the counts are under-dispersed.)"""
    with duckdb.connect(str(sample_warehouse), read_only=True) as con:
        per_patient = con.execute(
            "SELECT patient_id, sum(events) AS y, sum(days) AS t FROM marts.clozapine_person_time "
            "WHERE analysis = 'all_episodes' AND event_id = 'AE-GI' GROUP BY 1 ORDER BY 1"
        ).df()
        row = con.execute(
            "SELECT rate_per_1000py, ci_low, ci_high, robust_ci_low, robust_ci_high, patients "
            "FROM marts.ae_rates WHERE event_id = 'AE-GI' AND stratifier = 'overall'"
        ).fetchone()
    assert (per_patient["y"] > 1).sum() >= 5  # recurrences to allow for
    y, t = per_patient["y"].to_numpy(float), per_patient["t"].to_numpy(float)
    model = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Poisson(), offset=np.log(t))
    fit = model.fit(cov_type="cluster", cov_kwds={"groups": np.arange(y.size)})
    beta, se = fit.params[0], fit.bse[0]
    scale = 365.25 * 1000
    expected = (np.exp(beta - 1.959963984540054 * se) * scale,)
    assert row[0] == pytest.approx(np.exp(beta) * scale, rel=1e-9)
    assert row[3] == pytest.approx(expected[0], rel=1e-9)
    assert row[4] == pytest.approx(np.exp(beta + 1.959963984540054 * se) * scale, rel=1e-9)
    assert row[5] == y.size
    assert (row[3], row[4]) != pytest.approx((row[1], row[2]), rel=1e-3)


def test_robust_interval_by_hand():
    # Two patients: 2 episodes in 100 days and 0 in 100 days. R = 2 / 200 = 0.01 per day;
    # residuals 2 - 1 = 1 and 0 - 1 = -1: var = 2/1 x (1 + 1) / 200^2 = 1e-4, se = 0.01,
    # se(log R) = 1; 95 %: 0.01 x exp(-+1.959964) per day.
    low, high = robust_rate_interval([2], [2], [200], [4], [200], [20000], 0.95, per=1)
    r = 0.01 * 365.25
    assert (low[0], high[0]) == pytest.approx((r * np.exp(-1.959964), r * np.exp(1.959964)))
    # no events, or a single patient: undefined
    none, _ = robust_rate_interval([5, 1], [0, 3], [500, 100], [0, 9], [0, 300], [1, 10000])
    assert np.isnan(none).all()


def test_config_keys_of_issue_14_have_their_defaults():
    ae = load_config()["adverse_events"]
    assert (ae["grace_period_days"], ae["grace_period_sensitivity_days"]) == (30, [0, 30, 90])
    assert (ae["follow_up_start_day"], ae["new_user_washout_days"]) == (1, 365)
    assert (ae["new_course_gap_days"], ae["recovery_anc_per_ul"]) == (30, 1000)
