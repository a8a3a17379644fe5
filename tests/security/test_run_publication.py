"""Issue 15, items 1, 6 and 10: outputs are built aside, scanned and swapped in with the
warehouse; a failed or killed run leaves the previous ones untouched; runs on one warehouse take
turns; files are private except the published aggregates."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import BASE_EXTRACTS, write_extracts
from tests.security.runs import (
    cli,
    config_file,
    file_digest,
    run_args,
    start_run,
    tree_digest,
    wait_for,
)
from trscohort.cli import main


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A folder with input/, a good warehouse (wh/t.duckdb) and its outputs (out/)."""
    base = tmp_path_factory.mktemp("good")
    folder = write_extracts(base / "in", BASE_EXTRACTS)
    assert main(run_args(folder, base / "wh" / "t.duckdb", base / "out")) == 0
    return base


@pytest.fixture
def previous(good, tmp_path) -> tuple[Path, Path, Path]:
    """A copy of the good run: (input folder, warehouse, out folder)."""
    for name in ("in", "wh", "out"):
        shutil.copytree(good / name, tmp_path / name)
    return tmp_path / "in", tmp_path / "wh" / "t.duckdb", tmp_path / "out"


def _mentions(folder: Path, token: str) -> list[str]:
    """Files under `folder` (hidden ones too) holding `token`; not Plotly's own bundle."""
    pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(token)}(?![A-Za-z0-9])")
    return [
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file()
        and p.name != "plotly.min.js"
        and pattern.search(p.read_text(errors="replace"))
    ]


def test_a_page_failing_the_privacy_scan_is_never_published(previous, capsys, monkeypatch):
    """Pages used to be written first and scanned after: the leaking pages stayed in
    out/dashboards/, replacing the clean ones, while the warehouse stayed the old one."""
    folder, warehouse, out = previous
    before_out, before_wh = tree_digest(out), file_digest(warehouse)
    assert _mentions(out, "P1") == []
    # A bug that puts a patient id into a step name of the funnel page.
    monkeypatch.setattr("trscohort.dashboards.funnel.step_label", lambda name: f"{name} P1")
    code, err = cli(run_args(folder, warehouse, out), capsys)
    assert code == 2
    assert "contain identifying data" in err and "funnel.html (1 patient id)" in err
    assert "P1" not in err  # the message never quotes the identifier
    after = tree_digest(out)
    # The failed run's data-quality report (scanned: no identifier), beside the published one;
    # every previous output byte for byte.
    assert after.pop("data_quality.failed.html")
    assert after == before_out
    assert file_digest(warehouse) == before_wh
    assert _mentions(out, "P1") == []
    assert sorted(p.name for p in warehouse.parent.iterdir()) == ["t.duckdb"]


def test_a_failed_run_leaves_the_previous_data_quality_report(previous, capsys):
    folder, warehouse, out = previous
    before = tree_digest(out)
    (folder / "patients.csv").write_text(BASE_EXTRACTS["patients"].strip().splitlines()[0] + "\n")
    code, err = cli(run_args(folder, warehouse, out), capsys)
    assert code == 2 and "blocking data-quality check 'has_patients' failed" in err
    failed_report = out / "data_quality.failed.html"
    assert f"see {failed_report}" in err
    after = tree_digest(out)
    assert after.pop("data_quality.failed.html")  # the failed run's report, beside the old one
    assert after == before
    # The next good run publishes its own report and removes the failed run's.
    write_extracts(folder, {"patients": BASE_EXTRACTS["patients"]})
    assert cli(run_args(folder, warehouse, out), capsys)[0] == 0
    assert not failed_report.exists()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_warehouse_private_published_aggregates_readable(good):
    assert _mode(good / "wh" / "t.duckdb") == 0o600
    out = good / "out"
    published = [p for p in out.rglob("*")]
    assert published
    for path in published:
        assert _mode(path) == (0o755 if path.is_dir() else 0o644), path
    assert _mode(out) == 0o755


def test_a_second_run_on_the_same_warehouse_fails_at_once_and_a_killed_run_is_cleaned_up(
    previous, tmp_path, capsys
):
    folder, warehouse, out = previous
    before_out, before_wh = tree_digest(out), file_digest(warehouse)
    first = start_run(run_args(folder, warehouse, out), tmp_path / "first.log")
    building = warehouse.with_name(f"t.duckdb.building-{first.pid}")
    try:
        assert wait_for(building.exists), (tmp_path / "first.log").read_text()
        # A temporary build file holds staging data: private from its first byte.
        assert _mode(building) == 0o600
        started = time.monotonic()
        code, err = cli(run_args(folder, warehouse, out), capsys)
        assert code == 2
        assert f"{warehouse} is being built by another trscohort run (pid {first.pid})" in err
        assert len(err.strip().splitlines()) == 1
        assert time.monotonic() - started < 10  # at once, not after the first run
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # The killed run changed nothing that was published...
    assert file_digest(warehouse) == before_wh
    assert {k: v for k, v in tree_digest(out).items() if not k.startswith(".")} == before_out
    leftovers = [p.name for p in warehouse.parent.iterdir() if p.name != "t.duckdb"]
    assert any(name.startswith(f"t.duckdb.building-{first.pid}") for name in leftovers)
    # ...and the next run removes what it left behind.
    assert cli(run_args(folder, warehouse, out), capsys)[0] == 0
    assert sorted(p.name for p in warehouse.parent.iterdir()) == ["t.duckdb"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_run_may_wait_for_the_lock(previous, tmp_path, capsys):
    from trscohort.runner import RunLock

    folder, warehouse, out = previous
    config = config_file(tmp_path / "c.yaml", {"runtime": {"lock_timeout_seconds": 1.5}})
    with RunLock(warehouse.with_name("t.duckdb.lock"), warehouse, 0):
        started = time.monotonic()
        code, err = cli(run_args(folder, warehouse, out, "--config", str(config)), capsys)
        waited = time.monotonic() - started
    assert code == 2 and "after waiting 1.5 s" in err
    assert 1.5 <= waited < 10
    assert not warehouse.with_name("t.duckdb.lock").exists()
    assert cli(run_args(folder, warehouse, out, "--config", str(config)), capsys)[0] == 0


def test_outputs_and_warehouse_come_from_the_same_run(previous, capsys, monkeypatch):
    """After a run that fails while publishing, the pages still describe the warehouse."""
    folder, warehouse, out = previous
    extra = BASE_EXTRACTS["patients"].rstrip() + "\n        P3,1990-01-01,F,false,north,\n"
    write_extracts(folder, {"patients": extra})
    monkeypatch.setattr("trscohort.dashboards.funnel.step_label", lambda name: f"{name} P3")
    assert cli(run_args(folder, warehouse, out), capsys)[0] == 2
    with duckdb.connect(str(warehouse), read_only=True) as con:
        sha = con.execute(
            "SELECT sha256 FROM audit.ingest_log WHERE extract = 'patients'"
        ).fetchone()[0]
    index = (out / "dashboards" / "index.html").read_text()
    assert sha in index  # the warehouse's patients file, not the failed run's
    assert os.path.getsize(warehouse) > 0
