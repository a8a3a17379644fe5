"""How long the dashboards take to build, and how large each page is, at many sites.

Builds a synthetic warehouse (`--patients`, every SQL model and marts.ae_rates), spreads its
patients over `--sites` sites, then times `write_dashboards` page by page:

    .venv/bin/python benchmarks/bench_dashboards.py --patients 2000 --sites 30

Pages whose charts are drawn in the browser (funnel, monitoring, safety flags, quality
indicators, adverse events, ANC) embed protected aggregate tables; nothing is precomputed per
site x year (see README, "Dashboards"). `--warehouse PATH` times an existing
warehouse instead (opened read-only; its sites are left as they are).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.dashboard_cases import build_warehouse, spread_over_sites  # noqa: E402
from trscohort.dashboards import PAGES, write_dashboards  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--sites", type=int, default=30)
    parser.add_argument("--pages", default=",".join(p.slug for p in PAGES))
    parser.add_argument("--warehouse", type=Path, help="an existing warehouse (read-only)")
    parser.add_argument(
        "--whole", action="store_true", help="one write_dashboards of every page, as a run does"
    )
    args = parser.parse_args()
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
                published = write_dashboards(con, Path(tmp) / "all", pages=args.pages.split(","))
                print(f"{'whole step':<22} {time.perf_counter() - total:7.1f} s")
                for page in published.files:
                    print(f"{page.name:<27} {page.stat().st_size / 1e6:6.2f} MB")
                return
            for slug in args.pages.split(","):
                started = time.perf_counter()
                published = write_dashboards(con, Path(tmp) / slug, pages=[slug])
                seconds = time.perf_counter() - started
                page = published.directory / f"{slug}.html"
                print(f"{slug:<22} {seconds:7.1f} s  {page.stat().st_size / 1e6:6.2f} MB")
            print(f"{'pages one by one':<22} {time.perf_counter() - total:7.1f} s")


if __name__ == "__main__":
    main()
