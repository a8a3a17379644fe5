"""Staging layer: typed, normalised extracts; failing rows quarantined with a reason.

For each extract the model `sql/staging/<extract>.sql` yields every raw row with its typed
columns and `_reason` (NULL when usable). Rows with a reason go to `quarantine.<extract>` as
they were read; usable rows are deduplicated (exact duplicates counted) into
`staging.<extract>`. Read = accepted + quarantined + duplicates, always.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from trscohort.config import Config
from trscohort.contract import EXTRACTS, SiteMapping
from trscohort.ingest.raw import quote_ident, quote_literal
from trscohort.models import Model, build_model
from trscohort.reference import reference_csv_paths

REFERENCE_MODELS = (
    "drugs",
    "drug_names",
    "lab_codes",
    "lab_names",
    "instrument_names",
    "site_concepts",
)


def template_context(config: Config, mapping: SiteMapping, extract: str | None = None) -> dict:
    """Values the SQL templates may use; all come from config, mapping and the contract."""
    ingest = config["ingest"]
    return {
        "date_formats": list(mapping.date_formats_for(extract or "")) + ingest["date_formats"],
        "earliest_date": ingest["earliest_plausible_date"],
        "latest_date": dt.date.today().isoformat(),
        "cpz_methods": ingest["cpz_methods"],
        "canonical": list(EXTRACTS[extract].column_names) if extract else [],
        "cfg": config,
    }


def load_site_concepts(con: duckdb.DuckDBPyConnection, mapping: SiteMapping) -> int:
    """reference.site_concepts_input: the validated site vocabulary as entered."""
    con.execute(
        "CREATE OR REPLACE TABLE reference.site_concepts_input (domain VARCHAR, "
        "source_value VARCHAR, concept VARCHAR, origin VARCHAR)"
    )
    if mapping.concepts:  # configuration entries (a site's vocabulary), never patient rows
        entries = pl.DataFrame(
            [(c.domain, c.source_value, c.concept, c.origin) for c in mapping.concepts],
            schema=["domain", "source_value", "concept", "origin"],
            orient="row",
        )
        con.register("site_concepts_entries", entries)
        con.execute("INSERT INTO reference.site_concepts_input SELECT * FROM site_concepts_entries")
        con.unregister("site_concepts_entries")
    return len(mapping.concepts)


def load_reference(
    con: duckdb.DuckDBPyConnection, config: Config, mapping: SiteMapping | None = None
) -> dict[str, int]:
    """reference.* tables: the packaged CSVs as they are, the site vocabulary, then the derived
    lookups."""
    con.execute("CREATE SCHEMA IF NOT EXISTS reference")
    counts = {}
    for name, path in sorted(reference_csv_paths().items()):
        con.execute(
            f"CREATE OR REPLACE TABLE reference.{name} AS SELECT * FROM "
            f"read_csv({quote_literal(str(path))}, header = true, auto_detect = true)"
        )
        counts[name] = con.execute(f"SELECT count(*) FROM reference.{name}").fetchone()[0]
    counts["site_concepts"] = load_site_concepts(con, mapping or SiteMapping())
    context = template_context(config, SiteMapping())
    for name in REFERENCE_MODELS:
        build_model(con, Model("reference", name), context)
    return counts


@dataclass(frozen=True)
class StageCounts:
    read: int
    accepted: int
    quarantined: int
    duplicates: int

    def as_dict(self) -> dict[str, int]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "duplicates": self.duplicates,
        }


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]


def _later_copies(con: duckdb.DuckDBPyConnection, validated: str, content: list[str]) -> str:
    """A temp table of the usable rows that repeat an earlier usable row exactly (all content
    columns equal, NULLs equal): the exact duplicates, first copy kept.

    The exact comparison (a window partitioned by every column) runs only on the rows whose
    hash of all columns occurs more than once; a hash seen once cannot be a duplicate. Issue
    17: at 100,000 patients this is 9 s instead of 21 s for the labs (6.1 M rows, 20 columns)."""
    columns = ", ".join(quote_ident(c) for c in content)
    usable = f"FROM {validated} WHERE _reason IS NULL"
    name = f"{validated}__copies"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT _row FROM ("
        f"  SELECT _row, row_number() OVER (PARTITION BY {columns} ORDER BY _row) AS _copy"
        f"  {usable} AND hash({columns}) IN ("
        f"    SELECT hash({columns}) {usable} GROUP BY 1 HAVING count(*) > 1)"
        f") WHERE _copy > 1"
    )
    return name


def stage_extract(
    con: duckdb.DuckDBPyConnection, extract: str, context: Mapping[str, Any]
) -> StageCounts:
    """raw.<extract> -> staging.<extract> + quarantine.<extract>; returns the row accounting."""
    validated = build_model(con, Model("staging", extract), context, temp=True)
    # A malformed line or a repeated header row (raw._problem) is quarantined for that alone.
    con.execute(
        f"UPDATE {validated} SET _reason = r._problem FROM raw.{extract} AS r "
        f"WHERE r._row = {validated}._row AND r._problem IS NOT NULL"
    )
    for schema in ("staging", "quarantine"):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(
        f"CREATE OR REPLACE TABLE quarantine.{extract} AS "
        f"SELECT r._row AS source_row, r.* EXCLUDE (_row, _problem), v._reason AS reason "
        f"FROM raw.{extract} AS r JOIN {validated} AS v USING (_row) "
        f"WHERE v._reason IS NOT NULL ORDER BY r._row"
    )
    content = [c for c in _columns(con, validated) if c not in ("_row", "_reason")]
    copies = _later_copies(con, validated, content)
    con.execute(
        f"CREATE OR REPLACE TABLE staging.{extract} AS "
        f"SELECT _row AS source_row, * EXCLUDE (_row, _reason) FROM {validated} "
        f"WHERE _reason IS NULL AND _row NOT IN (SELECT _row FROM {copies}) ORDER BY _row"
    )
    con.execute(f"DROP TABLE {copies}")
    read = con.execute(f"SELECT count(*) FROM raw.{extract}").fetchone()[0]
    usable = con.execute(f"SELECT count(*) FROM {validated} WHERE _reason IS NULL").fetchone()[0]
    accepted = con.execute(f"SELECT count(*) FROM staging.{extract}").fetchone()[0]
    con.execute(f"DROP TABLE {validated}")
    return StageCounts(read, accepted, read - usable, usable - accepted)
