"""The same pipeline on Spark (local[2]) and on DuckDB gives the same tables, row for row.

Skipped, with the reason, when PySpark or Java is missing (`pip install -e '.[spark]'` and a
Java 17 runtime; `.ci/run` installs both). Kept small: a 40-patient synthetic cohort with the
default share of messy rows (so staging quarantines and deduplicates), plus the hand-built
window-frame cases below.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import pytest

from tests.test_spark_sql import KNOWN_FRAMES
from trscohort.engines.spark import spark_available

REASON = spark_available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"Spark parity: {REASON}")

COMPARED_LAYERS = ("staging", "quarantine", "intermediate", "marts")
# Columns that differ between any two runs (when and how long), or name the engine's own files.
RUN_SPECIFIC = {"audit.ingest_log": ("loaded_at", "seconds")}


# A test cohort is tiny: most of a local Spark's CPU goes to the JVM's optimising (C2) JIT
# compiler; the quick one alone (C1) halves it (docs/spark.md). C1 alone gets a 48 MB code
# cache, which the whole asset graph's generated code fills ("CodeCache is full", then the
# executor fails): 256 MB, as with both compilers. Spark's scratch files go under pytest's tmp.
FAST_JVM = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m"


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from trscohort.config import load_config
    from trscohort.engines.spark import SparkOptions, spark_session

    config = load_config()
    scratch = tmp_path_factory.mktemp("spark_local")
    extra = {"spark.driver.extraJavaOptions": FAST_JVM, "spark.local.dir": str(scratch)}
    saved, tempfile.tempdir = tempfile.tempdir, str(scratch)  # the catalog folder too
    try:
        session = spark_session(SparkOptions(master="local[2]"), config, extra)
    finally:
        tempfile.tempdir = saved
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory, spark):
    """(DuckDB warehouse file, Spark Parquet warehouse folder, Dagster result, output folder)
    of one small cohort: the Spark side is built by the Dagster asset graph with the engine
    resource set to spark (one Spark build serves every test here: it is CI's slowest step)."""
    from dagster import DagsterInstance, materialize

    from trscohort.orchestration.assets import all_assets, all_checks
    from trscohort.orchestration.definitions import build_resources
    from trscohort.synth import generate

    folder = tmp_path_factory.mktemp("spark_parity")
    generate(40, 11, folder / "input")
    resources = build_resources(
        warehouse=str(folder / "unused.duckdb"),
        input_dir=str(folder / "input"),
        out_dir=str(folder / "out"),
        engine="spark",
        spark_warehouse=str(folder / "spark"),
    )
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [*all_assets, *all_checks], resources=resources, instance=instance, raise_on_error=False
        )
    duck = duckdb_warehouse(folder / "input", folder / "w.duckdb")
    return duck, folder / "spark", result, folder / "out"


def duckdb_warehouse(input_dir: Path, path: Path) -> Path:
    """The DuckDB engine's tables, built by the core functions the Dagster assets call."""
    from tests.conftest import ingest_folder
    from trscohort.competing import build_competing_risks
    from trscohort.config import load_config
    from trscohort.models import build_transform
    from trscohort.rates import build_ae_rates, build_grace_sensitivity
    from trscohort.run_parameters import record_run_parameters

    config = load_config()
    memory = ingest_folder(input_dir)
    record_run_parameters(memory, config, as_of=None, input_dir=str(input_dir), mapping_path=None)
    build_transform(memory, config)
    for build in (build_ae_rates, build_grace_sensitivity, build_competing_risks):
        build(memory, config)
    memory.execute(f"ATTACH '{path}' AS file")
    memory.execute("COPY FROM DATABASE memory TO file")
    memory.close()
    return path


def _tables(warehouse: Path, layers: tuple[str, ...]) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [
            f"{s}.{t}"
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 1, 2"
            ).fetchall()
            if s in layers
        ]


def test_every_table_equals_the_duckdb_result_row_for_row(both_engines):
    from trscohort.engines.parity import compare_warehouses

    duck, spark_dir, *_ = both_engines
    tables = _tables(duck, COMPARED_LAYERS)
    assert {"marts.patient_trs_status", "marts.qi_indicators", "staging.labs"} <= set(tables)
    diffs = compare_warehouses(duck, spark_dir, tables)
    different = {d.table: (d.problem, d.examples) for d in diffs if not d.equal}
    assert not different, different
    # not vacuous: the cohort fills the marts, and staging quarantined and deduplicated rows
    rows = {d.table: d.rows_left for d in diffs}
    assert rows["marts.patient_trs_status"] == 40
    assert rows["marts.anc_results"] > 0 and rows["intermediate.monitoring_windows"] > 0
    assert sum(rows[t] for t in tables if t.startswith("quarantine.")) > 0


def test_the_row_accounting_is_the_same(both_engines):
    from trscohort.engines.parity import open_any

    duck, spark_dir, *_ = both_engines
    sql = (
        "SELECT extract, rows_read, accepted, quarantined, duplicates "
        "FROM audit.ingest_log ORDER BY extract"
    )
    with open_any(duck) as a, open_any(spark_dir) as b:
        left, right = a.execute(sql).fetchall(), b.execute(sql).fetchall()
    assert left == right
    assert all(read == acc + q + dup for _, read, acc, q, dup in right)
    assert any(dup > 0 for *_, dup in right)


def test_the_api_reads_the_spark_warehouse(both_engines):
    from trscohort.api import open_warehouse

    duck, spark_dir, *_ = both_engines
    with open_warehouse(duck) as a, open_warehouse(spark_dir) as b:
        patient = a.sql("SELECT min(patient_id) AS p FROM marts.patient_trs_status")["p"][0]
        assert a.explain(patient).to_text() == b.explain(patient).to_text()
        assert "marts.qi_indicators" in set(b.tables()["table"])
        # the lockdown holds: only the warehouse folder can be read
        with pytest.raises(Exception, match="disabled|Permission"):
            b.sql("SELECT * FROM read_csv('/etc/hostname')")


# --------------------------------------------------------------------------- window frames

# Hand-built: two patients, ties on the ordering date, a NULL value, a single-row partition.
FRAME_ROWS = """
    SELECT * FROM (VALUES
        ('P1', DATE '2024-01-01', 10), ('P1', DATE '2024-01-01', 20), ('P1', DATE '2024-01-15', NULL),
        ('P1', DATE '2024-02-20', 5), ('P1', DATE '2024-03-01', 7), ('P2', DATE '2024-05-05', 1)
    ) AS t(patient_id, d, x)
"""
FRAME_SQL = {
    (
        "RANGE",
        "UNBOUNDED PRECEDING",
        "CURRENT ROW",
    ): "sum(x) OVER (PARTITION BY patient_id ORDER BY d)",
    ("ROWS", "UNBOUNDED PRECEDING", "CURRENT ROW"): (
        "sum(x) OVER (PARTITION BY patient_id ORDER BY d, x "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    ),
    ("ROWS", "UNBOUNDED PRECEDING", "1 PRECEDING"): (
        "max(d) OVER (PARTITION BY patient_id ORDER BY d, x "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    ),
    ("ROWS", "1 FOLLOWING", "UNBOUNDED FOLLOWING"): (
        "min(d) OVER (PARTITION BY patient_id ORDER BY d, x "
        "ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)"
    ),
    # The recipe for a date-range frame (docs/spark.md): integer day numbers, not intervals.
    ("RANGE", "30 PRECEDING", "CURRENT ROW"): (
        "count(x) OVER (PARTITION BY patient_id ORDER BY date_diff('day', DATE '1970-01-01', d) "
        "RANGE BETWEEN 30 PRECEDING AND CURRENT ROW)"
    ),
}


def _on_both(spark, expression: str) -> tuple[list, list]:
    from trscohort.engines.spark_sql import to_spark

    sql = f"SELECT patient_id, d, x, {expression} AS w FROM ({FRAME_ROWS}) AS t"
    duck = duckdb.sql(sql).fetchall()
    on_spark = [tuple(r) for r in spark.sql(to_spark(sql)).collect()]
    key = lambda r: tuple((v is None, v) for v in r)  # noqa: E731
    return sorted(duck, key=key), sorted(on_spark, key=key)


def test_the_frame_cases_cover_every_frame_the_models_use():
    assert set(FRAME_SQL) >= KNOWN_FRAMES


@pytest.mark.parametrize("frame", sorted(FRAME_SQL), ids=" ".join)
def test_window_frame_reads_the_same(spark, frame):
    duck, on_spark = _on_both(spark, FRAME_SQL[frame])
    assert duck == on_spark
    assert len({r[3] for r in duck}) >= 2  # the frame matters on these rows


def test_the_integer_day_recipe_means_the_interval_frame(spark):
    """The form docs/spark.md asks for instead of an interval RANGE frame (which `to_spark`
    refuses) gives DuckDB's interval-frame answer, on both engines. (On SQLGlot 30.30 and
    Spark 4.3 the plain transpilation of this day-interval frame happened to agree too; the
    refusal guards against the reported meaning change, not a case reproduced here.)"""
    sql = (
        f"SELECT patient_id, d, x, count(x) OVER (PARTITION BY patient_id ORDER BY d "
        f"RANGE BETWEEN INTERVAL 30 DAY PRECEDING AND CURRENT ROW) AS w FROM ({FRAME_ROWS}) AS t"
    )
    interval = sorted(duckdb.sql(sql).fetchall(), key=str)
    duck_days, spark_days = _on_both(spark, FRAME_SQL[("RANGE", "30 PRECEDING", "CURRENT ROW")])
    assert sorted(duck_days, key=str) == interval
    assert spark_days == duck_days


# --------------------------------------------------------------------------- Dagster


def test_the_dagster_asset_graph_builds_on_spark(both_engines):
    """The same assets and checks ran with the engine resource set to spark (the tables are
    compared above): every step succeeded, the pages were written from the Parquet
    warehouse, and the data-quality suites ran on it."""
    _, spark_dir, result, out = both_engines
    assert result.success
    assert (out / "dashboards" / "index.html").is_file()
    with duckdb.connect() as con:
        checks = con.execute(
            f"SELECT count(*) FROM read_parquet('{spark_dir}/audit/dq_results/*.parquet')"
        ).fetchone()[0]
    assert checks > 0


def test_the_cli_runs_the_spark_engine(both_engines, tmp_path, monkeypatch, capsys):
    """`trscohort run --engine spark`: the CLI's own steps around the build (input checks,
    lock, data-quality suites, pages, privacy scan, swap into --warehouse and --out, the
    summary read back from the Parquet). The build itself copies the warehouse the asset graph
    built above with the same SparkWarehouse steps: a second Spark build would double CI's
    slowest test."""
    import shutil

    from trscohort import cli
    from trscohort.engines import spark_run
    from trscohort.engines.parity import compare_warehouses

    duck, spark_dir, _, _ = both_engines

    def built(spark, root, options, config, progress=lambda line: None):
        shutil.copytree(spark_dir, root, ignore=shutil.ignore_patterns("dq_results"))
        progress("warehouse copied")

    monkeypatch.setattr(spark_run, "build_spark_warehouse", built)
    argv = ["run", "--engine", "spark", "--input", str(spark_dir.parent / "input"),
            "--warehouse", str(tmp_path / "w"), "--out", str(tmp_path / "out")]  # fmt: skip
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "✓ warehouse copied" in printed and "data-quality checks:" in printed
    assert (tmp_path / "out" / "dashboards" / "index.html").is_file()
    assert not list(tmp_path.glob("w.building-*"))  # swapped in, nothing left behind
    marts = _tables(duck, ("marts",))
    assert [d.table for d in compare_warehouses(duck, tmp_path / "w", marts) if not d.equal] == []
