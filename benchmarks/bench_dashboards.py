"""How long the dashboards take to build, and how large each page is, at many sites.

Builds a synthetic warehouse (`--patients`, every SQL model and marts.ae_rates), spreads its
patients over `--sites` sites, then times `write_dashboards` page by page:

    .venv/bin/python benchmarks/bench_dashboards.py --patients 2000 --sites 30

Pages whose charts are drawn in the browser (funnel, monitoring, safety flags, quality
indicators, adverse events, ANC) embed protected aggregate tables; nothing is precomputed per
site x year (see README, "Dashboards"). `--warehouse PATH` times an existing warehouse instead
(opened read-only; its sites are left as they are; spread a copy with
`tests.dashboard_cases.spread_over_sites` first).

Before / after on the same warehouse and machine load (issue 16, "Dashboards at scale"):

    git archive <base commit> | tar -x -C /tmp/base-src
    .venv/bin/python benchmarks/bench_dashboards.py --warehouse W --whole --against /tmp/base-src

runs the baseline code (`--against`, a source tree of the package) and this tree alternately,
`--repeat` times each, in fresh processes, and prints each run, the median and the best time of
each and their ratios, with the load average before and after. `--profile FILE` writes a
cProfile of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--sites", type=int, default=30)
    parser.add_argument("--pages", default="")
    parser.add_argument("--warehouse", type=Path, help="an existing warehouse (read-only)")
    parser.add_argument(
        "--whole", action="store_true", help="one write_dashboards of every page, as a run does"
    )
    parser.add_argument("--code", type=Path, help="import trscohort from this source tree")
    parser.add_argument("--against", type=Path, help="baseline source tree to compare with")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (with --against)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the run here")
    return parser.parse_args()


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (1 min) {five:.1f} (5 min), {os.cpu_count()} cores"


def _timed(args: argparse.Namespace) -> None:
    """One measurement, in this process, with the code of `--code` (default: this tree)."""
    sys.path.insert(0, str(args.code.resolve() if args.code else HERE.parents[1]))
    import duckdb

    import trscohort
    from tests.dashboard_cases import build_warehouse, spread_over_sites
    from trscohort.dashboards import PAGES, write_dashboards

    print(f"code: {Path(trscohort.__file__).parents[1]}")
    slugs = args.pages.split(",") if args.pages else [p.slug for p in PAGES]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        if args.warehouse:
            warehouse = args.warehouse
        else:
            warehouse = build_warehouse(Path(tmp) / "w", patients=args.patients)
            spread_over_sites(warehouse, args.sites)
            print(
                f"warehouse: {args.patients} patients, {args.sites} sites, "
                f"{time.perf_counter() - started:.1f} s"
            )
        total = time.perf_counter()
        with duckdb.connect(str(warehouse), read_only=True) as con:
            if args.whole:
                published = write_dashboards(con, Path(tmp) / "all", pages=slugs)
                print(f"{'whole step':<22} {time.perf_counter() - total:7.1f} s")
                for page in published.files:
                    print(f"{page.name:<27} {page.stat().st_size / 1e6:6.2f} MB")
                return
            for slug in slugs:
                started = time.perf_counter()
                published = write_dashboards(con, Path(tmp) / slug, pages=[slug])
                seconds = time.perf_counter() - started
                page = published.directory / f"{slug}.html"
                print(f"{slug:<22} {seconds:7.1f} s  {page.stat().st_size / 1e6:6.2f} MB")
            print(f"{'pages one by one':<22} {time.perf_counter() - total:7.1f} s")


def _run(code: Path, args: argparse.Namespace) -> dict[str, float]:
    """{line label: seconds} of one measurement in a fresh process with `code`."""
    command = [sys.executable, str(HERE), "--code", str(code)]
    if args.warehouse:
        command += ["--warehouse", str(args.warehouse)]
    else:
        command += ["--patients", str(args.patients), "--sites", str(args.sites)]
    command += ["--whole"] if args.whole else []
    command += ["--pages", args.pages] if args.pages else []
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    times = {}
    for line in out.splitlines():
        label, _, rest = line.partition("  ")
        fields = rest.split()
        if len(fields) >= 2 and fields[1] == "s":
            times[label.strip()] = float(fields[0])
    return times


def _compare(args: argparse.Namespace) -> None:
    """Baseline and this tree alternately (the same warehouse, back to back): each run's time,
    then the median and the best of each, and their ratios (this machine's speed drifts by
    10-20 % over minutes: one pair of runs says little)."""
    print(f"before: {_load()}")
    runs: dict[str, dict[str, list[float]]] = {"baseline": {}, "this tree": {}}
    for _ in range(args.repeat):
        for name, code in (("baseline", args.against), ("this tree", HERE.parents[1])):
            times = _run(code, args)
            for label, seconds in times.items():
                runs[name].setdefault(label, []).append(seconds)
            print(f"  {name}: {times}  ({_load()})", flush=True)
    print(f"after: {_load()}")
    print(f"{'':<22} {'baseline':>17} {'this tree':>17} {'ratio':>11}")
    print(f"{'':<22} {'median':>8} {'best':>8} {'median':>8} {'best':>8} {'median':>5} {'best':>5}")
    for label, before in runs["baseline"].items():
        after = runs["this tree"].get(label)
        if after:
            b, a = statistics.median(before), statistics.median(after)
            print(
                f"{label:<22} {b:7.1f}s {min(before):7.1f}s {a:7.1f}s {min(after):7.1f}s "
                f"{b / a:4.2f}x {min(before) / min(after):4.2f}x"
            )


def main() -> None:
    args = _parse()
    if args.against:
        _compare(args)
    elif args.profile:
        import cProfile
        import pstats

        cProfile.runctx("_timed(args)", globals(), {"args": args}, str(args.profile))
        pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(25)
    else:
        _timed(args)


if __name__ == "__main__":
    main()
