"""audit.* tables: what each run read, from which file, and how every row was accounted for."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from trscohort.ingest.staging import StageCounts

INGEST_LOG_DDL = """
CREATE TABLE IF NOT EXISTS audit.ingest_log (
    extract VARCHAR PRIMARY KEY,
    file VARCHAR,
    sha256 VARCHAR,
    rows_read BIGINT,
    accepted BIGINT,
    quarantined BIGINT,
    duplicates BIGINT,
    loaded_at TIMESTAMP,
    seconds DOUBLE,
    fingerprint VARCHAR,
    reused BOOLEAN
)
"""


def record_ingest(
    con: duckdb.DuckDBPyConnection,
    extract: str,
    file: Path | str | None,
    sha256: str | None,
    counts: StageCounts,
    started: dt.datetime,
    fingerprint: str | None = None,
    reused: bool = False,
) -> None:
    """Replace the extract's row in audit.ingest_log (fingerprint and reuse: trscohort.ingest.reuse)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute(INGEST_LOG_DDL)
    con.execute("DELETE FROM audit.ingest_log WHERE extract = ?", [extract])
    finished = dt.datetime.now()
    con.execute(
        "INSERT INTO audit.ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            extract,
            str(file) if file else None,
            sha256,
            counts.read,
            counts.accepted,
            counts.quarantined,
            counts.duplicates,
            finished,
            (finished - started).total_seconds(),
            fingerprint,
            reused,
        ],
    )
