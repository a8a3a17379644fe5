"""Time trscohort.synth.generate(): patients/s, rows written and peak RSS.

Usage: python benchmarks/bench_synth.py --patients 100000 [--seed 1] [--out DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from trscohort.synth import generate


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk-size", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the output folder")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_synth_"))
    started = time.perf_counter()
    manifest = generate(args.patients, args.seed, out, chunk_size=args.chunk_size)
    seconds = time.perf_counter() - started
    rows = sum(manifest["row_counts"].values())
    size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
    result = {
        "patients": args.patients,
        "seconds": round(seconds, 2),
        "patients_per_second": round(args.patients / seconds),
        "rows_written": rows,
        "rows_per_second": round(rows / seconds),
        "megabytes_written": round(size_mb, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "row_counts": manifest["row_counts"],
    }
    print(json.dumps(result, indent=2))
    if not args.keep and args.out is None:
        shutil.rmtree(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
