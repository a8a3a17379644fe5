"""Reuse of unchanged extracts (issue 17): a daily refresh does not ingest again what it ingested
yesterday.

Each ingested extract gets a fingerprint in audit.ingest_log: the sha256 of everything its
staging and quarantine tables are a function of. That is the file's sha256, the staging model as
rendered (config values, date formats, the plausible-date range, which ends today), the site
mapping, the reference tables' content, the ingest code and DuckDB version, and for every extract
but patients the fingerprint of the patients extract (rows of unknown patients are quarantined).
When the previous warehouse holds the same fingerprint for an extract, its raw, staging and
quarantine tables are copied over instead of read, typed and checked again; the counts in
audit.ingest_log come with them, so read = accepted + quarantined + duplicates still holds. A
fingerprint that differs in any part, or a previous warehouse that cannot be read, means a full
ingest of that extract.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from trscohort.config import Config
from trscohort.contract import SiteMapping
from trscohort.ingest.raw import quote_literal
from trscohort.models import Model, render

PREVIOUS = "previous_run"  # the alias the previous warehouse is attached as
LAYERS = ("raw", "staging", "quarantine")


@cache
def _code_digest() -> str:
    """The ingest code and the staging SQL: a new version ingests everything again."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(duckdb.__version__.encode())
    for path in sorted(
        [*root.joinpath("ingest").glob("*.py"), root / "contract.py", root / "config" / "schema.py"]
    ):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _reference_digest(con: duckdb.DuckDBPyConnection) -> str:
    """The content of every reference.* table of this run (small lookups), read in one query
    (one per table cost ~45 ms per extract on the tests' small inputs)."""
    digest = hashlib.sha256()
    tables = [
        table
        for (table,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'reference' ORDER BY table_name"
        ).fetchall()
    ]
    if not tables:
        return digest.hexdigest()
    texts = dict(
        con.execute(
            " UNION ALL ".join(
                f"SELECT {quote_literal(table)} AS name, coalesce(string_agg(CAST(t AS VARCHAR), "
                f"chr(10) ORDER BY CAST(t AS VARCHAR)), '') AS text FROM reference.{table} AS t"
                for table in tables
            )
        ).fetchall()
    )
    for table in tables:
        digest.update(f"{table}\n{texts[table]}\n".encode())
    return digest.hexdigest()


def _patients_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    try:
        row = con.execute(
            "SELECT fingerprint FROM audit.ingest_log WHERE extract = 'patients'"
        ).fetchone()
    except duckdb.CatalogException:  # no patients ingested on this connection
        return None
    return row[0] if row else None


def fingerprint(
    con: duckdb.DuckDBPyConnection,
    extract: str,
    sha256: str,
    context: Mapping[str, Any],
    mapping: SiteMapping,
    config: Config,
) -> str | None:
    """The extract's fingerprint (None: the patients it depends on had none, never reuse)."""
    patients = None
    if extract != "patients":
        patients = _patients_fingerprint(con)
        if patients is None:
            return None
    settings = {k: v for k, v in json.loads(config.to_json()).items() if k != "runtime"}
    parts = {
        "extract": extract,
        "sha256": sha256,
        "staging_sql": render(Model("staging", extract), context),
        "mapping": repr(mapping),
        "config": settings,
        "reference": _reference_digest(con),
        "code": _code_digest(),
        "patients": patients,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _previous_counts(con: duckdb.DuckDBPyConnection, extract: str, print_: str) -> tuple | None:
    try:
        return con.execute(
            f"SELECT rows_read, accepted, quarantined, duplicates FROM {PREVIOUS}.audit.ingest_log "
            "WHERE extract = ? AND fingerprint = ?",
            [extract, print_],
        ).fetchone()
    except duckdb.Error:  # an older warehouse without fingerprints
        return None


def copy_previous(
    con: duckdb.DuckDBPyConnection, previous: Path, extract: str, print_: str
) -> tuple[int, int, int, int] | None:
    """Copy the extract's raw, staging and quarantine tables from the previous warehouse when
    it ingested the same fingerprint; returns its (read, accepted, quarantined, duplicates),
    or None when the extract must be ingested."""
    if not previous.is_file():
        return None
    try:
        con.execute(f"ATTACH {quote_literal(str(previous))} AS {PREVIOUS} (READ_ONLY)")
    except duckdb.Error:  # unreadable, locked or not a DuckDB file: ingest as usual
        return None
    try:
        counts = _previous_counts(con, extract, print_)
        if counts is None:
            return None
        for layer in LAYERS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
            con.execute(
                f"CREATE OR REPLACE TABLE {layer}.{extract} AS "
                f"SELECT * FROM {PREVIOUS}.{layer}.{extract}"
            )
        return counts
    except duckdb.Error:  # a table missing from the previous warehouse: ingest as usual
        return None
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute(f"DETACH {PREVIOUS}")
