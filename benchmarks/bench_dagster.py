"""The Dagster path against the CLI, side by side: `trscohort run` and `dagster job execute` of
the `full_refresh` job (what a launch from the UI runs: a run process, then the job's executor)
on the same extracts, alternated so both see the same machine load.

Each command runs in a child process with its own warehouse, output folder and DAGSTER_HOME
under one temporary folder. The ratio is Dagster's wall time over the CLI's, per round and
over the medians.

Usage: python benchmarks/bench_dagster.py --input DIR [--rounds 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cli_command(input_dir: Path, work: Path) -> tuple[list[str], dict[str, str]]:
    command = [
        sys.executable, "-m", "trscohort.cli", "run", "--input", str(input_dir),
        "--warehouse", str(work / "w.duckdb"), "--out", str(work / "out"),
    ]  # fmt: skip
    return command, {}


def dagster_command(input_dir: Path, work: Path) -> tuple[list[str], dict[str, str]]:
    home = work / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).with_name("dagster")), "job", "execute",
        "-m", "trscohort.orchestration.definitions", "-j", "full_refresh",
    ]  # fmt: skip
    env = {
        "DAGSTER_HOME": str(home),
        "TRSCOHORT_INPUT": str(input_dir),
        "TRSCOHORT_WAREHOUSE": str(work / "w.duckdb"),
        "TRSCOHORT_OUT": str(work / "out"),
    }
    return command, env


def timed(command: list[str], extra_env: dict[str, str], cwd: Path) -> float:
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=cwd, env={**os.environ, **extra_env}, capture_output=True, text=True
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"{command[0]} exited {done.returncode}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    input_dir = args.input.resolve()
    rounds = []
    with tempfile.TemporaryDirectory(prefix="bench_dagster_") as tmp:
        for number in range(args.rounds):
            row = {"round": number + 1, "load_1min": round(os.getloadavg()[0], 2)}
            for name, build in (("cli", cli_command), ("dagster", dagster_command)):
                work = Path(tmp) / f"{name}{number}"
                command, env = build(input_dir, work)
                row[f"{name}_s"] = round(timed(command, env, Path(tmp)), 1)
            row["ratio"] = round(row["dagster_s"] / row["cli_s"], 2)
            rounds.append(row)
            print(json.dumps(row), flush=True)
    cli = statistics.median(r["cli_s"] for r in rounds)
    dagster = statistics.median(r["dagster_s"] for r in rounds)
    summary = {"cli_median_s": cli, "dagster_median_s": dagster, "ratio": round(dagster / cli, 2)}
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, **summary}, indent=2))


if __name__ == "__main__":
    main()
