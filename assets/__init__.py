"""Shim: the Dagster assets live in `trscohort.orchestration.assets` (installed with the package).

This folder keeps the project's layout for readers of the repository; nothing else is here.
"""

from trscohort.orchestration.assets import all_assets, all_checks

__all__ = ["all_assets", "all_checks"]
