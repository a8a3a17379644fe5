"""Time `trscohort run` end to end on both engines (DuckDB, Spark local[N]) on one extract set.

Each engine runs in a child process of its own (`trscohort run`). The README's size table comes
from this script.

Usage: python benchmarks/bench_engines.py --input DIR [--patients N] [--engines duckdb,spark]
       [--spark-master local[2]] [--driver-memory-mb 4096] [--work DIR] [--json FILE]
       [--timeout SECONDS]

Peak memory is sampled every second over the run's whole process tree (the JVM is a child of
the run's process). With --timeout, a run still going is stopped and reported with the steps it
had finished (its `✓` progress lines; the full output is in <work>/<engine>.log).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the JVM is a grandchild)."""
    try:
        import psutil

        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total / 2**20
    except Exception:
        return 0.0


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
    log = work / f"{engine}.log"
    load_before = os.getloadavg()
    started = time.monotonic()
    peak_mb, timed_out = 0.0, False
    # A session of its own: on a time limit the whole tree (the JVM too) is stopped.
    with open(log, "w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                 env=os.environ.copy(), start_new_session=True)  # fmt: skip
        while child.poll() is None:
            peak_mb = max(peak_mb, _tree_rss_mb(child.pid))
            if args.timeout and time.monotonic() - started > args.timeout:
                timed_out = True
                os.killpg(child.pid, signal.SIGTERM)
                try:
                    child.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
                break
            time.sleep(1)
    seconds = time.monotonic() - started
    steps = [line.strip() for line in log.read_text(errors="replace").splitlines() if "✓" in line]
    if child.returncode != 0 and not timed_out:
        print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
    return {
        "engine": engine,
        "seconds": round(seconds, 1),
        "peak_rss_mb_process_tree": round(peak_mb),
        "returncode": child.returncode,
        "timed_out": timed_out,
        "steps_done": len(steps),
        "last_step": steps[-1] if steps else None,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def _commit() -> str | None:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).parent)  # fmt: skip
    return done.stdout.strip() or None


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
    parser.add_argument("--timeout", type=float, help="seconds; the run is stopped after that")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_engines_"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for engine in args.engines.split(","):
        result = run_engine(engine, args.input, work, args)
        result["patients"] = args.patients
        result["commit"] = _commit()
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
