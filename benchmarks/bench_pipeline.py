"""Time `trscohort run` stage by stage against floors and a read baseline measured in the same run.

Prints a table (stage, rows, seconds, floor seconds, ratio, peak RSS) and writes it as JSON.

* baseline: DuckDB reading every extract once (`SELECT count(*) FROM read_csv(...)`), the least
  any pipeline over these files must do; the whole run is reported as a multiple of it.
* stages: the run's assets grouped (ingest per extract, reference data, vocabulary audit, checks
  on staging and on marts, intermediate and mart models, the Python rate marts, dashboards, and
  `publish`: checkpoint, privacy scan and swap after the assets), each with its peak RSS.
* floors (`benchmarks/floors.py`): per extract a hand-written single DuckDB statement reading,
  typing and mapping the same file; per checks stage one aggregate statement per table; for the
  models the same SQL on one connection without orchestration.
* `--refresh`: then append 0.1 % new rows to every extract (new rows only, none changed) and time
  the daily refresh against the same warehouse (`trscohort run` reuses what is unchanged).

Usage:
    python benchmarks/bench_pipeline.py --input DIR [--memory-limit-mb 3072] [--json FILE]
    python benchmarks/bench_pipeline.py --patients 500 --json out.json   # CI smoke size
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from floors import check_floors, ingest_floors, model_floor  # noqa: E402
from stages import Stage, StageClock, group_stages  # noqa: E402

from trscohort.contract import EXTRACTS  # noqa: E402
from trscohort.runner import RunOptions, run_pipeline  # noqa: E402


def read_baseline(folder: Path) -> float:
    started = time.perf_counter()
    with duckdb.connect() as con:
        for name in EXTRACTS:
            path = folder / f"{name}.csv"
            if path.is_file():
                con.execute(f"SELECT count(*) FROM read_csv('{path}', all_varchar = true)")
    return time.perf_counter() - started


def write_config(work: Path, memory_limit_mb: int | None) -> Path | None:
    if memory_limit_mb is None:
        return None
    path = work / "bench_config.yaml"
    path.write_text(yaml.safe_dump({"runtime": {"memory_limit_mb": memory_limit_mb}}))
    return path


def timed_run(
    folder: Path, work: Path, config: Path | None, progress: Path | None = None
) -> tuple[float, StageClock]:
    options = RunOptions(
        input_dir=folder, warehouse=work / "w.duckdb", out_dir=work / "out", config_path=config
    )
    started = time.perf_counter()
    with StageClock(progress=progress) as clock, open(os.devnull, "w") as quiet:
        run_pipeline(options, stream=quiet)
        clock.close_step("publish: checkpoint, privacy scan, swap")
    total = time.perf_counter() - started
    return total, clock


def stages_of(clock: StageClock) -> list[Stage]:
    stages = group_stages(clock.steps)
    for stage in stages:
        if stage.name == "publish":
            stage.rows = None
    return stages


def add_floors(
    stages: list[Stage], folder: Path, work: Path, config: Path | None, settings: dict
) -> None:
    by_name = {s.name: s for s in stages}
    warehouse = work / "w.duckdb"
    for extract, seconds in ingest_floors(
        folder, warehouse, work / "floor.duckdb", settings
    ).items():
        stage = by_name.get(f"ingest {extract}")
        if stage:
            stage.floor_seconds = seconds
            stage.floor_what = "one statement: read + type + map + patient check"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [
            f"{s}.{t}"
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() "
                "WHERE schema_name IN ('staging', 'marts')"
            ).fetchall()
        ]
    for name, schema in (("checks staging", "staging."), ("checks marts", "marts.")):
        if name in by_name:
            chosen = [t for t in tables if t.startswith(schema)]
            by_name[name].floor_seconds = check_floors(warehouse, chosen, settings)
            by_name[name].floor_what = "one aggregate statement per table"
    seconds = model_floor(warehouse, settings, config)
    models = [by_name[n] for n in ("models intermediate", "models marts") if n in by_name]
    total = sum(s.seconds for s in models)
    for stage in models:  # the floor is shared in proportion to each layer's time
        stage.floor_seconds = seconds * stage.seconds / total if total else None
        stage.floor_what = "same SQL, one connection, no orchestration (shared by layer)"


def versions() -> dict[str, str]:
    import dagster
    import great_expectations
    import pandas
    import polars

    return {
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "dagster": dagster.__version__,
        "great_expectations": great_expectations.__version__,
        "pandas": pandas.__version__,
        "polars": polars.__version__,
    }


def machine() -> dict[str, object]:
    import os

    import psutil

    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }


def print_table(
    stages: list[Stage], total: float, baseline: float, peak: int, out=sys.stdout
) -> None:
    print(
        f"{'stage':<24}{'rows':>13}{'seconds':>9}{'floor s':>9}{'ratio':>7}{'peak RSS':>10}",
        file=out,
    )
    for s in stages:
        rows = f"{s.rows:,}" if s.rows is not None else ""
        floor = f"{s.floor_seconds:.1f}" if s.floor_seconds is not None else "-"
        ratio = f"{s.ratio:.1f}" if s.ratio is not None else "-"
        print(
            f"{s.name:<24}{rows:>13}{s.seconds:>9.1f}{floor:>9}{ratio:>7}"
            f"{s.rss_peak / 2**20:>8.0f}MB",
            file=out,
        )
    print(
        f"{'total':<24}{'':>13}{total:>9.1f}{baseline:>9.1f}{total / baseline:>7.1f}"
        f"{peak / 2**20:>8.0f}MB   (floor = read baseline)",
        file=out,
    )


def run_benchmark(
    folder: Path,
    work: Path,
    memory_limit_mb: int | None = 3072,
    floors: bool = True,
    refresh: bool = False,
    out=sys.stdout,
    progress: Path | None = None,
) -> dict:
    """Time a run on `folder` (work files under `work`), print the table to `out` and return
    the report (what `--json` writes)."""
    work.mkdir(parents=True, exist_ok=True)
    config = write_config(work, memory_limit_mb)
    settings = {"memory_limit": f"{memory_limit_mb}MB"} if memory_limit_mb else {}
    report: dict = {"input": str(folder), "machine": machine(), "versions": versions()}
    report["memory_limit_mb"] = memory_limit_mb

    baseline = read_baseline(folder)
    total, clock = timed_run(folder, work, config, progress)
    stages = stages_of(clock)
    if floors:
        add_floors(stages, folder, work, config, settings)
    print(f"input {folder}; read baseline {baseline:.1f} s", file=out)
    print_table(stages, total, baseline, clock.run_peak, out)
    report.update(
        baseline_seconds=round(baseline, 3),
        total_seconds=round(total, 3),
        ratio_to_baseline=round(total / baseline, 2),
        peak_rss_mb=round(clock.run_peak / 2**20),
        stages=[s.as_dict() for s in stages],
    )
    if refresh:
        from refresh import append_new_rows

        fresh = work / "input_refreshed"
        added = append_new_rows(folder, fresh, share=0.001)
        refresh_total, refresh_clock = timed_run(fresh, work, config)
        refresh_stages = stages_of(refresh_clock)
        print(
            f"daily refresh (+{added:,} rows, 0.1 %): {refresh_total:.1f} s "
            f"= {refresh_total / total:.1%} of the full run",
            file=out,
        )
        print_table(refresh_stages, refresh_total, baseline, refresh_clock.run_peak, out)
        report["refresh"] = {
            "rows_added": added,
            "total_seconds": round(refresh_total, 3),
            "share_of_full_run": round(refresh_total / total, 4),
            "peak_rss_mb": round(refresh_clock.run_peak / 2**20),
            "stages": [s.as_dict() for s in refresh_stages],
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--input", type=Path, help="an existing extract folder (skips synth)")
    parser.add_argument("--memory-limit-mb", type=int, default=3072)
    parser.add_argument("--json", type=Path, help="write the table here")
    parser.add_argument("--no-floors", action="store_true")
    parser.add_argument("--refresh", action="store_true", help="also time a daily refresh")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--progress", type=Path, help="append each finished step here (JSON lines)")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    work.mkdir(parents=True, exist_ok=True)
    folder = args.input
    if folder is None:
        from trscohort.synth import generate

        folder = work / "input"
        generate(args.patients, 7, folder)
    report = run_benchmark(
        folder,
        work,
        args.memory_limit_mb,
        floors=not args.no_floors,
        refresh=args.refresh,
        progress=args.progress,
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if not args.keep and args.work is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
