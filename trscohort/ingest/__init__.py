"""Ingest: extract files -> raw -> staging + quarantine, with the audit trail."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from trscohort.config import Config
from trscohort.contract import SiteMapping, SourceFile
from trscohort.ingest.audit import record_ingest
from trscohort.ingest.raw import create_empty_raw, load_raw, sha256_of
from trscohort.ingest.reuse import copy_previous, fingerprint
from trscohort.ingest.staging import StageCounts, stage_extract, template_context

if TYPE_CHECKING:  # trscohort.omop builds on trscohort.ingest.raw: imported when used
    from trscohort.omop.cdm import CdmExtract


@dataclass(frozen=True)
class IngestResult:
    extract: str
    source: SourceFile | CdmExtract | None
    sha256: str | None
    counts: StageCounts
    reused: bool = False  # copied from the previous warehouse (same fingerprint)


def ingest_extract(
    con: duckdb.DuckDBPyConnection,
    extract: str,
    source: SourceFile | CdmExtract | None,
    mapping: SiteMapping,
    config: Config,
    previous: Path | None = None,
) -> IngestResult:
    """Load one extract end to end (staging.patients must exist first for the others).
    The source is an extract file, the extract mapped from an OMOP CDM, or None (not given).
    With `previous` (the last published warehouse), an extract file whose fingerprint it
    already holds is copied from it instead of ingested (trscohort.ingest.reuse)."""
    started = dt.datetime.now()
    context = template_context(config, mapping, extract)
    print_ = None
    if source is None:
        create_empty_raw(con, extract)
        sha256 = None
    elif source.format == "omop":
        from trscohort.omop.load import load_omop_raw

        _, sha256 = load_omop_raw(con, source, config)
    else:
        sha256 = sha256_of(source.path)
        print_ = fingerprint(con, extract, sha256, context, mapping, config)
        copied = copy_previous(con, previous, extract, print_) if previous and print_ else None
        if copied is not None:
            counts = StageCounts(*copied)
            record_ingest(con, extract, _describe(source), sha256, counts, started, print_, True)
            return IngestResult(extract, source, sha256, counts, reused=True)
        load_raw(con, source, mapping, config)
    counts = stage_extract(con, extract, context)
    record_ingest(con, extract, _describe(source), sha256, counts, started, print_)
    return IngestResult(extract, source, sha256, counts)


def _describe(source: SourceFile | CdmExtract | None) -> str | None:
    """What audit.ingest_log names as the extract's file."""
    if source is None:
        return None
    if source.format == "omop":
        return source.describe()
    return str(source.path)
