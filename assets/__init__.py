"""Dagster assets: thin wrappers over the trscohort domain core."""

from .ingest import ingest_assets
from .transform import transform_assets

all_assets = [*ingest_assets, *transform_assets]
