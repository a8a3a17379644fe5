"""OMOP CDM tables -> raw.<extract>, in the shape `ingest.raw.load_raw` gives an extract file.

Every extract of the contract has a mapping template `omop/sql/<extract>.sql`: one SELECT over
the CDM views (`cdm.open_cdm`), the bundled concept list and the reference tables, yielding
`_row` (the CDM row's id) and the extract's canonical columns as text. Staging, quarantine,
row accounting, the site vocabulary and every model after them then run unchanged. All of it
is set-based SQL inside DuckDB: Python only renders templates and names tables.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import jinja2

from trscohort.config import Config
from trscohort.contract import EXTRACTS
from trscohort.errors import ContractError
from trscohort.ingest.raw import quote_ident, quote_literal
from trscohort.models import SQL_DIR
from trscohort.omop.cdm import TABLES, CdmExtract, cdm_sha256, close_cdm, open_cdm

OMOP_DIR = Path(__file__).parent
OMOP_SQL_DIR = OMOP_DIR / "sql"
BUNDLED_CONCEPTS = OMOP_DIR / "concepts.csv"

# The CDM tables each extract is read from (ingest_log's sha256 covers these files).
SOURCE_TABLES: dict[str, tuple[str, ...]] = {
    "patients": ("person", "death", "care_site"),
    "prescriptions": ("drug_exposure",),
    "labs": ("measurement",),
    "diagnoses": ("condition_occurrence",),
    "dispensings": ("drug_exposure",),
    "assessments": ("measurement", "observation"),
    "observation_periods": ("observation_period",),
}

# Which id is `_row` (source_row in staging and quarantine), per extract.
ROW_IDS: dict[str, str] = {
    "patients": "person_id",
    "prescriptions": "drug_exposure_id",
    "labs": "measurement_id",
    "diagnoses": "condition_occurrence_id",
    "dispensings": "drug_exposure_id",
    "assessments": "measurement_id, or minus observation_id",
    "observation_periods": "observation_period_id",
}

_ENV = jinja2.Environment(
    loader=jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(str(OMOP_SQL_DIR)), jinja2.FileSystemLoader(str(SQL_DIR))]
    ),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def render_mapping(extract: str, config: Config) -> str:
    """The mapping SELECT of one extract (also transpiled to Spark by the portability test)."""
    return _ENV.get_template(f"{extract}.sql").render(cfg=config)


def create_concept_views(con: duckdb.DuckDBPyConnection) -> None:
    """omop_bundled (concepts.csv, verified rows), omop_concept and omop_ancestor: the CDM's
    vocabulary where it has one, the bundled concepts for the ids it lacks."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE omop_bundled AS SELECT "
        "CAST(concept_id AS BIGINT) AS concept_id, domain_id, vocabulary_id, concept_class_id, "
        "concept_code, concept_name, project_value FROM read_csv("
        f"{quote_literal(str(BUNDLED_CONCEPTS))}, header = true, all_varchar = true) "
        "WHERE status = 'verified'"
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP VIEW omop_concept AS
        SELECT concept_id, concept_name, domain_id, vocabulary_id, concept_class_id, concept_code
        FROM cdm_concept
        UNION ALL
        SELECT b.concept_id, b.concept_name, b.domain_id, b.vocabulary_id, b.concept_class_id,
               b.concept_code
        FROM omop_bundled AS b
        WHERE NOT EXISTS (SELECT 1 FROM cdm_concept AS c WHERE c.concept_id = b.concept_id)
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP VIEW omop_ancestor AS
        SELECT ancestor_concept_id, descendant_concept_id, min_levels_of_separation
        FROM cdm_concept_ancestor
        UNION ALL
        SELECT concept_id, concept_id, 0 FROM omop_bundled
        """
    )


def _drop_concept_views(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DROP VIEW IF EXISTS omop_ancestor")
    con.execute("DROP VIEW IF EXISTS omop_concept")
    con.execute("DROP TABLE IF EXISTS omop_bundled")


def _check_rows(con: duckdb.DuckDBPyConnection, extract: str) -> None:
    """`_row` is the CDM row's primary key: NULL or repeated ids would break the row accounting."""
    total, distinct, nulls = con.execute(
        f"SELECT count(*), count(DISTINCT _row), count(*) - count(_row) FROM raw.{extract}"
    ).fetchone()
    if nulls or distinct != total:
        problem = f"{nulls:,} without an id" if nulls else f"{total - distinct:,} ids repeated"
        raise ContractError(
            f"CDM rows for {extract}: {ROW_IDS[extract]} must be unique and present "
            f"({problem}); a CDM's primary keys are unique"
        )


def load_omop_raw(
    con: duckdb.DuckDBPyConnection, source: CdmExtract, config: Config
) -> tuple[int, str]:
    """Create raw.<extract> from the CDM; returns (rows, sha256 of the CDM tables read)."""
    extract = source.extract
    columns = EXTRACTS[extract].column_names
    select = ", ".join(
        ["CAST(_row AS BIGINT) AS _row"]
        + [f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in columns]
        + ["CAST(NULL AS VARCHAR) AS _problem"]
    )
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    open_cdm(con, source.cdm)
    try:
        create_concept_views(con)
        mapping = render_mapping(extract, config)
        try:
            con.execute(
                f"CREATE OR REPLACE TABLE raw.{extract} AS SELECT {select} FROM ({mapping}) "
                "ORDER BY _row"
            )
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0]
            raise ContractError(f"{source.cdm.path}: the CDM cannot be mapped ({first})") from None
    finally:
        _drop_concept_views(con)
        close_cdm(con, source.cdm)
    _check_rows(con, extract)
    rows = con.execute(f"SELECT count(*) FROM raw.{extract}").fetchone()[0]
    tables = tuple(t for t in SOURCE_TABLES[extract] if t in TABLES)
    return rows, cdm_sha256(source.cdm, tables)
