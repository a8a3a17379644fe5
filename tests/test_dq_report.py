"""Issue 16: the data-quality report a data steward can use: failures first with a summary and
links, the suite's plain-English description, % of rows affected, quarantine reasons per
extract (identifiers masked, counts protected), provenance and a link to the dashboards."""

from __future__ import annotations

import datetime as dt

import duckdb

from trscohort.quality.ingest_counts import grouped_reasons
from trscohort.quality.report import masked_reason, render_report
from trscohort.quality.results import DQ_RESULTS_DDL


def _result(suite, table, check, severity, success, unexpected, rows, examples=None):
    return (
        suite,
        f"staging/{suite}",
        table,
        check,
        severity,
        "expect_x",
        success,
        None,
        unexpected,
        rows,
        None,
        None,
        None,
        dt.datetime(2025, 1, 1),
        0.1,
        None,
        examples,
    )


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA audit")
    con.execute(DQ_RESULTS_DDL)
    columns = [c for (c, *_) in con.execute("DESCRIBE audit.dq_results").fetchall()]
    rows = [
        _result("labs", "staging.labs", "a_passing_check", "warning", True, 0, 9000),
        _result(
            "labs",
            "staging.labs",
            "patient_known",
            "warning",
            False,
            45,
            9000,
            "labs.csv row 12 'foo'",
        ),
        _result(
            "patients",
            "staging.patients",
            "patient_id_unique",
            "blocking",
            False,
            2,
            300,
            "patients.csv row 40 'A9999999'",
        ),
    ]
    names = [
        "suite",
        "asset",
        "table_name",
        "check_name",
        "severity",
        "expectation",
        "success",
        "observed_value",
        "unexpected_count",
        "element_count",
        "unexpected_percent",
        "examples",
        "message",
        "run_at",
        "seconds",
        "published_observed",
        "published_examples",
    ]
    names = [n for n in names if n in columns]
    con.executemany(
        f"INSERT INTO audit.dq_results ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        [r[: len(names)] for r in rows],
    )
    con.execute("CREATE SCHEMA quarantine")
    con.execute("CREATE TABLE quarantine.labs (source_row BIGINT, reason VARCHAR)")
    reasons = ["unparseable value for anc: 'n/a'"] * 689 + ["unknown patient_id 'P0000042'"] * 3
    reasons += ["unknown patient_id 'P0000077'"] * 2 + ["unit not recognised for anc: 'foo'"] * 40
    con.executemany("INSERT INTO quarantine.labs VALUES (?, ?)", list(enumerate(reasons)))
    return con


def test_failures_come_first_with_description_and_share_of_rows():
    text = render_report(_warehouse())
    assert "2 of 3 checks failed</strong> (1 blocking, 1 warning)" in text
    failed = text[text.index("id='failed'") : text.index("id='quarantine'")]
    # blocking first, each with the description from expectations/extracts/<suite>.yml
    assert failed.index("patient_id_unique") < failed.index("patient_known")
    assert "a_passing_check" not in failed
    assert "patient_id is present and unique" in failed
    assert "every result belongs to a patient of staging.patients" in failed
    assert "2 of 300 (0.67 %)" in failed and "45 of 9,000 (0.50 %)" in failed
    assert "patients.csv row 40 &#x27;A9999999&#x27;" in failed
    assert "href='#check-staging-patients-patients-patient_id_unique'" in text
    assert "href='dashboards/index.html'" in text


def test_quarantine_reasons_per_extract_masked_and_protected():
    text = render_report(_warehouse())
    section = text[text.index("id='quarantine'") : text.index("id='all'")]
    assert "unparseable value for anc: &#x27;n/a&#x27;</td><td>689</td>" in section
    assert "P0000042" not in text and "P0000077" not in text
    # the two masked patient ids fall into one reason: 5 rows, a small count
    assert "unknown patient_id &#x27;A9999999&#x27;</td><td>&lt;11</td>" in section
    # 689 + 40 + 5 = 734: with the total shown, 40 must not give the 5 away
    assert section.count("withheld") >= 1
    assert ">734<" not in section or ">40<" not in section


def test_masked_reason_keeps_the_shape_of_ids_and_dates_only():
    assert masked_reason("unknown patient_id 'P0000042'") == "unknown patient_id 'A9999999'"
    assert masked_reason("unparseable collected_at '2023-02-30'") == (
        "unparseable collected_at '9999-99-99'"
    )
    assert masked_reason("birth_date outside plausible range: 1880-01-01") == (
        "birth_date outside plausible range: 9999-99-99"
    )
    assert masked_reason("unit not recognised for anc: 'foo'") == (
        "unit not recognised for anc: 'foo'"
    )
    # The word before the quote is the whole word (not its tail), whatever comes before it.
    assert masked_reason("row 7 unit 'mg' of patient_id:'P0000042'") == (
        "row 7 unit 'mg' of patient_id:'A9999999'"
    )
    assert masked_reason("then unit 'P0000042' for a_date  'x1'") == (
        "then unit 'P0000042' for a_date  'a9'"  # `unit` is no id column; `a_date` is a date
    )
    # An apostrophe inside an id or a date: masked up to the reason's last quote, no digit
    # of it left as written; another column's value keeps its apostrophe as it is.
    assert masked_reason("unknown patient_id 'P12'345678'") == "unknown patient_id 'A99'999999'"
    assert masked_reason("unparseable birth_date '1980'01'02'") == (
        "unparseable birth_date '9999'99'99'"
    )
    assert masked_reason("unit not recognised for anc: 'mg'l'") == (
        "unit not recognised for anc: 'mg'l'"
    )


def test_counts_are_suppressed_with_the_threshold_the_run_was_configured_with():
    con = _warehouse()
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute("CREATE TABLE audit.run_parameters (config_json VARCHAR)")
    con.execute(
        """INSERT INTO audit.run_parameters VALUES ('{"publication": {"small_count_max": 40}}')"""
    )
    section = render_report(con)
    section = section[section.index("id='quarantine'") : section.index("id='all'")]
    # 40 rows: shown at the default k = 10, suppressed at k = 40
    assert "unit not recognised for anc: &#x27;foo&#x27;</td><td>&lt;41</td>" in section
    assert "Counts 1-40 are shown as &lt;41" in section


def test_reasons_that_differ_only_in_their_values_are_one_reason():
    """One line per kind of problem: the values that differ within a group become `…`, the
    ones every member shares stay; a word holding digits (b12, aripiprazole_lai) is no value."""
    lai = "daily dose {} mg/day is implausible for {} (at most {} mg/day by its label)"
    by_reason = {
        lai.format("71.4", "risperidone_lai", "8.6"): 35,
        lai.format("63.8", "risperidone_lai", "8.6"): 3,
        lai.format("484.3", "aripiprazole_lai", "61.5"): 1,
        "unit not recognised for b12: 'foo'": 40,
        "unit not recognised for b12: 'bar'": 2,
        "unparseable value for anc: 'n/a'": 689,
        "score outside the PANSS range 30-210: 250": 4,
        "unit not recognised for anc: 'a'\0'b'": 1,  # a NUL of the raw value: text, as it is
        "unit not recognised for anc: 'c'\0'd'": 1,
    }
    assert grouped_reasons(by_reason) == {
        lai.format("\u2026", "risperidone_lai", "8.6"): 38,
        lai.format("484.3", "aripiprazole_lai", "61.5"): 1,  # alone: as it is
        "unit not recognised for b12: \u2026": 42,
        "unparseable value for anc: 'n/a'": 689,
        "score outside the PANSS range 30-210: 250": 4,
        "unit not recognised for anc: \u2026\0\u2026": 2,
    }


def test_the_report_lists_one_line_per_kind_of_quarantine_reason():
    con = _warehouse()
    doses = [f"daily dose {d / 10} mg/day is implausible for risperidone_lai" for d in range(600)]
    con.execute("CREATE TABLE quarantine.prescriptions (source_row BIGINT, reason VARCHAR)")
    con.executemany("INSERT INTO quarantine.prescriptions VALUES (?, ?)", list(enumerate(doses)))
    text = render_report(con)
    section = text[text.index("id='quarantine'") : text.index("id='all'")]
    assert section.count("mg/day is implausible") == 1
    assert "daily dose \u2026 mg/day is implausible for risperidone_lai</td><td>600</td>" in section
