"""Fail fast, before any asset runs, on a CDM that cannot be read (one line, exit 2)."""

from __future__ import annotations

import duckdb

from trscohort.contract import SiteMapping
from trscohort.errors import UsageError
from trscohort.omop.cdm import CdmSource, close_cdm, open_cdm


def check_cdm(source: CdmSource, mapping: SiteMapping) -> set[str]:
    """The CDM's required tables and columns are there; returns the tables it has."""
    if mapping.extracts:
        names = ", ".join(sorted(mapping.extracts))
        raise UsageError(
            f"the mapping file's 'extracts' ({names}) describe extract files and do not apply "
            "to an OMOP CDM; keep 'concepts' and 'date_format' only"
        )
    with duckdb.connect() as con:
        try:
            return open_cdm(con, source)
        finally:
            close_cdm(con, source)
