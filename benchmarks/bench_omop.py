"""Time the OMOP CDM mapping (CDM -> raw -> staging, per extract) on a scaled copy of the test CDM.

The hand-built CDM of tests/omop_cases.py (3 persons, 10 drug exposures, 10 measurements, ...)
is copied `--copies` times with offset ids, into a DuckDB file with its vocabulary; then every
extract is ingested from it as `trscohort run --omop` does. Prints rows and seconds per extract.

    python benchmarks/bench_omop.py --copies 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.omop_cases import SITE_MAPPING, build_cdm  # noqa: E402
from trscohort.config import load_config  # noqa: E402
from trscohort.contract import EXTRACT_ORDER, load_mapping  # noqa: E402
from trscohort.ingest import ingest_extract  # noqa: E402
from trscohort.ingest.staging import load_reference  # noqa: E402
from trscohort.omop import CdmSource, cdm_sources  # noqa: E402

# table -> (id columns offset by copy x 1000, person column)
SCALED = {
    "person": ("person_id",),
    "observation_period": ("observation_period_id", "person_id"),
    "drug_exposure": ("drug_exposure_id", "person_id"),
    "measurement": ("measurement_id", "person_id"),
    "observation": ("observation_id", "person_id"),
    "condition_occurrence": ("condition_occurrence_id", "person_id"),
    "death": ("person_id",),
}


def scaled_cdm(path: Path, copies: int) -> None:
    with duckdb.connect(str(path)) as con:
        build_cdm(con, "seed")
        con.execute("CREATE SCHEMA cdm")
        for table in ("concept", "concept_ancestor", "drug_strength", "care_site"):
            con.execute(f"CREATE TABLE cdm.{table} AS FROM seed.{table}")
        for table, ids in SCALED.items():
            columns = [r[0] for r in con.execute(f"DESCRIBE seed.{table}").fetchall()]
            select = ", ".join(
                f"CAST({c} + c.i * 1000 AS BIGINT) AS {c}" if c in ids else c for c in columns
            )
            con.execute(
                f"CREATE TABLE cdm.{table} AS SELECT {select} FROM seed.{table} "
                f"CROSS JOIN range({copies}) AS c(i)"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-omop-") as scratch:
        cdm = Path(scratch) / "omop54.duckdb"
        started = time.monotonic()
        scaled_cdm(cdm, args.copies)
        print(f"scaled CDM ({args.copies:,} copies) built in {time.monotonic() - started:.1f} s")
        mapping_path = Path(scratch) / "mapping.yaml"
        mapping_path.write_text(SITE_MAPPING)
        config, mapping = load_config(), load_mapping(mapping_path)
        con = duckdb.connect(str(Path(scratch) / "warehouse.duckdb"))
        load_reference(con, config, mapping)
        sources = cdm_sources(CdmSource(cdm, "cdm"))
        total = 0.0
        for extract in EXTRACT_ORDER:
            started = time.monotonic()
            result = ingest_extract(con, extract, sources[extract], mapping, config)
            seconds = time.monotonic() - started
            total += seconds
            print(f"  {extract:<22}{result.counts.read:>12,} rows {seconds:>8.1f} s")
        print(f"all extracts {total:.1f} s")
        con.close()


if __name__ == "__main__":
    main()
