"""Ingest: extract files -> raw -> staging + quarantine, with the audit trail."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from trscohort.config import Config
from trscohort.contract import SiteMapping, SourceFile
from trscohort.ingest.audit import record_ingest
from trscohort.ingest.raw import create_empty_raw, load_raw, sha256_of
from trscohort.ingest.staging import StageCounts, stage_extract, template_context


@dataclass(frozen=True)
class IngestResult:
    extract: str
    source: SourceFile | None
    sha256: str | None
    counts: StageCounts


def ingest_extract(
    con: duckdb.DuckDBPyConnection,
    extract: str,
    source: SourceFile | None,
    mapping: SiteMapping,
    config: Config,
) -> IngestResult:
    """Load one extract end to end (staging.patients must exist first for the others)."""
    started = dt.datetime.now()
    if source is None:
        create_empty_raw(con, extract)
        sha256 = None
    else:
        sha256 = sha256_of(source.path)
        load_raw(con, source, mapping, config)
    counts = stage_extract(con, extract, template_context(config, mapping, extract))
    record_ingest(con, extract, source.path if source else None, sha256, counts, started)
    return IngestResult(extract, source, sha256, counts)
