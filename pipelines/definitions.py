"""Shim: the code location is `trscohort.orchestration.definitions` (workspace.yaml loads it).

Kept so that `dagster dev -m pipelines.definitions` and older notes keep working.
"""

from trscohort.orchestration.definitions import build_resources, defs, full_refresh, monthly_refresh

__all__ = ["build_resources", "defs", "full_refresh", "monthly_refresh"]
