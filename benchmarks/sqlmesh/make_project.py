"""Generate the SQLMesh projects that port a chain of our models (run with the repo's venv).

The chain: intermediate.clozapine_exposure -> intermediate.monitoring_schedules ->
intermediate.monitoring_windows, read from the sources exported by export_sources.py. Each model
is rendered by our own renderer (`trscohort.models`), so the config values are already literals
and `ref('layer.name')` is already the table name; SQLMesh finds the dependencies by parsing the
table names. Writes under --out:

- `sql/<model>.sql`: the plain rendered SELECTs (for the DuckDB 1.5 build without SQLMesh);
- `full/`: a SQLMesh project whose models are kind FULL;
- `partition/`: kind INCREMENTAL_BY_PARTITION, partitioned by patient_id: a run recomputes the
  patients with rows loaded in the run's interval and replaces all of their rows;
- `unique_key/`: kind INCREMENTAL_BY_UNIQUE_KEY on the model's row key: the same patients'
  rows are merged by key, so a row whose key is no longer produced stays (stale).

The incremental variants find the patients with new rows in an INCREMENTAL_BY_TIME_RANGE model,
`refresh.touched_patients` (by the sources' `loaded_on`), and read every input of the model only
for those patients: the same template, rendered with a `ref()` that filters.

Usage: python benchmarks/sqlmesh/make_project.py --out /tmp/sqlmesh-proj
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from trscohort.config import load_config
from trscohort.models import _ENV, Model, render, transform_context

CHAIN = ("clozapine_exposure", "monitoring_schedules", "monitoring_windows")
START = "2026-11-27"  # the day the warehouse's rows were loaded (export_sources.LOAD_DAY)

# The inputs each model's patients can change through (patient-level sources and models).
TOUCHED_BY = {
    "clozapine_exposure": ("dose_periods", "clozapine_dispensings"),
    "monitoring_schedules": ("dose_periods", "clozapine_dispensings"),
    "monitoring_windows": ("dose_periods", "clozapine_dispensings", "labs"),
}

# Tables without patient_id are read whole.
WHOLE = {"audit.run_parameters"}

UNIQUE_KEYS = {
    "clozapine_exposure": "(patient_id, episode_number)",
    "monitoring_schedules": "(patient_id, schedule_number)",
    "monitoring_windows": "(patient_id, schedule_number, rule_id, window_number)",
}

CONFIG = """gateways:
  local:
    connection:
      type: duckdb
      database: {database}
      connector_config:
        memory_limit: 2GB
        threads: 1
default_gateway: local
model_defaults:
  dialect: duckdb
"""

TOUCHED_MODEL = f"""MODEL (
  name refresh.touched_patients,
  kind INCREMENTAL_BY_TIME_RANGE (time_column loaded_on),
  start '{START}',
  cron '@daily'
);
-- The patients with rows loaded in the interval, by source.
SELECT DISTINCT patient_id, 'dose_periods' AS source, loaded_on
FROM intermediate.clozapine_dose_periods
WHERE loaded_on BETWEEN @start_ds AND @end_ds
UNION ALL
SELECT DISTINCT patient_id, 'clozapine_dispensings' AS source, loaded_on
FROM staging.dispensings
WHERE is_clozapine AND loaded_on BETWEEN @start_ds AND @end_ds
UNION ALL
SELECT DISTINCT patient_id, 'labs' AS source, loaded_on
FROM staging.labs
WHERE loaded_on BETWEEN @start_ds AND @end_ds
"""


def _touched_ref(name: str):
    sources = ", ".join(f"'{s}'" for s in TOUCHED_BY[name])
    touched = (
        "SELECT patient_id FROM refresh.touched_patients "
        f"WHERE source IN ({sources}) AND loaded_on BETWEEN @start_ds AND @end_ds"
    )

    def ref(table: str) -> str:
        if table in WHOLE:
            return table
        return f"(SELECT * FROM {table} WHERE patient_id IN ({touched}))"

    return ref


def _kind(variant: str, name: str) -> str:
    if variant == "full":
        return "FULL"
    if variant == "partition":
        return "INCREMENTAL_BY_PARTITION,\n  partitioned_by patient_id"
    return f"INCREMENTAL_BY_UNIQUE_KEY (unique_key {UNIQUE_KEYS[name]})"


def model_file(variant: str, name: str, context: dict) -> str:
    model = Model("intermediate", name)
    if variant == "full":
        body = render(model, context)
    else:
        body = _ENV.get_template(model.template).render(**context, ref=_touched_ref(name))
    header = (
        f"MODEL (\n  name intermediate.{name},\n  kind {_kind(variant, name)},\n"
        f"  start '{START}',\n  cron '@daily'\n);\n"
    )
    return header + body.strip().rstrip(";") + "\n"


def write_projects(out: Path) -> None:
    context = transform_context(load_config())
    (out / "sql").mkdir(parents=True, exist_ok=True)
    for name in CHAIN:
        (out / "sql" / f"{name}.sql").write_text(render(Model("intermediate", name), context))
    for variant in ("full", "partition", "unique_key"):
        project = out / variant
        if (project / "models").exists():
            shutil.rmtree(project / "models")
        (project / "models").mkdir(parents=True)
        database = project / "warehouse.duckdb"
        (project / "config.yaml").write_text(CONFIG.format(database=database))
        for name in CHAIN:
            (project / "models" / f"{name}.sql").write_text(model_file(variant, name, context))
        if variant != "full":
            (project / "models" / "touched_patients.sql").write_text(TOUCHED_MODEL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    write_projects(parser.parse_args().out)


if __name__ == "__main__":
    main()
