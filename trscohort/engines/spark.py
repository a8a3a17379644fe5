"""The Spark engine: the same extracts, the same SQL models, a Parquet warehouse.

`SparkWarehouse` reads the extracts with Spark, stages them with the staging models, builds
every intermediate and mart model, and writes each table as Parquet under
`<root>/<layer>/<name>/`; every model is the DuckDB-dialect SQL of `trscohort/sql/`, rendered
by `trscohort.models` and transpiled by `trscohort.engines.spark_sql`.

What is not patient-level work stays in DuckDB, reading and writing the same Parquet folders:
the reference tables (packaged CSVs and the site vocabulary: configuration, a few thousand
rows), the run parameters (one row), the marts computed in Python over small aggregates
(`marts.ae_rates`, `marts.ae_rates_grace_sensitivity`, `marts.ae_competing_risks`), the
vocabulary audit and the data-quality suites. See docs/spark.md.

PySpark is imported when a session is made: the domain core imports without it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from trscohort.config import Config
from trscohort.contract import EXTRACTS, SiteMapping, SourceFile
from trscohort.engines import parquet
from trscohort.engines.spark_sql import to_spark, view_name
from trscohort.errors import UsageError
from trscohort.ingest.raw import (
    EXTRAS,
    csv_dialect,
    max_line_bytes,
    plan_columns,
    sha256_of,
)
from trscohort.ingest.staging import StageCounts, template_context
from trscohort.models import Model, build_order, render, single_select, transform_context

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DEFAULT_MASTER = "local[2]"

# (session, warehouse folder) -> tables registered as views in that session.
_REGISTERED: dict[tuple[int, str], set[str]] = {}


@dataclass(frozen=True)
class SparkOptions:
    """Where Spark runs: a master URL (`local[2]`, `spark://host:7077`, `yarn`), or a Spark
    Connect server (`sc://host:15002`); with neither, local[2]."""

    master: str | None = None
    remote: str | None = None
    app_name: str = "trscohort"

    def __post_init__(self) -> None:
        if self.master and self.remote:
            raise UsageError("give --spark-master or --spark-remote, not both")
        if self.remote and not self.remote.startswith("sc://"):
            raise UsageError(f"--spark-remote {self.remote}: a Spark Connect URL starts with sc://")


def spark_available() -> str | None:
    """None when PySpark and Java are there; else why not (one line)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed: pip install 'trscohort[spark]'"
    import shutil

    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and Path(java_home, "bin", "java").exists()) and not shutil.which("java"):
        return "Java is not installed (Spark needs Java 17 or later)"
    return None


CATALOG_PREFIX = "trscohort-spark-catalog-"
_CATALOG: dict[
    int, Path
] = {}  # pid -> that process's catalog folder (a forked child makes its own)


def catalog_dir() -> Path:
    """This process's folder for Spark's session catalog (Spark makes the default database's
    folder there at start; our tables are views, so it stays empty):
    `<tmp>/trscohort-spark-catalog-<pid>-<random>/`, made once per process and removed when
    the process exits. Folders left by processes that died without exiting (killed) are
    removed when the next one is made."""
    made = _CATALOG.get(os.getpid())
    if made is not None and made.is_dir():
        return made
    import atexit
    import shutil
    import tempfile

    parent = Path(tempfile.gettempdir())
    remove_stale_catalogs(parent)
    folder = Path(tempfile.mkdtemp(prefix=f"{CATALOG_PREFIX}{os.getpid()}-", dir=parent))
    _CATALOG[os.getpid()] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def remove_stale_catalogs(parent: Path) -> list[Path]:
    """Remove the catalog folders (`trscohort-spark-catalog-<pid>-...`) of processes that no
    longer run; returns them. Folders of another naming are left alone."""
    import re
    import shutil

    from trscohort.publication.files import pid_alive

    removed = []
    pattern = re.compile(re.escape(CATALOG_PREFIX) + r"(\d+)-")
    for path in Path(parent).glob(f"{CATALOG_PREFIX}*"):
        found = pattern.match(path.name)
        if found and int(found.group(1)) != os.getpid() and not pid_alive(int(found.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def spark_session(
    options: SparkOptions, config: Config, extra_conf: Mapping[str, str] | None = None
) -> SparkSession:
    """A Spark session for a run (an existing local one is reused). Timestamps are read and
    written without a time zone, like DuckDB's TIMESTAMP. `extra_conf`: settings for a local
    Spark started here (JVM options, say; a reused session keeps its own)."""
    problem = spark_available() if not options.remote else None
    if problem:
        raise UsageError(f"--engine spark: {problem}")
    from pyspark.sql import SparkSession

    spark_cfg = config["spark"]
    builder = SparkSession.builder.appName(options.app_name)
    if options.remote:
        builder = builder.remote(options.remote)
    elif options.master:
        builder = builder.master(options.master)
    # Under spark-submit (which starts the JVM and says so in PYSPARK_GATEWAY_PORT) its
    # --master and --conf settings stand; otherwise a local Spark of our own.
    if not options.remote and "PYSPARK_GATEWAY_PORT" not in os.environ:
        if not options.master:
            builder = builder.master(DEFAULT_MASTER)
        builder = builder.config("spark.driver.memory", f"{spark_cfg['driver_memory_mb']}m")
        builder = builder.config("spark.ui.enabled", "false")
        # ~130 tables are written one after the other: no _SUCCESS file per table, and task
        # output moved into place once (commit algorithm 2) rather than twice.
        builder = builder.config(
            "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false"
        )
        builder = builder.config(
            "spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version", "2"
        )
        for key, value in (extra_conf or {}).items():
            builder = builder.config(key, value)
        # Spark's session catalog would make ./spark-warehouse/ in the working directory; the
        # views need no catalog folder, so it goes to a temporary one (one per process).
        builder = builder.config("spark.sql.warehouse.dir", str(catalog_dir()))
    settings = {
        "spark.sql.shuffle.partitions": str(spark_cfg["shuffle_partitions"]),
        # Adaptive execution merges the small shuffle partitions of a small cohort and turns
        # joins with a small side into broadcasts (on by default since Spark 3.2: said here).
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    for key, value in settings.items():  # a reused session gets them too
        session.conf.set(key, value)
    if not options.remote:
        session.sparkContext.setLogLevel("ERROR")
    return session


@dataclass
class SparkWarehouse:
    """A Parquet warehouse built by Spark; every table is also a Spark view `layer__name`."""

    spark: SparkSession
    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / parquet.MARKER).write_text("tables: <layer>/<name>/*.parquet\n")
        self._register_existing()

    def _register_existing(self) -> None:
        """Views over the tables already in the folder (a Dagster step in a process of its
        own starts with none); skipped for those this session registered from this folder."""
        here = str(self.root.resolve())
        key = (id(self.spark), here)
        if self.spark.conf.get("trscohort.warehouse", "") != here:
            _REGISTERED[key] = set()  # the views point into another folder: all again
            self.spark.conf.set("trscohort.warehouse", here)
        done = _REGISTERED.setdefault(key, set())
        # Registered when a query first names them (`sql`): a Dagster step reads a few tables,
        # not all ~130.
        self._pending = {
            table
            for table in parquet.tables(self.root)
            if table not in done and not table.startswith("work.")
        }

    def sql(self, query: str) -> DataFrame:
        """`spark.sql(query)`, after registering the views of the folder's tables that it names
        and that are not registered yet."""
        for table in sorted(self._pending):
            if re.search(rf"\b{view_name(table)}\b", query):
                self.register(table)
        return self.spark.sql(query)

    # ------------------------------------------------------------------ tables

    def write(self, frame: DataFrame, table: str) -> DataFrame:
        """Write a table's Parquet folder and (re)register its view; returns the view."""
        folder = parquet.table_dir(self.root, table)
        frame.write.mode("overwrite").parquet(str(folder))
        return self.register(table, frame.schema)

    def register(self, table: str, schema=None) -> DataFrame:
        """The table's view. The schema is given to Spark (from the frame just written, or
        from a Parquet footer read here): inferring it would cost a Spark job per table."""
        folder = parquet.table_dir(self.root, table)
        schema = schema if schema is not None else _footer_schema(folder)
        reader = self.spark.read if schema is None else self.spark.read.schema(schema)
        frame = reader.parquet(str(folder))
        frame.createOrReplaceTempView(view_name(table))
        _REGISTERED.setdefault((id(self.spark), str(self.root.resolve())), set()).add(table)
        getattr(self, "_pending", set()).discard(table)
        return frame

    def count(self, table: str) -> int:
        """Rows of a written table, from its Parquet footers (no Spark job)."""
        return parquet.row_count(self.root, table)

    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """DuckDB with views over every table written so far."""
        return parquet.connect(self.root)

    def from_duckdb(self, con: duckdb.DuckDBPyConnection, table: str) -> None:
        """A table DuckDB made (reference, audit, Python marts), written and registered."""
        parquet.copy_table(con, table, self.root)
        self.register(table)

    # ------------------------------------------------------------------ ingest

    def load_reference(self, config: Config, mapping: SiteMapping) -> dict[str, int]:
        from trscohort.ingest.staging import load_reference

        with duckdb.connect() as con:
            counts = load_reference(con, config, mapping)
            names = con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'reference'"
            ).fetchall()
            for (name,) in names:
                self.from_duckdb(con, f"reference.{name}")
        return counts

    def load_raw(
        self, extract: str, source: SourceFile | None, mapping: SiteMapping, config: Config
    ) -> int:
        """raw.<extract>: every column as text, `_row` numbered in file order, `_problem` for a
        malformed line or a repeated header row (see trscohort.ingest.raw)."""
        if source is None:
            columns = ", ".join(
                f"CAST(NULL AS STRING) AS {_spark_ident(c)}" for c in EXTRACTS[extract].column_names
            )
            frame = self.spark.sql(
                f"SELECT CAST(NULL AS BIGINT) AS _row, {columns}, CAST(NULL AS STRING) AS _problem "
                "WHERE FALSE"
            )
            self.write(frame, f"raw.{extract}")
            return 0
        if source.format not in ("csv", "parquet"):
            raise UsageError(f"--engine spark reads CSV or Parquet extracts, not {source.format}")
        if source.path.stat().st_size == 0:
            raise UsageError(f"{source.path}: the file is empty (0 bytes)")
        frame, columns = self._read_file(source, config)
        plan = plan_columns(source, columns, mapping)
        frame = _numbered(frame)
        frame.createOrReplaceTempView("_trs_file")
        select = ["_row"]
        malformed = "_corrupt IS NOT NULL" if source.format == "csv" else "FALSE"
        for canonical, found in plan.selected.items():
            value = f"CAST({_spark_ident(found)} AS STRING)" if found else "CAST(NULL AS STRING)"
            select.append(
                f"CASE WHEN NOT ({malformed}) THEN {value} END AS {_spark_ident(canonical)}"
            )
        if plan.extras:
            fields = []
            seen: set[str] = set()
            for column in plan.extras:
                name = column
                while name.lower() in seen:
                    name = f"{column}_{len(seen) + 1}"
                seen.add(name.lower())
                fields.append(f"{_spark_literal(name)}, CAST({_spark_ident(column)} AS STRING)")
            select.append(f"named_struct({', '.join(fields)}) AS {EXTRAS}")
        present = [(c, f) for c, f in plan.selected.items() if f is not None]
        header = " AND ".join(
            f"lower(trim({_spark_ident(f)})) = {_spark_literal(f.replace(chr(0xFEFF), '').strip().lower())}"
            for _, f in present
        )
        select.append(
            f"CASE WHEN {malformed} THEN 'malformed line: fields do not match the header' "
            f"WHEN {header} THEN 'repeated header row' END AS _problem"
        )
        raw = self.spark.sql(f"SELECT {', '.join(select)} FROM _trs_file")
        self.write(raw, f"raw.{extract}")
        return self.count(f"raw.{extract}")

    def _read_file(self, source: SourceFile, config: Config) -> tuple[DataFrame, list[str]]:
        path = str(source.path)
        if source.format == "parquet":
            frame = self.spark.read.parquet(path)
            return frame, list(frame.columns)
        from pyspark.sql.types import StringType, StructField, StructType

        dialect = csv_dialect(source.path, max_line_bytes(config))
        schema = StructType(
            [StructField(c, StringType()) for c in dialect.columns]
            + [StructField("_corrupt", StringType())]
        )
        frame = (
            self.spark.read.schema(schema)
            .option("header", True)
            .option("sep", dialect.delimiter)
            .option("quote", '"')
            .option("escape", '"')
            .option("encoding", "UTF-8" if dialect.encoding == "utf-8" else "ISO-8859-1")
            .option("multiLine", True)  # quoted newlines, as DuckDB reads them
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", "_corrupt")
            .csv(path)
        )
        return frame, list(dialect.columns)

    def stage(self, extract: str, context: Mapping[str, Any]) -> StageCounts:
        """raw -> staging + quarantine with the staging model, as trscohort.ingest.staging."""
        model = Model("staging", extract)
        sql = to_spark(single_select(render(model, context), model.template))
        validated = self.sql(sql)
        work = f"work.staging_{extract}"
        self.write(validated, work)
        v, r = view_name(work), view_name(f"raw.{extract}")
        raw_columns = [c for c in self.spark.table(r).columns if c not in ("_row", "_problem")]
        reason = "coalesce(r._problem, v._reason)"
        self.write(
            self.spark.sql(
                f"SELECT r._row AS source_row, {', '.join('r.' + _spark_ident(c) for c in raw_columns)}, "
                f"{reason} AS reason FROM {r} AS r JOIN {v} AS v ON r._row = v._row "
                f"WHERE {reason} IS NOT NULL"
            ),
            f"quarantine.{extract}",
        )
        content = [c for c in self.spark.table(v).columns if c not in ("_row", "_reason")]
        listed = ", ".join(f"v.{_spark_ident(c)}" for c in content)
        partition = ", ".join(f"v.{_spark_ident(c)}" for c in content)
        self.write(
            self.spark.sql(
                f"SELECT _row AS source_row, {', '.join(_spark_ident(c) for c in content)} FROM ("
                f"  SELECT v._row, {listed}, row_number() OVER (PARTITION BY {partition} ORDER BY v._row) AS _copy"
                f"  FROM {v} AS v JOIN {r} AS r ON r._row = v._row"
                f"  WHERE {reason} IS NULL) WHERE _copy = 1"
            ),
            f"staging.{extract}",
        )
        read = self.count(f"raw.{extract}")
        quarantined = self.count(f"quarantine.{extract}")
        accepted = self.count(f"staging.{extract}")
        return StageCounts(read, accepted, quarantined, read - quarantined - accepted)

    def ingest_extract(
        self, extract: str, source: SourceFile | None, mapping: SiteMapping, config: Config
    ) -> StageCounts:
        started = dt.datetime.now()
        self.load_raw(extract, source, mapping, config)
        counts = self.stage(extract, template_context(config, mapping, extract))
        sha = sha256_of(source.path) if source is not None else None
        self._log_ingest(extract, counts, str(source.path) if source else None, sha, started)
        return counts

    def sha256(self, extract: str) -> str | None:
        """The extract file's checksum, as audit.ingest_log recorded it."""
        with parquet.connect(self.root) as con:
            row = con.execute(
                "SELECT sha256 FROM audit.ingest_log WHERE extract = ?", [extract]
            ).fetchone()
        return row[0] if row else None

    def _log_ingest(
        self, extract: str, counts: StageCounts, file: str | None, sha: str | None, started
    ) -> None:
        """The extract's row of audit.ingest_log (replaced), as trscohort.ingest.audit."""
        from trscohort.ingest.audit import record_ingest

        with parquet.connect(self.root, tables=("audit.ingest_log",)) as con:
            record_ingest(con, extract, file, sha, counts, started)
            self.from_duckdb(con, "audit.ingest_log")

    def record_run_parameters(self, config: Config, **kwargs: Any) -> dt.date:
        """audit.run_parameters: one row, computed by DuckDB over the staging Parquet."""
        from trscohort.run_parameters import record_run_parameters

        with self.duckdb() as con:
            as_of = record_run_parameters(con, config, **kwargs)
            self.from_duckdb(con, "audit.run_parameters")
        return as_of

    # ------------------------------------------------------------------ transform

    def build_model(self, model: Model, context: Mapping[str, Any]) -> int:
        sql = to_spark(single_select(render(model, context), model.template))
        self.write(self.sql(sql), model.table)
        return self.count(model.table)

    def build_transform(
        self, config: Config, progress: Callable[[str], None] | None = None
    ) -> list[str]:
        context = transform_context(config)
        built = []
        for model in build_order(context):
            rows = self.build_model(model, context)
            built.append(model.table)
            if progress:
                progress(f"{model.table}: {rows:,} rows")
        return built

    def build_python_marts(self, config: Config) -> list[str]:
        """The marts computed in Python over small aggregates, by DuckDB over the Parquet."""
        from trscohort.competing import build_competing_risks
        from trscohort.rates import build_ae_rates, build_grace_sensitivity

        made = []
        with self.duckdb() as con:
            for name, build in (
                ("ae_rates", build_ae_rates),
                ("ae_rates_grace_sensitivity", build_grace_sensitivity),
                ("ae_competing_risks", build_competing_risks),
            ):
                build(con, config)
                self.from_duckdb(con, f"marts.{name}")
                made.append(f"marts.{name}")
        return made

    def drop_work(self) -> None:
        import shutil

        shutil.rmtree(self.root / "work", ignore_errors=True)


def _footer_schema(folder: Path):
    """The Spark schema of a Parquet folder from one file's footer (None when it cannot be
    read that way: Spark then infers it). Timestamps without a time zone stay so (NTZ)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    first = next(iter(sorted(folder.glob("*.parquet"))), None)
    if first is None:
        return None
    try:
        import pyarrow.parquet as pq

        return from_arrow_schema(pq.read_schema(first), prefer_timestamp_ntz=True)
    except Exception:  # a type Arrow-to-Spark does not map: let Spark read the footer
        return None


def _spark_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _spark_literal(text: str) -> str:
    """A Spark SQL string literal (Spark reads backslash escapes inside quotes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _numbered(frame: DataFrame) -> DataFrame:
    """`_row` = 1, 2, ... in file order, computed in the JVM: Spark's partition id and
    monotonically increasing id (partition << 33 + position) plus each partition's offset."""
    from pyspark.sql import functions as F

    if frame.rdd.getNumPartitions() == 1:  # a small file: the ids are 0, 1, 2, ... already
        return frame.withColumn("_row", F.monotonically_increasing_id() + 1)
    tagged = frame.withColumn("_pid", F.spark_partition_id()).withColumn(
        "_mid", F.monotonically_increasing_id()
    )
    sizes = dict(tagged.groupBy("_pid").count().collect())  # one row per partition
    offsets, total = {}, 0
    for pid in sorted(sizes):
        offsets[pid] = total
        total += sizes[pid]
    offset = (
        F.create_map(*[F.lit(x) for pid in sorted(offsets) for x in (pid, offsets[pid])])
        if offsets
        else F.create_map()
    )
    position = F.col("_mid") - F.shiftleft(F.col("_pid").cast("bigint"), 33)
    return tagged.withColumn(
        "_row", (F.coalesce(offset[F.col("_pid")], F.lit(0)) + position + 1).cast("bigint")
    ).drop("_pid", "_mid")
