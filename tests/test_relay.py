"""Issue 16, dashboards at scale: jobs that read the warehouse run side by side in forked
processes whose queries the parent runs (`trscohort.publication.relay`), and give what running
them here, one after another, gives."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from trscohort.publication import cores, relay
from trscohort.publication.relay import map_relayed


@pytest.fixture
def workers(monkeypatch):
    def use(n: int) -> None:
        monkeypatch.setenv(cores.WORKERS_ENV, str(n))

    return use


@pytest.fixture
def warehouse(tmp_path):
    """A file opened for writing, as a run's own connection is: no other process may open it."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.t AS SELECT range AS i, range * 10 AS v FROM range(6)")
        yield con


def _reads(con, i: int) -> tuple:
    """A job using every call a page makes: execute with parameters, then each fetch."""
    rows = con.execute("SELECT i, v FROM marts.t WHERE i >= ? ORDER BY i", [i]).fetchall()
    (total,) = con.execute("SELECT sum(v) FROM marts.t WHERE i <= ?", [i]).fetchone()
    columns = con.execute("SELECT v FROM marts.t WHERE i < $n ORDER BY i", {"n": i}).fetchnumpy()
    return rows, total, columns["v"].tolist(), os.getpid()


def test_each_job_reads_through_the_parent_and_the_results_come_back_in_order(warehouse, workers):
    workers(2)
    relayed = map_relayed(warehouse, _reads, 6, order=[5, 4, 3, 2, 1, 0])
    workers(1)
    here = map_relayed(warehouse, _reads, 6)
    assert [r[:3] for r in relayed] == [r[:3] for r in here]
    assert relayed[2][:3] == ([(2, 20), (3, 30), (4, 40), (5, 50)], 30, [0, 10])
    assert {r[3] for r in here} == {os.getpid()}  # one worker: here, on the connection
    assert len({r[3] for r in relayed}) == 2 and os.getpid() not in {r[3] for r in relayed}
    assert not multiprocessing.active_children()


def test_a_view_of_an_in_memory_database_is_read_too(workers):
    """The Spark run's connection: views over Parquet in an in-memory DuckDB."""
    workers(2)
    with duckdb.connect() as con:
        con.execute("CREATE VIEW v AS SELECT 7 AS seven")
        assert map_relayed(
            con, lambda c, i: c.execute("SELECT seven + ? FROM v", [i]).fetchone(), 2
        ) == [
            (7,),
            (8,),
        ]


def test_fetchnumpy_keeps_the_types(warehouse, workers):
    workers(2)
    (got, _) = map_relayed(
        warehouse,
        lambda c, i: c.execute("SELECT CAST(v AS BIGINT) AS v FROM marts.t").fetchnumpy(),
        2,
    )
    assert got["v"].dtype == np.int64 and got["v"].tolist() == [0, 10, 20, 30, 40, 50]


def test_a_query_error_is_raised_in_the_job_which_may_handle_it(warehouse, workers):
    workers(2)

    def job(con, i):
        try:
            con.execute("SELECT * FROM marts.missing").fetchall()
        except duckdb.CatalogException as error:
            return f"{i}: {type(error).__name__}"
        return "read"

    assert map_relayed(warehouse, job, 2) == ["0: CatalogException", "1: CatalogException"]


def test_a_failed_job_is_raised_here_with_the_childs_traceback_and_no_child_is_left(
    warehouse, workers
):
    workers(2)

    def job(con, i):
        if i == 1:
            raise ValueError("no such page")
        return i

    with pytest.raises(ValueError, match="no such page") as raised:
        map_relayed(warehouse, job, 3)
    assert any("raise ValueError" in note for note in raised.value.__notes__)
    assert not multiprocessing.active_children()


def test_a_result_that_cannot_be_sent_fails_the_run_either_way(warehouse, workers, monkeypatch):
    """Neither side waits for ever for a message that could not be pickled."""
    workers(2)
    with pytest.raises(Exception, match="pickle"):
        map_relayed(warehouse, lambda con, i: lambda: i, 2)  # the child's result
    assert not multiprocessing.active_children()
    monkeypatch.setattr(relay, "_run", lambda cursor, message: ("ok", lambda: None))
    with pytest.raises(Exception, match="pickle"):  # the parent's answer to a query
        map_relayed(warehouse, lambda con, i: con.execute("SELECT 1").fetchall(), 2)
    assert not multiprocessing.active_children()


STOPPED_DESPITE_A_HANDLER = """
import os, signal, duckdb
from trscohort.publication import cores, relay
signal.signal(signal.SIGTERM, lambda *args: None)  # a handler that ignores SIGTERM, forked too
os.environ[cores.WORKERS_ENV] = "2"
relay._run = lambda cursor, message: ("ok", lambda: None)  # an answer that cannot be sent
try:
    relay.map_relayed(duckdb.connect(), lambda con, i: con.execute("SELECT 1").fetchall(), 2)
except Exception as error:
    print("raised", type(error).__name__)
"""


def test_children_are_stopped_even_where_the_parent_ignores_sigterm():
    """A test worker (or an application) with a SIGTERM handler: its forked children inherit
    it, so after a failure they are killed, and run with the default handlers besides."""
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_DESPITE_A_HANDLER],
        capture_output=True,
        text=True,
        timeout=120,  # a child left waiting would hang the map for ever
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("raised"), done.stdout + done.stderr


LEFT_BY_ITS_PARENT = """
import os, sys, time, duckdb
from pathlib import Path
from trscohort.publication import cores, relay
os.environ[cores.WORKERS_ENV] = "2"
relay._run = lambda cursor, message: time.sleep(3600)  # the parent never answers

def job(con, i):
    Path(sys.argv[1], str(os.getpid())).touch()
    return con.execute("SELECT 1").fetchall()

relay.map_relayed(duckdb.connect(), job, 2)
"""


def test_the_children_end_when_their_parent_is_killed(tmp_path):
    """Killed (out of memory, SIGKILL) while its children wait for an answer: each child
    reads the end of its pipe and exits, instead of waiting for ever."""
    parent = subprocess.Popen([sys.executable, "-c", LEFT_BY_ITS_PARENT, str(tmp_path)])
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        children = [int(p.name) for p in tmp_path.iterdir()]
        assert len(children) == 2, "both children started their job"
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 30
    while any(_running(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in children if _running(pid)]


def _running(pid: int) -> bool:
    """True while process `pid` exists and is not a zombie (an orphan's is reaped by init)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_an_interrupt_stops_the_children_at_once(warehouse, workers, monkeypatch):
    """Ctrl-C while the children work: they are stopped, not waited for."""
    workers(2)
    join, interrupted = threading.Thread.join, []

    def interrupt_once(thread, *args, **kwargs):
        if not interrupted:
            interrupted.append(thread)
            raise KeyboardInterrupt
        return join(thread, *args, **kwargs)

    monkeypatch.setattr(threading.Thread, "join", interrupt_once)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        map_relayed(warehouse, lambda con, i: time.sleep(60), 2)
    assert time.monotonic() - started < 30  # the minute's jobs were not waited for
    assert not multiprocessing.active_children()


def test_the_job_of_a_child_that_dies_is_run_here(warehouse, workers):
    workers(2)
    parent = os.getpid()

    def job(con, i):
        if i == 0 and os.getpid() != parent:
            os._exit(3)  # killed, out of memory: the child is gone without a word
        return con.execute("SELECT v FROM marts.t WHERE i = ?", [i]).fetchone()[0], os.getpid()

    results = map_relayed(warehouse, job, 4)
    assert [v for v, _ in results] == [0, 10, 20, 30]
    assert results[0][1] == parent  # run here, on the connection itself
    assert not multiprocessing.active_children()


@pytest.mark.parametrize(("cores_given", "each_child"), [(2, 1), (4, 2), (5, 2)])
def test_each_child_gets_its_share_of_the_workers(warehouse, workers, cores_given, each_child):
    """Two children side by side, each with half the workers for its own map_on_cores (one:
    it protects its tables itself)."""
    workers(cores_given)
    assert map_relayed(warehouse, lambda c, i: cores.workers(), 3) == [each_child] * 3


def test_a_worker_of_map_on_cores_runs_the_jobs_itself(warehouse, workers, monkeypatch):
    workers(2)
    monkeypatch.setattr(cores, "_IN_WORKER", True)
    assert {pid for _, pid in map_relayed(warehouse, lambda c, i: (i, os.getpid()), 3)} == {
        os.getpid()
    }
