"""Dagster resources: where the extracts are and how to read them (the warehouse is DuckDBResource)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from dagster import ConfigurableResource

from trscohort.config import Config, load_config
from trscohort.contract import SiteMapping, SourceFile, discover_sources, load_mapping
from trscohort.errors import UsageError


class TrsSettings(ConfigurableResource):
    """Run settings shared by every asset: input folder, mapping, config, as-of date, outputs."""

    input_dir: str = "data/sample"
    mapping_path: str | None = None
    config_path: str | None = None
    as_of: str | None = None  # ISO date; None = the latest date in the extracts
    out_dir: str = "out"

    def config(self) -> Config:
        return load_config(self.config_path)

    def mapping(self) -> SiteMapping:
        return load_mapping(self.mapping_path)

    def sources(self) -> dict[str, SourceFile]:
        allow = self.config()["ingest"]["allow_files_outside_input"]
        return discover_sources(Path(self.input_dir), self.mapping(), allow_outside=allow)

    def as_of_date(self) -> dt.date | None:
        if not self.as_of:
            return None
        try:
            return dt.date.fromisoformat(self.as_of)
        except ValueError:
            raise UsageError(f"--as-of: '{self.as_of}' is not a date (YYYY-MM-DD)") from None
