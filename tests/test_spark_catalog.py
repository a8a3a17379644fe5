"""Spark's session-catalog folder: one per process, removed when the process exits, and those
of processes that died without exiting removed by the next one (issue 20: runs and tests had
left hundreds of `/tmp/trscohort-spark-catalog-*` folders behind)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trscohort.engines.spark import CATALOG_PREFIX, remove_stale_catalogs, spark_available


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return int(done.stdout)


def test_the_folders_of_dead_processes_are_removed_and_no_other(tmp_path):
    dead = tmp_path / f"{CATALOG_PREFIX}{_dead_pid()}-abc123"
    live = tmp_path / f"{CATALOG_PREFIX}{os.getppid()}-xyz"  # our parent runs
    own = tmp_path / f"{CATALOG_PREFIX}{os.getpid()}-own"
    old_style = tmp_path / f"{CATALOG_PREFIX}8kq2_x1"  # the old random names: not ours to judge
    other = tmp_path / "spark-warehouse"
    for folder in (dead, live, own, old_style, other):
        (folder / "default.db").mkdir(parents=True)
    assert remove_stale_catalogs(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (live, own, old_style, other)
    )


SESSION_TWICE = """
import os
from trscohort.config import load_config
from trscohort.engines.spark import SparkOptions, catalog_dir, spark_session
extra = {"spark.local.dir": os.environ["TMPDIR"], "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}
first = spark_session(SparkOptions(master="local[1]"), load_config(), extra)
assert first.range(3).count() == 3
second = spark_session(SparkOptions(master="local[1]"), load_config(), extra)
made = sorted(p for p in os.listdir(os.environ["TMPDIR"]) if p.startswith("trscohort-spark-catalog-"))
print(catalog_dir(), len(made), second is first)
"""


@pytest.mark.skipif(spark_available() is not None, reason=f"Spark: {spark_available()}")
def test_a_spark_process_removes_its_catalog_folder_when_it_exits(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", SESSION_TWICE], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    folder, made, same = done.stdout.split()
    assert Path(folder).parent == tmp_path and made == "1" and same == "True"  # one, reused
    assert not Path(folder).exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(CATALOG_PREFIX)] == []
    assert not (tmp_path / "spark-warehouse").exists()
