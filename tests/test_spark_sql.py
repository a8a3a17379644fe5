"""The DuckDB -> Spark SQL translation of the models (trscohort.engines.spark_sql): no Java
needed. What Spark makes of the translated SQL is tested in tests/test_spark_parity.py."""

from __future__ import annotations

import pytest

from trscohort.config import load_config
from trscohort.contract import SiteMapping
from trscohort.engines.spark_sql import NotPortable, java_pattern, to_spark, window_frames
from trscohort.ingest.staging import template_context
from trscohort.models import TRANSFORM_LAYERS, all_models, render, transform_context

# Every window frame the models may use; each is run on both engines by
# tests/test_spark_parity.py::test_window_frame_reads_the_same.
KNOWN_FRAMES = {
    ("RANGE", "UNBOUNDED PRECEDING", "CURRENT ROW"),  # the default of a window with ORDER BY
    ("ROWS", "UNBOUNDED PRECEDING", "CURRENT ROW"),
    ("ROWS", "UNBOUNDED PRECEDING", "1 PRECEDING"),
    ("ROWS", "1 FOLLOWING", "UNBOUNDED FOLLOWING"),
}


def rendered_models() -> list[tuple[str, str]]:
    config = load_config()
    out = []
    for model in all_models():
        if model.layer in TRANSFORM_LAYERS:
            context = transform_context(config)
        else:
            extract = model.name if model.layer == "staging" else None
            context = template_context(config, SiteMapping(), extract)
        out.append((model.table, render(model, context)))
    return out


@pytest.mark.parametrize(
    ("strftime", "java"),
    [
        ("%Y-%m-%d", "yyyy-M-d"),
        ("%Y-%m-%dT%H:%M:%S", "yyyy-M-d'T'H:m:s"),
        ("%Y-%m-%d %H:%M:%S.%f", "yyyy-M-d H:m:s.SSSSSS"),
        ("%d/%m/%Y", "d/M/yyyy"),
        ("%d.%m.%y", "d.M.yy"),
        ("%d %b %Y", "d MMM yyyy"),
    ],
)
def test_date_formats_become_java_patterns(strftime, java):
    assert java_pattern(strftime) == java


def test_a_date_format_without_a_spark_pattern_is_refused():
    with pytest.raises(NotPortable, match="%j"):
        java_pattern("%Y-%j")


def test_try_strptime_with_a_list_tries_each_format_in_order():
    spark = to_spark("SELECT TRY_STRPTIME(x, ['%Y-%m-%d', '%d/%m/%Y']) AS t FROM raw.labs")
    assert spark == (
        "SELECT COALESCE(TRY_TO_TIMESTAMP(x, 'yyyy-M-d'), TRY_TO_TIMESTAMP(x, 'd/M/yyyy')) AS t "
        "FROM raw__labs"
    )


def test_tables_become_views_and_aliases_stay():
    spark = to_spark("SELECT p.patient_id FROM staging.patients AS p JOIN marts.x USING (a)")
    assert "FROM staging__patients AS p JOIN marts__x" in spark


def test_a_range_frame_with_an_offset_is_refused():
    sql = (
        "SELECT count(*) OVER (PARTITION BY p ORDER BY d "
        "RANGE BETWEEN INTERVAL 30 DAY PRECEDING AND CURRENT ROW) FROM t"
    )
    with pytest.raises(NotPortable, match="integer day numbers"):
        to_spark(sql)


def test_frames_are_listed_with_the_default_for_a_window_without_one():
    frames = window_frames(
        "SELECT sum(x) OVER (ORDER BY d), row_number() OVER (PARTITION BY p ORDER BY d "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), count(*) OVER (PARTITION BY p) FROM t"
    )
    assert [(f.kind, f.start, f.end) for f in frames] == [
        ("RANGE", "UNBOUNDED PRECEDING", "CURRENT ROW"),
        ("ROWS", "UNBOUNDED PRECEDING", "1 PRECEDING"),
    ]


def test_every_window_frame_of_the_models_is_one_the_parity_test_covers():
    used = {
        (f.kind, f.start, f.end): table
        for table, sql in rendered_models()
        for f in window_frames(sql)
    }
    assert set(used) <= KNOWN_FRAMES, {k: v for k, v in used.items() if k not in KNOWN_FRAMES}
    assert set(used) == KNOWN_FRAMES  # a frame no model uses any more: drop it from the list


@pytest.mark.parametrize("table_sql", rendered_models(), ids=lambda t: t[0])
def test_every_model_translates_to_spark(table_sql):
    _, sql = table_sql
    spark = to_spark(sql)
    assert "TRY_STRPTIME" not in spark.upper()
    assert "TO_MONTHS" not in spark.upper()  # no Spark function: integer months instead


def test_omop_with_the_spark_engine_is_refused_in_one_line(tmp_path, capsys):
    """The OMOP reader is DuckDB's: `--omop` with `--engine spark` is a usage error (exit 2,
    one line on stderr, nothing printed or written before it), with or without PySpark."""
    from trscohort.cli import main

    cdm = tmp_path / "cdm"
    cdm.mkdir()
    argv = ["run", "--engine", "spark", "--omop", str(cdm), "--warehouse", str(tmp_path / "w")]
    code = main([*argv, "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err == (
        "error: --engine spark reads extract files (--input); --omop needs --engine duckdb\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cdm"]
