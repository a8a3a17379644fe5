"""Issue 16, adverse events: readable strata with units, numbers at risk and the attrition
table, their counts protected like every published table (hand-built marts)."""

from __future__ import annotations

import duckdb

from trscohort.config import load_config
from trscohort.dashboards.adverse_events import (
    at_risk_table,
    attrition_table,
    fig_ae_attrition,
    stratifier_label,
    stratum_label,
)
from trscohort.publication.suppression import protect


def test_strata_read_with_their_units():
    assert stratum_label("dose_band", "<300") == "< 300 mg/day"
    assert stratum_label("dose_band", "300-600") == "300\u2013600 mg/day"
    assert stratum_label("dose_band", "after stop") == "after stop"
    assert stratum_label("age_band", "65+") == "65+ y"
    assert stratum_label("time_since_start", "weeks 0-4") == "weeks 0\u20134"
    assert stratifier_label("dose_band") == "daily clozapine dose (mg/day)"
    assert stratifier_label("time_since_start") == "time since clozapine start (weeks)"


def test_numbers_at_risk_do_not_give_away_a_small_drop():
    """100 at week 0, 95 at week 4: 5 patients left, a small hidden count, so one of the two
    is withheld; 95 -> 60 at week 8 (35 left) needs nothing."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.ae_cumulative_incidence AS SELECT * FROM (VALUES "
        "('AE-NEU', 'first', 0, 100), ('AE-NEU', 'first', 4, 95), ('AE-NEU', 'first', 8, 60),"
        "('AE-NEU', 'first', 5, 90), ('AE-NEU', 'rechallenge', 0, 7)) "
        "AS t(event_id, course, week, at_risk)"
    )
    protected = protect(at_risk_table(con, load_config()), 10)
    week0, week4 = protected.cell(("AE-NEU", 0)), protected.cell(("AE-NEU", 4))
    assert week0.suppressed or week4.suppressed
    assert protected.cell(("AE-NEU", 8)).label == "60"
    assert ("AE-NEU", 5) not in protected.table.values  # only the printed weeks


def test_attrition_small_exclusion_is_suppressed_with_a_complement():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.ae_cohort_attrition AS SELECT * FROM (VALUES "
        "(1, 'any clozapine record', 'all', 200, NULL, NULL),"
        "(2, 'new user', 'all', 195, 5, 'prevalent user'),"
        "(3, 'follow-up > 0', 'all', 195, 0, 'no day at risk'),"
        "(4, 'at risk of the event', 'AE-NEU', 150, 45, 'prevalent case'),"
        "(5, 'with an incident event', 'AE-NEU', 3, NULL, NULL)) "
        "AS t(step_order, step, event_id, patients, excluded, exclusion_reason)"
    )
    table, _ = attrition_table(con, load_config())
    protected = protect(table, 10)
    assert protected.cell(("excluded", 2, "all")).label == "<11"
    assert (
        protected.cell(("patients", 1, "all")).suppressed
        or protected.cell(("patients", 2, "all")).suppressed
    )
    assert protected.cell(("patients", 5, "AE-NEU")).label == "<11"
    assert protected.cell(("excluded", 3, "all")).label == "0"
    fig = fig_ae_attrition(con, config=load_config())
    columns = fig.data[0].cells.values
    assert "<11" in columns[2] and "<11" in columns[3]  # 3 with the event, 5 excluded
    assert not [v for col in columns[2:4] for v in col if v.isdigit() and 1 <= int(v) <= 10]
