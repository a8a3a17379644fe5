"""trscohort.rates: exact Poisson intervals checked against closed forms and tabulated values,
and marts.ae_rates documented like the SQL models (its doc is trscohort/sql/marts/ae_rates.yml)."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pytest

from trscohort.config import load_config
from trscohort.models import Model
from trscohort.rates import poisson_interval, rate_interval, stratum_labels


def test_poisson_interval_closed_forms():
    # k = 0: lower 0, upper -ln(a/2) (chi2 with 2 df is exponential); k = 1: lower -ln(1 - a/2).
    low, high = poisson_interval([0, 1])
    assert low[0] == 0.0
    assert high[0] == pytest.approx(-math.log(0.025))  # 3.688879
    assert low[1] == pytest.approx(-math.log(0.975))  # 0.025318


def test_poisson_interval_tabulated_values():
    # Exact 95 % limits for a Poisson count (e.g. Ulm 1990; Garwood 1936).
    low, high = poisson_interval([1, 2, 5, 10])
    assert low == pytest.approx([0.0253, 0.2422, 1.6235, 4.7954], abs=1e-4)
    assert high == pytest.approx([5.5716, 7.2247, 11.6683, 18.3904], abs=1e-4)
    # 90 % for k = 2: chi2(0.05; 4) / 2 = 0.3554, chi2(0.95; 6) / 2 = 6.2958
    low90, high90 = poisson_interval([2], ci_level=0.90)
    assert (low90[0], high90[0]) == pytest.approx((0.3554, 6.2958), abs=1e-4)


def test_rate_interval_per_1000_person_years():
    # 2 events in 4.0 person-years: 500 per 1,000 PY, 95 % CI 60.55 to 1,806.17.
    rate, low, high = rate_interval([2, 0], [4.0, 0.0])
    assert rate[0] == pytest.approx(500.0)
    assert (low[0], high[0]) == pytest.approx((60.552, 1806.172), abs=1e-3)
    assert np.isnan(rate[1]) and np.isnan(high[1])  # no person-time: no rate


def test_stratum_labels_follow_the_config():
    labels = stratum_labels(load_config())
    assert labels["time_since_start"] == ["weeks 0-4", "weeks 4-18", "weeks 18-52", "weeks >52"]
    assert labels["dose_band"][:3] == ["<300", "300-600", ">600"]
    assert labels["age_band"][:6] == ["<25", "25-34", "35-44", "45-54", "55-64", "65+"]


def test_ae_rates_documents_exactly_its_columns(sample_warehouse):
    model = Model("marts", "ae_rates")
    assert not model.doc_path.with_suffix(".sql").exists()  # built in Python, not SQL
    doc = model.doc()
    assert doc["description"].strip()
    with duckdb.connect(str(sample_warehouse), read_only=True) as con:
        actual = [c for (c, *_) in con.execute("DESCRIBE marts.ae_rates").fetchall()]
        strata = con.execute(
            "SELECT DISTINCT stratifier, stratum, stratum_order FROM marts.ae_rates"
        ).fetchall()
    assert sorted(doc["columns"]) == sorted(actual)
    assert all(str(text).strip() for text in doc["columns"].values())
    # every stratum the SQL writes is one the display order knows
    labels = stratum_labels(load_config())
    assert all(stratum in labels[stratifier] for stratifier, stratum, _ in strata)
