"""Dagster resources: where the extracts are and how to read them (the warehouse is DuckDBResource)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from dagster import ConfigurableResource

from trscohort.config import Config, load_config
from trscohort.contract import SiteMapping, SourceFile, discover_sources, load_mapping
from trscohort.errors import UsageError
from trscohort.omop import CdmExtract, CdmSource, cdm_sources


class TrsSettings(ConfigurableResource):
    """Run settings shared by every asset: input folder, mapping, config, as-of date, outputs."""

    input_dir: str = "data/sample"
    mapping_path: str | None = None
    config_path: str | None = None
    as_of: str | None = None  # ISO date; None = the latest date in the extracts
    out_dir: str = "out"
    # An OMOP CDM instead of the input folder: a folder of CDM tables or a DuckDB file.
    omop_path: str | None = None
    omop_schema: str | None = None
    # The last published warehouse: unchanged extracts are copied from it (trscohort run sets
    # it; the UI writes its warehouse in place and ingests everything).
    previous_warehouse: str | None = None

    def previous(self) -> Path | None:
        if not self.previous_warehouse or not self.config()["ingest"]["reuse_unchanged_extracts"]:
            return None
        return Path(self.previous_warehouse)

    def config(self) -> Config:
        return load_config(self.config_path)

    def mapping(self) -> SiteMapping:
        return load_mapping(self.mapping_path)

    def cdm(self) -> CdmSource | None:
        return CdmSource(Path(self.omop_path), self.omop_schema) if self.omop_path else None

    def input_label(self) -> str:
        """What audit.run_parameters records as the input."""
        cdm = self.cdm()
        return cdm.label() if cdm else self.input_dir

    def sources(self) -> dict[str, SourceFile | CdmExtract]:
        cdm = self.cdm()
        if cdm is not None:
            return cdm_sources(cdm)
        allow = self.config()["ingest"]["allow_files_outside_input"]
        return discover_sources(Path(self.input_dir), self.mapping(), allow_outside=allow)

    def as_of_date(self) -> dt.date | None:
        if not self.as_of:
            return None
        try:
            return dt.date.fromisoformat(self.as_of)
        except ValueError:
            raise UsageError(f"--as-of: '{self.as_of}' is not a date (YYYY-MM-DD)") from None
