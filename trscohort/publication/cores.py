"""Independent pieces of pure-Python work (tables protected part by part) on every core.

Complementary suppression is Python and numpy on one core, while the machine has more: a
page's parts (a month, a year, a rule family) are independent, so they are worked out in
forked worker processes, each part on its own as before, and the results put back in the
order of the parts (the same decisions, whatever worker ran them). Forked, not spawned: the
work is closures over the page's counts, which a child inherits without pickling; only each
part's result travels back. Where fork is not safe (not Linux) or would not pay (one core,
little work, `TRSCOHORT_WORKERS=1`), the parts run here, one after another.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from trscohort.errors import UsageError
from trscohort.publication.suppression import one_blas_thread

T = TypeVar("T")
R = TypeVar("R")

WORKERS_ENV = "TRSCOHORT_WORKERS"
# Below this much work (about the cells to protect), forking costs more than it saves.
MIN_COST = 20_000
CHUNKS_PER_WORKER = 6  # several chunks each: a worker with a slow one is not waited for
# By default at most this many: each is a fork of the page writer, sharing its memory until written.
MAX_WORKERS = 8

_JOB: tuple[Callable[[Any], Any], Sequence[Any]] | None = None
_IN_WORKER = False
_WORKERS: int | None = None  # this process's share of the workers (`set_workers`)


def workers() -> int:
    """Worker processes to use: the cores this process may run on (at most MAX_WORKERS), or
    `TRSCOHORT_WORKERS`, or the share `set_workers` gave this process."""
    if _WORKERS is not None:
        return _WORKERS
    wanted = os.environ.get(WORKERS_ENV, "").strip()
    if wanted:
        if not wanted.isdigit() or int(wanted) < 1:
            raise UsageError(
                f"{WORKERS_ENV} must be a whole number of processes (1 or more), not {wanted!r}"
            )
        return int(wanted)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return min(cores, MAX_WORKERS)


def set_workers(n: int) -> None:
    """This process may use `n` workers from now on (a forked process given a share of the
    cores: `trscohort.publication.relay`)."""
    global _WORKERS
    _WORKERS = n


def in_worker() -> bool:
    """True in a worker of `map_on_cores`, which forks no workers of its own."""
    return _IN_WORKER


def map_on_cores(
    func: Callable[[T], R],
    items: Sequence[T],
    costs: Sequence[int],
    *,
    min_cost: int | None = None,
) -> list[R]:
    """[func(item) for item in items], the items spread over worker processes when there is
    work enough (`costs`: one estimate per item, such as its cells)."""
    n = min(workers(), len(items))
    min_cost = MIN_COST if min_cost is None else min_cost
    if n < 2 or _IN_WORKER or sum(costs) < min_cost or not sys.platform.startswith("linux"):
        return [func(item) for item in items]
    chunks = balanced_chunks(costs, n * CHUNKS_PER_WORKER)
    global _JOB
    _JOB = (func, items)
    try:
        # The objects the workers inherit are left out of their garbage collections: a
        # collection that walks them writes to every page they are on, and each write copies
        # the page into the worker.
        fork = multiprocessing.get_context("fork")
        with frozen_heap(), ProcessPoolExecutor(n, mp_context=fork) as pool:
            done = list(pool.map(_run_chunk, chunks))
    except BrokenProcessPool:  # a worker died (killed, out of memory): do it here instead
        return [func(item) for item in items]
    finally:
        _JOB = None
    results: list[Any] = [None] * len(items)
    for chunk, outputs in zip(chunks, done, strict=True):
        for i, output in zip(chunk, outputs, strict=True):
            results[i] = output
    return results


_FROZEN_DEPTH = 0


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """The objects alive now are left out of garbage collections until the outermost such
    block ends (`gc.freeze`): they are still freed when no longer used, but a collection no
    longer walks them all (0.5 s each time on the dashboards' heap at 1,000,000 patients). A
    cycle among them that becomes garbage is collected once the block ends."""
    global _FROZEN_DEPTH
    gc.freeze()
    _FROZEN_DEPTH += 1
    try:
        yield
    finally:
        _FROZEN_DEPTH -= 1
        if _FROZEN_DEPTH == 0:
            gc.unfreeze()


def balanced_chunks(costs: Sequence[int], n_chunks: int) -> list[list[int]]:
    """Item indices in at most `n_chunks` chunks of about equal cost, the costliest chunk
    first (the longest processing time first: each item to the chunk with least so far)."""
    n_chunks = max(1, min(n_chunks, len(costs)))
    chunks: list[list[int]] = [[] for _ in range(n_chunks)]
    totals = [0] * n_chunks
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        least = min(range(n_chunks), key=lambda c: (totals[c], c))
        chunks[least].append(i)
        totals[least] += costs[i]
    order = sorted(range(n_chunks), key=lambda c: (-totals[c], c))
    return [sorted(chunks[c]) for c in order if chunks[c]]


def _run_chunk(indices: list[int]) -> list[Any]:
    global _IN_WORKER
    _IN_WORKER = True  # a worker does not fork workers of its own
    assert _JOB is not None, "map_on_cores sets the job before the workers fork"
    func, items = _JOB
    with one_blas_thread():
        return [func(items[i]) for i in indices]
