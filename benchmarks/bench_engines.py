"""Time `trscohort run` end to end on both engines (DuckDB, Spark local[N]) on one extract set.

Each engine runs in a child process of its own (`trscohort run`), so the peak memory reported is
that run's (with Spark, the JVM's too: the children of the child). The README's size table comes
from this script.

Usage: python benchmarks/bench_engines.py --input DIR [--patients N] [--engines duckdb,spark]
       [--spark-master local[2]] [--driver-memory-mb 4096] [--work DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_engine(engine: str, input_dir: Path, work: Path, args: argparse.Namespace) -> dict:
    warehouse = work / ("w.duckdb" if engine == "duckdb" else "spark")
    command = [
        sys.executable, "-m", "trscohort.cli", "run", "--engine", engine,
        "--input", str(input_dir), "--warehouse", str(warehouse), "--out", str(work / f"out-{engine}"),
    ]  # fmt: skip
    if engine == "spark":
        command += ["--spark-master", args.spark_master]
        config = work / "spark.yaml"
        config.write_text(
            f"spark:\n  driver_memory_mb: {args.driver_memory_mb}\n"
            f"  shuffle_partitions: {args.shuffle_partitions}\n"
        )
        command += ["--config", str(config)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    seconds = time.monotonic() - started
    peak_mb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
    return {
        "engine": engine,
        "seconds": round(seconds, 1),
        "peak_rss_mb_largest_child": round(peak_mb),
        "returncode": done.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--patients", type=int, help="label for the report")
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--driver-memory-mb", type=int, default=4096)
    parser.add_argument("--shuffle-partitions", type=int, default=4)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_engines_"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for engine in args.engines.split(","):
        result = run_engine(engine, args.input, work, args)
        result["patients"] = args.patients
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
