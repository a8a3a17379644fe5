"""Engines a run can use: DuckDB (one machine, the default) or Apache Spark (a cluster).

Both run the same SQL models (`trscohort/sql/`), written once in DuckDB's dialect; Spark gets
them transpiled by SQLGlot (`trscohort.engines.spark_sql`). See docs/spark.md.
"""

from __future__ import annotations

ENGINES = ("duckdb", "spark")
