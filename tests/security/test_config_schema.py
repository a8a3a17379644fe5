"""Issue 15, item 7: every config key has a declared type and range, checked before the run;
config values reach SQL as typed literals, never as raw text."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest
import yaml

from tests.conftest import BASE_EXTRACTS, write_extracts
from trscohort.cli import main
from trscohort.config import DEFAULTS_PATH, Config, load_config
from trscohort.errors import UsageError
from trscohort.models import Model, build_model, transform_context

# Names new with the fix are imported inside the tests, so that this file runs against the code
# before the fix and shows each test failing there.


def _leaf_keys(data: dict, sections: set[str], prefix: str = "") -> set[str]:
    """Dotted keys of defaults.yaml; a mapping that is not a section (profiles, tests) is one."""
    keys = set()
    for name, value in data.items():
        if isinstance(value, dict) and f"{prefix}{name}" in sections:
            keys |= _leaf_keys(value, sections, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def test_every_key_of_defaults_yaml_is_declared_in_the_schema():
    """Adding a key to defaults.yaml means declaring it in trscohort/config/schema.py."""
    from trscohort.config.schema import declared_keys

    sections = {k.rsplit(".", 1)[0] for k in declared_keys() if "." in k}
    sections |= {k.split(".")[0] for k in declared_keys()}
    defaults = _leaf_keys(yaml.safe_load(DEFAULTS_PATH.read_text()), sections)
    undeclared = sorted(defaults - declared_keys())
    missing = sorted(declared_keys() - defaults)
    assert not undeclared, f"declare in trscohort/config/schema.py: {undeclared}"
    assert not missing, f"declared but not in defaults.yaml: {missing}"


def test_the_defaults_validate_and_keep_their_types():
    cfg = load_config()
    assert getattr(cfg, "validated", False)
    assert cfg["trs"]["cgi_s_impaired"] == 4 and isinstance(cfg["trs"]["cgi_s_impaired"], int)
    assert cfg["trs"]["min_cpz_equivalent_mg"] == 600
    assert isinstance(cfg["trs"]["min_cpz_equivalent_mg"], int)  # 600 stays 600, not 600.0
    assert cfg["clozapine"]["titration_start_mg"] == 12.5
    assert cfg["ingest"]["earliest_plausible_date"] == dt.date(1900, 1, 1)


def _config(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "trs: {cgi_s_impaired: '4; DROP TABLE x'}",
            "config: trs.cgi_s_impaired: expected a whole number",
        ),
        ("trs: {cgi_s_impaired: 4.5}", "config: trs.cgi_s_impaired: expected a whole number"),
        (
            "trs: {cgi_s_impaired: 8}",
            "config: trs.cgi_s_impaired: input should be less than or equal to 7",
        ),
        ("trs: {min_trial_days: true}", "config: trs.min_trial_days: expected a whole number"),
        (
            "trs: {min_adherence_pct: 101}",
            "config: trs.min_adherence_pct: input should be less than or equal to 100",
        ),
        (
            "trs: {min_cpz_equivalent_mg: .nan}",
            "config: trs.min_cpz_equivalent_mg: expected a finite number",
        ),
        (
            "trs: {include_schizoaffective: 'no'}",
            "config: trs.include_schizoaffective: expected true or false",
        ),
        (
            "clozapine: {status_without_assessment: \"x' OR '1\"}",
            "config: clozapine.status_without_assessment: input should be 'responder' or 'clozapine_resistant'",
        ),
        (
            'adverse_events: {events: ["AE-NEU\'); COPY"]}',
            "config: adverse_events.events[0]: not an allowed code or name",
        ),
        (
            "adverse_events: {ci_level: 0.8}",
            "config: adverse_events.ci_level: input should be 0.9, 0.95 or 0.99",
        ),
        (
            "adverse_events: {time_since_start_weeks: [18, 4]}",
            "config: adverse_events.time_since_start_weeks: must be in increasing order",
        ),
        (
            "ingest: {earliest_plausible_date: 'yesterday'}",
            "config: ingest.earliest_plausible_date: expected a date",
        ),
        (
            "ingest: {cpz_methods: [gardner2010, my_table]}",
            "config: ingest.cpz_methods[1]: input should be",
        ),
        (
            "monitoring: {profile: nowhere}",
            "config: monitoring: profile 'nowhere' is not one of profiles",
        ),
        (
            "clozapine: {titration_step_min_mg: 60}",
            "config: clozapine: titration_step_min_mg (60) must not exceed titration_step_max_mg (50)",
        ),
        ("anc: {mild_min: 2000}", "config: anc: mild_min (2000) must not exceed normal_min (1500)"),
        (
            "publication: {small_count_max: 0}",
            "config: publication: small_count_max: 0 turns small-count suppression off",
        ),
        (
            "runtime: {memory_limit_pct: 100}",
            "config: runtime.memory_limit_pct: input should be less than or equal to 95",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(tmp_path, override, message):
    with pytest.raises(UsageError) as caught:
        load_config(_config(tmp_path, override))
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text
    assert "DROP" not in text and "COPY" not in text  # the value is never echoed


def test_suppression_off_needs_explicit_consent(tmp_path):
    cfg = load_config(
        _config(tmp_path, "publication: {small_count_max: 0, allow_unsuppressed: true}")
    )
    assert cfg["publication"]["small_count_max"] == 0


def test_the_injection_of_the_issue_is_refused_before_the_run(tmp_path, capsys):
    """A string in trs.cgi_s_impaired once ran a COPY of staging.patients and exited 0."""
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    leak = tmp_path / "leak.csv"
    attack = (
        "4 END AS functionally_impaired, a.source_row FROM staging.assessments AS a; "
        f"COPY (SELECT * FROM staging.patients) TO '{leak}' (HEADER); "
        "SELECT CASE 'x' WHEN 'y' THEN TRUE"
    )
    config = _config(tmp_path, yaml.safe_dump({"trs": {"cgi_s_impaired": attack}}))
    code = main(
        [
            "run",
            "--input",
            str(folder),
            "--warehouse",
            str(tmp_path / "w.duckdb"),
            "--out",
            str(tmp_path / "out"),
            "--config",
            str(config),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == "error: config: trs.cgi_s_impaired: expected a whole number"
    assert not leak.exists()
    assert not (tmp_path / "w.duckdb").exists()


def test_templates_never_see_an_unvalidated_config():
    data = json.loads(load_config().to_json())
    data["trs"]["cgi_s_impaired"] = "4; COPY (SELECT 1) TO 'x'"
    with pytest.raises(UsageError, match="trs.cgi_s_impaired"):
        transform_context(Config(data))


def test_a_model_that_renders_two_statements_is_not_run(tmp_path, monkeypatch):
    """Defence in depth: even a template bug cannot smuggle a second statement to DuckDB."""
    leak = tmp_path / "leak.csv"
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging")
    con.execute("CREATE TABLE staging.assessments AS SELECT 1 AS x")
    monkeypatch.setattr(
        "trscohort.models.render",
        lambda model, context: f"SELECT 1 AS x; COPY (SELECT 42) TO '{leak}'",
    )
    with pytest.raises(UsageError, match="one SELECT statement, not SELECT, COPY"):
        build_model(con, Model("intermediate", "symptom_scores"), {})
    assert not leak.exists()
    assert con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'intermediate'"
    ).fetchone() == (0,)


@pytest.mark.parametrize(
    ("value", "rendered", "literal"),
    [
        (4, "4", "4"),
        (12.5, "12.5", "12.5"),
        (True, "TRUE", "TRUE"),
        (None, "NULL", "NULL"),
        (dt.date(1900, 1, 1), "1900-01-01", "DATE '1900-01-01'"),
        ("responder", "responder", "'responder'"),
        ("it's", "it's", "'it''s'"),
    ],
)
def test_values_render_as_typed_literals(value, rendered, literal):
    from trscohort.models import sql_literal, sql_value

    assert sql_value(value) == rendered
    assert sql_literal(value) == literal


def test_lists_and_non_finite_numbers_cannot_be_pasted():
    from trscohort.models import sql_value

    with pytest.raises(TypeError):
        sql_value([1, 2])
    with pytest.raises(ValueError):
        sql_value(float("inf"))


def test_validation_is_idempotent():
    from trscohort.config import validate_config

    cfg = load_config()
    again = validate_config(json.loads(cfg.to_json()))
    assert again.to_json() == cfg.to_json()


def test_defaults_parsed_once_are_what_the_file_says_and_each_load_is_its_own(tmp_path):
    """The defaults are parsed once per process (libyaml): the same values as the pure-Python
    parser, and no load sees another's override or another caller's change."""
    from trscohort.config import validate_config

    from_file = validate_config(yaml.load(DEFAULTS_PATH.read_text(), Loader=yaml.SafeLoader))
    assert load_config().to_json() == from_file.to_json()
    overridden = load_config(_config(tmp_path, "trs:\n  min_trial_days: 56\n"))
    overridden["trs"]["min_cpz_equivalent_mg"] = 1  # a caller changing its own copy
    assert overridden["trs"]["min_trial_days"] == 56
    again = load_config()
    assert again["trs"]["min_trial_days"] == 42 and again["trs"]["min_cpz_equivalent_mg"] == 600
    assert again.to_json() == from_file.to_json()
