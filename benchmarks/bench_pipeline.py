"""Time `trscohort run` end to end on a synthetic extract set, against a same-run baseline.

The baseline is DuckDB reading every extract file once (`SELECT count(*) FROM read_csv(...)`):
the least any pipeline over these files must do. The pipeline's time is reported as a multiple
of it, with the time each asset took (from the progress lines, in order of completion).

Usage: python benchmarks/bench_pipeline.py --patients 1000000 [--input DIR] [--keep]
"""

from __future__ import annotations

import argparse
import io
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from trscohort.contract import EXTRACTS
from trscohort.runner import RunOptions, run_pipeline
from trscohort.synth import generate


class TimedLines(io.TextIOBase):
    """A stream that stamps each progress line with the time it arrived."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.lines.append((time.monotonic(), line.strip()))
        return len(text)


def read_baseline(folder: Path) -> float:
    started = time.monotonic()
    with duckdb.connect() as con:
        for name in EXTRACTS:
            path = folder / f"{name}.csv"
            if path.is_file():
                con.execute(f"SELECT count(*) FROM read_csv('{path}', all_varchar = true)")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--input", type=Path, help="an existing extract folder (skips synth)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    folder = args.input
    if folder is None:
        folder = work / "input"
        started = time.monotonic()
        generate(args.patients, 7, folder)
        print(f"synth {args.patients:,} patients: {time.monotonic() - started:.1f} s")
    labs = sum(1 for _ in (folder / "labs.csv").open()) - 1
    print(f"lab rows: {labs:,}")

    baseline = read_baseline(folder)
    print(f"baseline (DuckDB reads every extract once): {baseline:.1f} s")

    stream = TimedLines()
    started = time.monotonic()
    run_pipeline(
        RunOptions(input_dir=folder, warehouse=work / "w.duckdb", out_dir=work / "out"),
        stream=stream,
    )
    total = time.monotonic() - started
    print(f"trscohort run: {total:.1f} s = {total / baseline:.1f} x baseline")
    previous = started
    slowest = []
    for stamp, line in stream.lines:
        slowest.append((stamp - previous, line))
        previous = stamp
    print("slowest steps (seconds since the previous step finished):")
    for seconds, line in sorted(slowest, reverse=True)[:12]:
        print(f"  {seconds:8.1f}  {line[:90]}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(
        f"peak RSS of this process: {peak:.1f} GB; warehouse {(work / 'w.duckdb').stat().st_size / 1e9:.2f} GB"
    )
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
