"""Smoke test of the benchmark harness (benchmarks/bench_pipeline.py) at a small size; the
large sizes are `slow`. Performance targets live in the benchmark's output, not here: these
tests check that the table is complete and its numbers are consistent with the run."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_pipeline import run_benchmark  # noqa: E402
from refresh import append_new_rows  # noqa: E402
from stages import rows_of, stage_of  # noqa: E402

from trscohort.synth import generate  # noqa: E402


def test_stage_of_groups_progress_lines():
    assert stage_of("labs: read 1,000, accepted 990, quarantined 5, duplicates 5") == "ingest labs"
    assert stage_of("checks staging.labs: 3 passed") == "checks staging"
    assert stage_of("checks marts.anc_results: 2 passed") == "checks marts"
    assert stage_of("intermediate.monitoring_windows: 12 rows") == "models intermediate"
    assert stage_of("marts.ae_rates: 4 rows") == "rates (Python)"
    assert stage_of("marts.anc_results: 4 rows") == "models marts"
    assert stage_of("dashboards: 6 pages") == "dashboards"
    assert stage_of("publish: checkpoint, privacy scan, swap") == "publish"
    assert rows_of("labs: read 1,000, accepted 990") == 1000
    assert rows_of("marts.anc_results: 12,345 rows") == 12345


def test_append_new_rows_appends_and_changes_nothing(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    lines = ["patient_id,collected_at,test_code,test_name,value,unit,reference_high"]
    lines += [f"P{i},2020-01-{1 + i % 28:02d},,ANC,{i},10^9/L," for i in range(2000)]
    (source / "labs.csv").write_text("\n".join(lines) + "\n")
    added = append_new_rows(source, tmp_path / "out", share=0.001)
    assert added == 2
    old = (source / "labs.csv").read_bytes()
    new = (tmp_path / "out" / "labs.csv").read_bytes()
    assert new.startswith(old)  # nothing changed, only appended
    extra = new[len(old) :].decode().splitlines()
    assert len(extra) == 2
    # a copied row moves one day on, so it is a new row and not an exact duplicate
    for line in extra:
        assert line not in lines


def _run(tmp_path: Path, patients: int, refresh: bool) -> dict:
    folder = tmp_path / "input"
    generate(patients, 7, folder)
    out = io.StringIO()
    progress = tmp_path / "progress.jsonl"
    report = run_benchmark(
        folder, tmp_path / "work", 1024, floors=True, refresh=refresh, out=out, progress=progress
    )
    steps = [json.loads(line) for line in progress.read_text().splitlines()]
    assert steps[-1]["stage"] == "publish"  # every step as it closed, the last one included
    assert sum(s["seconds"] for s in steps) == pytest.approx(report["total_seconds"], rel=0.05)
    json.dumps(report)  # what --json writes
    assert "ingest labs" in out.getvalue() and "peak RSS" in out.getvalue()
    return report


def _check_report(report: dict, tmp_path: Path) -> None:
    stages = {s["stage"]: s for s in report["stages"]}
    with duckdb.connect(str(tmp_path / "work" / "w.duckdb"), read_only=True) as con:
        read = dict(con.execute("SELECT extract, rows_read FROM audit.ingest_log").fetchall())
    for extract in ("patients", "labs", "prescriptions", "dispensings", "diagnoses"):
        stage = stages[f"ingest {extract}"]
        assert stage["rows"] == read[extract]
        assert stage["floor_seconds"] > 0
        # seconds are printed to 3 decimals and the ratio from the unrounded ones: it lies
        # within what the rounding of a small floor allows (0.011 s may be 0.0105..0.0115)
        low = (stage["seconds"] - 5e-4) / (stage["floor_seconds"] + 5e-4)
        high = (stage["seconds"] + 5e-4) / (stage["floor_seconds"] - 5e-4)
        assert low - 0.005 <= stage["ratio"] <= high + 0.005
    for name in ("dashboards", "models intermediate", "models marts", "checks staging"):
        assert stages[name]["seconds"] > 0
    assert sum(s["seconds"] for s in report["stages"]) == pytest.approx(
        report["total_seconds"], rel=0.05
    )
    assert 0 < max(s["rss_peak_mb"] for s in report["stages"]) <= report["peak_rss_mb"]
    assert report["ratio_to_baseline"] > 1


def test_benchmark_small_size(tmp_path):
    _check_report(_run(tmp_path, 40, refresh=False), tmp_path)


@pytest.mark.slow
def test_benchmark_refresh(tmp_path):
    report = _run(tmp_path, 200, refresh=True)
    _check_report(report, tmp_path)
    refreshed = {s["stage"]: s for s in report["refresh"]["stages"]}
    full = {s["stage"]: s for s in report["stages"]}
    added = report["refresh"]["rows_added"]
    assert added >= 6  # at least one new row per extract given
    grown = sum(refreshed[k]["rows"] - full[k]["rows"] for k in full if k.startswith("ingest "))
    assert grown == added


@pytest.mark.slow
def test_benchmark_10k(tmp_path):
    _check_report(_run(tmp_path, 10_000, refresh=False), tmp_path)
