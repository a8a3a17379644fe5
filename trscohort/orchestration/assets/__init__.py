"""Dagster assets: thin wrappers over the trscohort domain core."""

from .checks import build_checks
from .dashboards import dashboard_assets
from .ingest import ingest_assets
from .rates import rate_assets
from .transform import transform_assets

all_assets = [*ingest_assets, *transform_assets, *dashboard_assets, *rate_assets]

# Data-quality asset checks built from expectations/ (blocking or warning).
all_checks = build_checks(all_assets)
