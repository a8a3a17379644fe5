"""Data-quality suites: loading, validation in DuckDB with GX, results, report, Dagster checks."""

from __future__ import annotations

import os

import duckdb
import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, materialize

from tests.conftest import BASE_EXTRACTS, write_extracts
from trscohort.contract import EXTRACTS
from trscohort.quality import (
    checks_summary,
    load_suites,
    record_results,
    run_suites,
    suites_for_tables,
    validate_suite,
)
from trscohort.quality.gx_duckdb import duckdb_type, engine_kwargs, install
from trscohort.quality.suites import parse_suite


def suite_for(table: str):
    (suite,) = [s for s in suites_for_tables([table]) if s.table == table and s.applies_to is None]
    return suite


def failed(result) -> dict[str, str]:
    return {c.check.name: c.message(result.table) for c in result.checks if not c.success}


def test_analytics_are_off_and_every_extract_and_status_mart_has_a_suite():
    assert os.environ["GX_ANALYTICS_ENABLED"] == "False"
    tables = {s.table for s in load_suites() if s.table}
    assert {f"staging.{e}" for e in EXTRACTS} <= tables
    assert {"marts.patient_trs_status", "marts.patient_clozapine_status"} <= tables
    assert any(s.applies_to == "marts" for s in load_suites())


def test_gx_runs_on_duckdb_through_the_workarounds():
    install()
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range AS i, 'x' AS s FROM range(1000)")
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_sql(
        "w", connection_string="duckdb:///:memory:", kwargs=engine_kwargs(con.cursor())
    )
    batch = source.add_table_asset("t", table_name="t").add_batch_definition_whole_table("b")
    suite = context.suites.add(gx.ExpectationSuite("s"))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="i", min_value=0, max_value=9))
    suite.add_expectation(gxe.ExpectColumnValuesToBeOfType(column="s", type_="VARCHAR"))
    result = context.validation_definitions.add(
        gx.ValidationDefinition(name="v", data=batch, suite=suite)
    ).run()
    by_type = {r.expectation_config.type: r for r in result.results}
    between = by_type["expect_column_values_to_be_between"]
    # Without the buffering patch every metric fails with IndexError (GX issue #11579).
    assert not between.exception_info.get("raised_exception")
    assert between.result["unexpected_count"] == 990
    assert by_type["expect_column_values_to_be_of_type"].success


def test_gx_kwargs_getters_build_one_configuration_and_return_what_gx_returns(monkeypatch):
    import great_expectations.expectations as gxe
    from great_expectations.expectations.expectation import Expectation

    from trscohort.quality import gx_costs

    gx_costs.install()
    expectation = gxe.ExpectColumnValuesToBeBetween(
        column="value", min_value=0, max_value=9, mostly=0.9, strict_min=True
    )
    getters = {
        "_get_domain_kwargs": (),
        "_get_success_kwargs": (),
        "_get_success_kwarg": ("max_value",),
    }
    kind = type(expectation)
    builds = []
    original_dict = kind.dict
    monkeypatch.setattr(
        kind, "dict", lambda self, **kw: builds.append(1) or original_dict(self, **kw)
    )
    for name, args in getters.items():
        unwrapped = Expectation.__dict__[name].__wrapped__
        del builds[:]
        gx_value = unwrapped(expectation, *args)
        gx_builds = len(builds)
        del builds[:]
        assert getattr(expectation, name)(*args) == gx_value, name
        assert len(builds) == 1 < gx_builds, name  # GX alone: once per key (twice for one)
    assert expectation._get_success_kwargs()["max_value"] == 9
    assert expectation._get_domain_kwargs()["column"] == "value"
    # Outside a getter each read builds a configuration of its own, as GX does.
    assert expectation.configuration is not expectation.configuration
    expectation.max_value = 7
    assert expectation._get_success_kwarg("max_value") == 7  # nothing kept between calls


def test_suites_share_one_gx_context_and_leave_no_data_source_in_it(staged):
    from trscohort.quality.validate import _context

    con = staged()
    first = validate_suite(con, suite_for("staging.labs"))
    con.execute(
        "INSERT INTO staging.labs (patient_id, collected_at, collected_date, analyte, value, unit) "
        "VALUES ('P1', '2020-01-09', '2020-01-09', 'anc', 250000, '/uL')"
    )
    second = validate_suite(con, suite_for("staging.labs"))
    assert first.success and set(failed(second)) == {"anc_in_range"}
    assert "1 of" in failed(second)["anc_in_range"]
    assert len(_context().data_sources.all()) == 0


def test_suites_validated_from_threads_give_what_they_give_one_after_another(staged):
    from concurrent.futures import ThreadPoolExecutor

    con = staged(
        patients="""
        patient_id,birth_date,sex
        P1,1980-01-02,x
        P1,1975-05-06,F
        """
    )
    suites = [suite_for("staging.labs"), suite_for("staging.patients")] * 2
    alone = [failed(validate_suite(con, suite)) for suite in suites]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda suite: failed(validate_suite(con.cursor(), suite)), suites))
    assert together == alone
    assert "sex_recorded" in alone[1] and alone[1] != alone[0]  # the two suites tell apart


def test_duckdb_type_names_map_to_sqlalchemy_types():
    assert type(duckdb_type("VARCHAR")).__name__ == "VARCHAR"
    assert type(duckdb_type("DECIMAL(18,3)")).__name__ == "DECIMAL"
    assert type(duckdb_type("TIMESTAMP WITH TIME ZONE")).__name__ == "TIMESTAMP"
    assert type(duckdb_type("STRUCT(a INTEGER)")).__name__ == "NullType"


def test_clean_extracts_pass_every_suite(staged, tmp_path):
    con = staged()
    results = run_suites(con, out_dir=tmp_path / "out")
    assert {r.table for r in results} >= {f"staging.{e}" for e in EXTRACTS}
    assert [failed(r) for r in results if not r.success] == []
    html = (tmp_path / "out" / "data_quality.html").read_text()
    assert "staging.labs" in html and "FAILED" not in html
    lines = checks_summary(con)
    assert lines[0].startswith("data-quality checks:") and len(lines) == 1


def test_broken_contract_fails_blocking_checks_with_a_clear_message(staged):
    con = staged()
    con.execute("ALTER TABLE staging.labs ALTER value TYPE VARCHAR")
    con.execute("ALTER TABLE staging.labs DROP COLUMN unit")
    result = validate_suite(con, suite_for("staging.labs"))
    messages = failed(result)
    assert "columns" in messages
    assert [c.check.name for c in result.failed_blocking][0] == "columns"
    outcome = {c.check.name: c for c in result.checks}["columns"]
    bad = {e.expectation: e for e in outcome.expectations if not e.success}
    assert "expect_column_to_exist(column=unit)" in bad
    assert bad["expect_column_values_to_be_of_type(column=value, type_=DOUBLE)"].observed_value == (
        "VARCHAR"
    )


def test_range_uniqueness_and_patient_checks_count_the_offending_rows(staged):
    con = staged()
    con.execute(
        "INSERT INTO staging.labs (patient_id, collected_at, collected_date, analyte, value, unit) "
        "VALUES ('P1', '2020-01-09', '2020-01-09', 'anc', 250000, '/uL'), "
        "('P9', '2020-01-10', '2020-01-10', 'anc', 3000, '/uL'), "
        "('P1', '2020-01-11', '2020-01-11', 'clozapine_level', 300, 'ug/L')"
    )
    con.execute(
        "INSERT INTO staging.patients (patient_id, birth_date, sex) "
        "VALUES ('P1', DATE '1980-01-02', 'F')"
    )
    labs = failed(validate_suite(con, suite_for("staging.labs")))
    assert set(labs) == {"anc_in_range", "patient_known", "units_in_vocabulary"}
    assert "1 of 3 rows unexpected" in labs["anc_in_range"] and "250000.0" in labs["anc_in_range"]
    patients = validate_suite(con, suite_for("staging.patients"))
    assert "patient_id_unique" in failed(patients)
    assert all(c.check.blocking for c in patients.failed_blocking)


def test_warning_checks_do_not_block(staged):
    con = staged(
        patients="""
        patient_id,birth_date,sex
        P1,1980-01-02,x
        P2,1975-05-06,unknown
        """
    )
    result = validate_suite(con, suite_for("staging.patients"))
    assert not result.failed_blocking
    assert [c.check.name for c in result.failed_warnings] == ["sex_recorded"]


def test_a_suite_whose_table_is_missing_is_skipped(staged):
    con = staged()
    (trs,) = [s for s in load_suites() if s.table == "marts.patient_trs_status"]
    result = validate_suite(con, trs)
    assert result.skipped == "marts.patient_trs_status does not exist" and result.success


def test_status_marts_classify_every_patient_exactly_once(staged):
    con = staged()
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.patient_trs_status AS "
        "SELECT * FROM (VALUES ('P1', 'trs'), ('P1', 'not_trs'), ('P9', 'maybe')) "
        "AS t(patient_id, trs_status)"
    )
    result = run_suites(con)
    (trs,) = [r for r in result if r.suite.name == "patient_trs_status"]
    messages = failed(trs)
    assert set(messages) == {"one_row_per_patient", "status_allowed"}
    assert "'maybe'" in messages["status_allowed"]
    con.execute(
        "CREATE OR REPLACE TABLE marts.patient_trs_status AS "
        "SELECT * FROM (VALUES ('P1', 'trs'), ('P2', 'no_schizophrenia_diagnosis')) "
        "AS t(patient_id, trs_status)"
    )
    (trs,) = [r for r in run_suites(con) if r.suite.name == "patient_trs_status"]
    assert trs.success


def test_every_mart_checks_rates_and_their_intervals(staged):
    con = staged()
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.event_rates AS SELECT * FROM (VALUES "
        "('a', 1.5, 1.0, 2.0, 3), ('b', 2.5, 1.0, 2.0, 4), ('c', -0.5, -1.0, 0.0, 1)) "
        "AS t(event, rate_per_1000, rate_per_1000_lower, rate_per_1000_upper, events)"
    )
    con.execute("CREATE TABLE marts.plain AS SELECT 'P1' AS patient_id, 3 AS n")
    results = {r.table: r for r in run_suites(con) if r.suite.name == "every_mart"}
    rates = failed(results["marts.event_rates"])
    assert set(rates) == {"rates_non_negative", "intervals_contain_rate"}
    assert results["marts.plain"].success
    assert all(not c.expectations for c in results["marts.plain"].checks)


def test_results_are_recorded_per_expectation(staged):
    con = staged()
    result = validate_suite(con, suite_for("staging.patients"))
    written = record_results(con, result)
    assert written == sum(len(c.expectations) for c in result.checks)
    record_results(con, result)  # replaced, not appended
    assert con.execute(
        "SELECT count(*), count(DISTINCT check_name), bool_and(success) FROM audit.dq_results"
    ).fetchone() == (written, len(result.checks), True)


def test_bad_suite_files_are_reported(tmp_path):
    path = tmp_path / "x.yml"
    path.write_text("suite: x\ntable: staging.x\nchecks:\n  - name: a\n    severity: fatal\n")
    with pytest.raises(Exception, match="severity must be 'blocking' or 'warning'"):
        parse_suite(path)


def test_dagster_checks_are_blocking_or_warning_and_run_with_the_assets(tmp_path):
    from trscohort.orchestration.assets import all_assets, all_checks
    from trscohort.orchestration.definitions import build_resources, defs

    specs = {(s.asset_key.to_user_string(), s.name): s for c in all_checks for s in c.check_specs}
    assert specs[("staging/labs", "columns")].blocking
    assert not specs[("staging/labs", "quarantined_share")].blocking
    graph = defs.resolve_asset_graph()
    assert graph.asset_check_keys  # checks are part of the code location
    extracts = dict(BASE_EXTRACTS)
    extracts["patients"] = BASE_EXTRACTS["patients"].replace("F,false", "x,false")
    folder = write_extracts(tmp_path / "in", extracts)
    patients = AssetKey(["staging", "patients"])
    selected = [c for c in all_checks if any(s.asset_key == patients for s in c.check_specs)]

    def run(name: str, **settings):
        with DagsterInstance.ephemeral() as instance:
            return materialize(
                [*all_assets, *selected],
                resources=build_resources(
                    warehouse=str(tmp_path / f"{name}.duckdb"),
                    input_dir=str(folder),
                    out_dir=str(tmp_path / name),
                    **settings,
                ),
                instance=instance,
                selection=[
                    AssetKey(["reference", "reference_data"]),
                    patients,
                    AssetKey(["quarantine", "patients"]),
                ],
            )

    result = run("out")
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["sex_recorded"].passed
    assert evaluations["sex_recorded"].severity == AssetCheckSeverity.WARN
    assert evaluations["patient_id_unique"].passed
    assert (tmp_path / "out" / "data_quality.html").is_file()  # the UI's: after each check
    # `trscohort run` writes the report itself, once, after the run: the checks do not.
    quiet = run("quiet", report_each_check=False)
    assert quiet.success and len(quiet.get_asset_check_evaluations()) == len(evaluations)
    assert not (tmp_path / "quiet" / "data_quality.html").exists()
