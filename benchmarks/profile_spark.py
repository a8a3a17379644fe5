"""Profile a Spark build in one process: wall time and number of Spark jobs per step.

Counts jobs with Spark's status tracker (job ids are numbered from 0 in a session; every job
is tagged with the job group of the step that ran it). Writes one JSON line per step and a
total; used for the before/after figures in docs/spark.md.

Usage: python benchmarks/profile_spark.py --input data/sample [--work DIR] [--master local[2]]
       [--publish]  (also the data-quality suites and pages)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (the JVM): less sensitive to a busy machine than wall time."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--publish", action="store_true")
    args = parser.parse_args()

    from trscohort.config import load_config
    from trscohort.engines.spark import SparkOptions, spark_session
    from trscohort.engines.spark_run import build_spark_warehouse, check_and_publish
    from trscohort.runner import RunOptions

    work = args.work or Path(tempfile.mkdtemp(prefix="profile_spark_"))
    config = load_config()
    started = time.monotonic()
    spark = spark_session(SparkOptions(master=args.master), config)
    session_seconds = time.monotonic() - started
    sc = spark.sparkContext
    tracker = sc.statusTracker()
    steps: list[dict] = []
    state = {"t": time.monotonic(), "group": 0}
    sc.setJobGroup("step-0", "step-0")

    def jobs_in(group: str) -> int:
        return len(tracker.getJobIdsForGroup(group))

    def progress(line: str) -> None:
        now = time.monotonic()
        group = f"step-{state['group']}"
        steps.append(
            {
                "step": line.split(":")[0],
                "seconds": round(now - state["t"], 2),
                "jobs": jobs_in(group),
            }
        )
        state["t"], state["group"] = now, state["group"] + 1
        sc.setJobGroup(f"step-{state['group']}", "")

    options = RunOptions(input_dir=args.input, warehouse=work / "spark")
    build_spark_warehouse(spark, work / "spark", options, config, progress)
    if args.publish:
        (work / "out").mkdir(exist_ok=True)
        check_and_publish(work / "spark", work / "out", config)
        progress("publish")
    total = time.monotonic() - started
    jvm_cpu = _cpu_seconds(sc._gateway.proc.pid) if getattr(sc._gateway, "proc", None) else None
    for step in steps:
        print(json.dumps(step))
    print(
        json.dumps(
            {
                "total_seconds": round(total, 1),
                "session_seconds": round(session_seconds, 1),
                "jobs": sum(s["jobs"] for s in steps),
                "steps": len(steps),
                "jvm_cpu_seconds": jvm_cpu,
            }
        )
    )


if __name__ == "__main__":
    main()
