"""OMOP CDM v5.4 as an input: `trscohort run --omop PATH [--omop-schema NAME]`.

* `cdm`: where the CDM's tables are (a folder of CSV / Parquet files, or a DuckDB file) and the
  uniform temporary views `cdm_<table>` over them.
* `load`: each extract of the contract mapped from the CDM into `raw.<extract>` by one SQL
  template (`omop/sql/<extract>.sql`), so staging, quarantine, the site vocabulary and every
  model after them run unchanged.
* `concepts.csv`: the small bundled concept list used when the CDM has no vocabulary tables,
  each row with its source.
"""

from trscohort.omop.cdm import CdmExtract, CdmSource, check_source
from trscohort.omop.load import load_omop_raw

__all__ = ["CdmExtract", "CdmSource", "check_source", "load_omop_raw", "cdm_sources"]


def cdm_sources(source: CdmSource) -> dict[str, CdmExtract]:
    """Every extract of the contract, read from the CDM (the CDM path's `discover_sources`)."""
    from trscohort.contract import EXTRACTS

    return {name: CdmExtract(name, source) for name in EXTRACTS}
