"""Whole jobs that read the warehouse (the dashboards' pages) side by side in forked processes.

A page is a few DuckDB queries and then seconds of Python (tables protected, rows laid out), so
one page after another leaves a core idle whenever a page is in its Python. Here each job runs
in a forked child, and the child reads the warehouse through the parent: a DuckDB connection
must not be used across a fork, and a second process cannot open a file another one writes
to, so the child's `con` (`RelayedConnection`) sends each query to the parent, which runs it on
a cursor of its own connection and sends the rows back. The queries are few and their results
small next to the work done on them; the Python runs on every core.

The children are forked once and take the next job as they finish one (the costliest first,
as the caller orders them); the results come back in the order of the jobs. Where forking is
not possible or would not pay (not Linux, one core), the jobs run here, one after another, on
the connection itself. A child that dies (killed, out of memory) has its job run here instead.
"""

from __future__ import annotations

import multiprocessing
import pickle
import sys
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

import duckdb

from trscohort.publication import cores

R = TypeVar("R")

_FETCHES = ("fetchall", "fetchone", "fetchnumpy")
# Children at most: two jobs side by side fill the idle core; more cores go to each child's own
# workers (`cores.map_on_cores`), so that a long job is not left to one core.
SIDE_BY_SIDE = 2


class RelayedConnection:
    """The part of a DuckDB connection a job uses (`execute` with parameters, then `fetchall`,
    `fetchone` or `fetchnumpy`), each call run by the parent process."""

    def __init__(self, pipe: Connection) -> None:
        self._pipe = pipe

    def _ask(self, *message: Any) -> Any:
        self._pipe.send(message)
        kind, value = self._pipe.recv()
        if kind == "error":
            raise value
        return value

    def execute(self, query: str, parameters: Any = None) -> RelayedConnection:
        self._ask("execute", query, parameters)
        return self

    def fetchall(self) -> list[tuple]:
        return self._ask("fetch", "fetchall")

    def fetchone(self) -> tuple | None:
        return self._ask("fetch", "fetchone")

    def fetchnumpy(self) -> dict:
        return self._ask("fetch", "fetchnumpy")

    def cursor(self) -> RelayedConnection:
        return self


def map_relayed(
    con: duckdb.DuckDBPyConnection,
    job: Callable[[Any, int], R],
    count: int,
    order: Sequence[int] | None = None,
) -> list[R]:
    """[job(con, i) for i in range(count)], the jobs taken in `order` (costliest first) by
    forked children that read through `con`; each child may itself use
    `cores.map_on_cores` with its share of the workers."""
    order = list(range(count)) if order is None else list(order)
    n = min(cores.workers(), count, SIDE_BY_SIDE)
    if n < 2 or cores.in_worker() or not sys.platform.startswith("linux"):
        return [job(con, i) for i in range(count)]
    results: dict[int, R] = {}
    leftover = _Relay(con, job, n, order, results).run()
    for i in leftover:  # the jobs of a child that died
        results[i] = job(con, i)
    return [results[i] for i in range(count)]


class _Relay:
    """The parent's side: children forked, jobs handed out, queries answered."""

    def __init__(self, con, job, n: int, order: list[int], results: dict) -> None:
        self.con, self.job, self.n = con, job, n
        self.todo, self.results = list(order), results
        self.children: dict[Connection, tuple[Any, Any, int | None]] = {}

    def run(self) -> list[int]:
        """Runs the jobs; returns those left to run here (their child died)."""
        fork = multiprocessing.get_context("fork")
        share = max(1, cores.workers() // self.n)
        leftover: list[int] = []
        try:
            with cores.frozen_heap():  # see there: the children do not copy the parent's heap
                for _ in range(self.n):
                    self._fork(fork, share)
            while busy := [p for p, (_, _, job) in self.children.items() if job is not None]:
                for pipe in wait(busy):
                    lost = self._answer(pipe)
                    if lost is not None:
                        leftover.append(lost)
        except BaseException:
            self._stop(abort=True)
            raise
        self._stop(abort=False)
        return leftover + self.todo  # + those no child was left to take

    def _fork(self, fork, share: int) -> None:
        ours, theirs = fork.Pipe()
        child = fork.Process(target=_child, args=(theirs, self.job, share), daemon=True)
        child.start()
        theirs.close()
        self.children[ours] = (child, self.con.cursor(), None)
        self._hand_out(ours)

    def _hand_out(self, pipe: Connection) -> None:
        child, cursor, _ = self.children[pipe]
        current = self.todo.pop(0) if self.todo else None
        self.children[pipe] = (child, cursor, current)
        pipe.send(current)

    def _answer(self, pipe: Connection) -> int | None:
        """Answer one message of a child; the job it had, if it died."""
        child, cursor, current = self.children[pipe]
        try:
            message = pipe.recv()
        except (EOFError, OSError):
            self.children[pipe] = (child, cursor, None)
            return current
        kind = message[0]
        if kind == "done":
            self.results[current] = message[1]
            self._hand_out(pipe)
        elif kind == "failed":
            error, where = message[1], message[2]
            error.add_note(f"(in the forked process that ran job {current}:)\n{where}")
            raise error
        else:
            pipe.send(_run(cursor, message))
        return None

    def _stop(self, *, abort: bool) -> None:
        """Each child has been told there is no more (`_hand_out`), or is stopped (`abort`)."""
        for pipe, (child, cursor, _) in self.children.items():
            if abort:
                child.terminate()
            child.join()
            pipe.close()
            cursor.close()


def _run(cursor: duckdb.DuckDBPyConnection, message: tuple) -> tuple[str, Any]:
    """("ok", value) of a child's call on the parent's cursor, or ("error", the exception)."""
    try:
        if message[0] == "execute":
            _, query, parameters = message
            cursor.execute(query, parameters)
            return ("ok", None)
        if message[0] == "fetch" and message[1] in _FETCHES:
            return ("ok", getattr(cursor, message[1])())
        return ("error", TypeError(f"not a relayed call: {message[:2]!r}"))
    except Exception as error:  # raised again in the child, where the job can handle it
        return ("error", _picklable(error))


def _child(pipe: Connection, job: Callable[[Any, int], Any], workers: int) -> None:
    cores.set_workers(workers)
    con = RelayedConnection(pipe)
    while (index := pipe.recv()) is not None:
        try:
            outcome = ("done", job(con, index))
        except BaseException as error:
            outcome = ("failed", _picklable(error), traceback.format_exc())
        pipe.send(outcome)


def _picklable(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
