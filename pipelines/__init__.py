"""Shim: the Dagster definitions live in `trscohort.orchestration` (installed with the package)."""
