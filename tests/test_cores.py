"""Issue 16, dashboards at scale: independent parts protected in forked worker processes give
what protecting them one after another gives, in the same order, with the same reports."""

from __future__ import annotations

import gc
import os

import pytest

from trscohort.dashboards.client import SHOWN_SMALL, protect_in_parts
from trscohort.errors import UsageError
from trscohort.publication import cores
from trscohort.publication.suppression import Hierarchy, recording_exposed

K = 10


@pytest.fixture
def two_workers(monkeypatch):
    """Workers for any amount of work (the tables here are small)."""
    monkeypatch.setenv(cores.WORKERS_ENV, "2")
    monkeypatch.setattr(cores, "MIN_COST", 0)


def test_chunks_of_about_equal_cost_costliest_first_each_item_once():
    # costs 5, 1, 1, 1, 4 -> longest first: 5 | 4, then the ones to the lighter chunk
    assert cores.balanced_chunks([5, 1, 1, 1, 4], 2) == [[0, 2], [1, 3, 4]]
    assert cores.balanced_chunks([3, 3], 8) == [[0], [1]]  # never more chunks than items
    assert cores.balanced_chunks([], 4) == []


def test_the_items_run_in_workers_and_come_back_in_order(two_workers):
    offset = 100  # a closure: a forked worker has it without pickling
    results = cores.map_on_cores(lambda x: (x + offset, os.getpid()), list(range(20)), [1] * 20)
    assert [value for value, _ in results] == list(range(100, 120))
    assert os.getpid() not in {pid for _, pid in results}


def test_the_inherited_objects_are_frozen_only_while_the_workers_run(two_workers):
    """Frozen out of the collector in the workers (each collection would copy their pages),
    and given back to it here afterwards, or the parent would never free them."""
    frozen = cores.map_on_cores(lambda x: gc.get_freeze_count(), [1, 2, 3, 4], [1] * 4)
    assert min(frozen) > 0
    assert gc.get_freeze_count() == 0


def test_a_frozen_heap_is_given_back_when_the_outermost_block_ends(two_workers):
    """The dashboards freeze their heap for the whole writing, and each worker pool freezes it
    again: the pool's end must not unfreeze what the writing still wants frozen."""
    with cores.frozen_heap():
        kept = [object()]  # alive before the pool: frozen
        assert gc.get_freeze_count() > 0
        cores.map_on_cores(lambda x: x, [1, 2], [1, 1])
        assert gc.get_freeze_count() > 0
        with cores.frozen_heap():
            pass
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0 and kept


def test_one_worker_or_too_little_work_runs_here(monkeypatch):
    monkeypatch.setenv(cores.WORKERS_ENV, "1")
    assert cores.map_on_cores(lambda x: os.getpid(), [1, 2], [10**9] * 2) == [os.getpid()] * 2
    monkeypatch.setenv(cores.WORKERS_ENV, "2")
    assert cores.map_on_cores(lambda x: os.getpid(), [1, 2], [1, 1]) == [os.getpid()] * 2


def test_an_error_in_a_worker_reaches_the_caller(two_workers):
    def fail_on_three(x):
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        cores.map_on_cores(fail_on_three, [1, 2, 3, 4], [1] * 4)


def test_a_worker_that_dies_is_replaced_by_running_here(two_workers):
    def die_in_a_worker(x):
        if cores._IN_WORKER:
            os._exit(3)
        return x * 2

    assert cores.map_on_cores(die_in_a_worker, [1, 2, 3], [1] * 3) == [2, 4, 6]


def _month_parts():
    """Three months of 10 sites: January ten sites of 1 (a total of 10: every site is pinned
    to 1, nothing left to withhold), February one small count among large ones, March none."""
    sites = [f"site_{i}" for i in range(10)]
    counts = {(s, "2024-01"): 1 for s in sites}
    counts |= {(s, "2024-02"): (4 if s == "site_3" else 40 + i) for i, s in enumerate(sites)}
    counts |= {(s, "2024-03"): 20 + i for i, s in enumerate(sites)}
    return counts, [Hierarchy.flat(sites), Hierarchy.flat(["2024-01", "2024-02", "2024-03"])]


def _protected_months():
    counts, dims = _month_parts()
    with recording_exposed() as found:
        cells = protect_in_parts(
            "months", counts, dims, part_of=lambda k: k[1], small_max=K, published=lambda k: True
        )
    return cells, found


def test_parts_protected_in_workers_are_those_protected_here(two_workers, monkeypatch):
    in_workers, reported = _protected_months()
    monkeypatch.setenv(cores.WORKERS_ENV, "1")
    here, reported_here = _protected_months()
    assert in_workers == here and list(in_workers) == list(here)  # same cells, same order
    # January is exposed (ten ones under ten: each site and all sites, in the month and in
    # the part's "all months", which holds January only) and the worker's report gets home
    assert reported == reported_here == [("months 2024-01", 22)]
    assert in_workers[("site_3", "2024-02")] == (4, SHOWN_SMALL)
    assert sum(code == -2 for _, code in in_workers.values()) >= 1  # a complement withheld
    assert in_workers[("site_9", "2024-03")] == (29, 29)


def test_the_privacy_scan_reads_files_in_workers_and_finds_the_same(
    two_workers, tmp_path, monkeypatch
):
    import duckdb

    from trscohort.publication import scan

    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging")
    con.execute("CREATE TABLE staging.patients (patient_id VARCHAR, birth_date DATE)")
    con.execute("INSERT INTO staging.patients VALUES ('P0000042', DATE '1980-01-02')")
    texts = [
        "<p>week P10</p>",
        '<script type="application/json">["P0000042"]</script>',
        "1980-01-02",
    ]
    pages = []
    for i, text in enumerate(texts):
        pages.append(tmp_path / f"p{i}.html")
        pages[-1].write_text(text)
    here = scan.scan_files(con, pages)  # a few bytes: read here
    assert [(f.file.name, f.ids, f.birth_dates) for f in here] == [
        ("p1.html", 1, 0),
        ("p2.html", 0, 1),
    ]
    readers = tmp_path / "readers"
    file_tokens = scan._file_tokens

    def noting_the_reader(path):
        with readers.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return file_tokens(path)

    monkeypatch.setattr(scan, "_file_tokens", noting_the_reader)
    monkeypatch.setattr(scan, "SCAN_ON_CORES", 0)
    assert scan.scan_files(con, pages) == here
    assert str(os.getpid()) not in readers.read_text().split()  # read by the workers


def test_workers_are_the_cores_at_most_eight_unless_told(monkeypatch):
    monkeypatch.delenv(cores.WORKERS_ENV, raising=False)
    monkeypatch.setattr(cores.os, "sched_getaffinity", lambda pid: set(range(64)))
    assert cores.workers() == cores.MAX_WORKERS == 8
    monkeypatch.setattr(cores.os, "sched_getaffinity", lambda pid: {0, 1})
    assert cores.workers() == 2
    monkeypatch.setenv(cores.WORKERS_ENV, "3")
    assert cores.workers() == 3
    for wrong in ("three", "0", "-2", "1.5"):
        monkeypatch.setenv(cores.WORKERS_ENV, wrong)
        with pytest.raises(UsageError, match="TRSCOHORT_WORKERS must be a whole number"):
            cores.workers()


def test_a_wrong_worker_setting_stops_the_run_before_anything_is_built(
    monkeypatch, tmp_path, capsys
):
    from trscohort.cli import main
    from trscohort.contract import default_input_dir

    monkeypatch.setenv(cores.WORKERS_ENV, "abc")
    warehouse, out = tmp_path / "wh" / "t.duckdb", tmp_path / "out"
    args = ["run", "--input", str(default_input_dir()), "--warehouse", str(warehouse)]
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "error: TRSCOHORT_WORKERS must be a whole number of processes (1 or more), not 'abc'\n"
    )
    assert not warehouse.exists() and not out.exists()  # refused before the models, not after
