"""The Dagster layer: assets, asset checks, resources and the code location's Definitions.

The only part of trscohort that imports Dagster: the domain core (rules, SQL models, ingest,
publication) never does (tests/test_layout.py), and each asset here is a thin wrapper over one
core function. The repository's top-level `assets/` and `pipelines/` folders are shims over this
package (they are not installed), so a wheel installs nothing but `trscohort`.
"""
