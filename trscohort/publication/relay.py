"""Whole jobs that read the warehouse (the dashboards' pages) side by side in forked processes.

A page is a few DuckDB queries and then seconds of Python (tables protected, rows laid out), so
one page after another leaves a core idle whenever a page is in its Python. Here each job runs
in a forked child, and the child reads the warehouse through the parent: a DuckDB connection
must not be used across a fork, and a second process cannot open a file another one writes
to, so the child's `con` (`RelayedConnection`) sends each query to the parent, where a thread
per child runs it on a cursor of the parent's connection and sends the rows back. The queries
are few and their results small next to the work done on them; the Python runs on every core.

The children are forked once and take the next job as they finish one (the costliest first,
as the caller orders them); the results come back in the order of the jobs. Where forking is
not possible or would not pay (not Linux, one core, `TRSCOHORT_WORKERS=1`), the jobs run here,
one after another, on the connection itself. A child that dies (killed, out of memory) has its
job run here instead; a job that fails fails the whole map, with the child's traceback.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
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
    results, leftover = _Relay(con, job, n, order).run()
    for i in leftover:  # the jobs of a child that died
        results[i] = job(con, i)
    return [results[i] for i in range(count)]


class _Relay:
    """The parent's side: one thread per child hands it jobs and answers its queries on a
    cursor of its own (DuckDB runs a query without holding the GIL: one child's long query
    does not hold up the other child)."""

    def __init__(self, con, job, n: int, order: list[int]) -> None:
        self.con, self.job, self.n = con, job, n
        self.todo = list(order)
        self.results: dict[int, Any] = {}
        self.lost: list[int] = []  # jobs of children that died
        self.failure: BaseException | None = None
        self.lock = threading.Lock()
        self.children: list[tuple[Any, Connection, Any]] = []

    def run(self) -> tuple[dict[int, Any], list[int]]:
        """(results by job, jobs left to run here: their child died, or no child was left)."""
        fork = multiprocessing.get_context("fork")
        share = max(1, cores.workers() // self.n)
        threads: list[threading.Thread] = []
        try:
            with cores.frozen_heap():  # see there: the children do not copy the parent's heap
                for _ in range(self.n):
                    self.children.append(self._fork(fork, share))
            threads = [
                threading.Thread(target=self._serve, args=(pipe, cursor))
                for _, pipe, cursor in self.children
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        except BaseException:  # such as Ctrl-C: the children and their queries stopped
            self._stop_children()
            for _, _, cursor in self.children:
                cursor.interrupt()
            raise
        finally:
            for thread in threads:  # each ends once its child is gone
                thread.join()
            for child, pipe, cursor in self.children:
                child.join()
                pipe.close()
                cursor.close()
        if self.failure is not None:
            raise self.failure
        return self.results, self.lost + self.todo

    def _fork(self, fork, share: int) -> tuple[Any, Connection, Any]:
        ours, theirs = fork.Pipe()
        # the child closes the parent's ends (its own, and those of the children before it),
        # so that it reads the end of its pipe when the parent is gone, however it went
        parents = [ours, *(pipe for _, pipe, _ in self.children)]
        child = fork.Process(target=_child, args=(theirs, parents, self.job, share), daemon=True)
        child.start()
        theirs.close()
        return child, ours, self.con.cursor()

    def _next(self) -> int | None:
        with self.lock:
            return self.todo.pop(0) if self.todo and self.failure is None else None

    def _serve(self, pipe: Connection, cursor) -> None:
        """Jobs to one child until none is left, answering its calls in between."""
        current = None
        try:
            while (current := self._next()) is not None:
                pipe.send(current)
                while (message := pipe.recv())[0] not in ("done", "failed"):
                    pipe.send(_run(cursor, message))
                if message[0] == "failed":
                    error, where = message[1], message[2]
                    error.add_note(f"(in the forked process that ran job {current}:)\n{where}")
                    self._fail(error)
                    return
                self.results[current] = message[1]
            pipe.send(None)
        except (EOFError, OSError):  # the child died (or was stopped after a failure)
            if current is not None:
                with self.lock:
                    self.lost.append(current)
        except Exception as error:  # here, such as a result that cannot be sent: no child waits
            self._fail(error)

    def _fail(self, error: BaseException) -> None:
        with self.lock:
            if self.failure is None:
                self.failure = error
        self._stop_children()  # the other child's job is of no use now

    def _stop_children(self) -> None:
        for child, _, _ in self.children:
            if child.is_alive():
                child.kill()  # not SIGTERM: a handler the child inherited could ignore it


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


def _child(
    pipe: Connection, parents: list[Connection], job: Callable[[Any, int], Any], workers: int
) -> None:
    for end in parents:
        end.close()
    for signum in (signal.SIGINT, signal.SIGTERM):  # not the parent's handlers: stop at once
        signal.signal(signum, signal.SIG_DFL)
    cores.set_workers(workers)
    con = RelayedConnection(pipe)
    with contextlib.suppress(EOFError, OSError):  # the parent is gone, and with it the work
        while (index := pipe.recv()) is not None:
            try:
                outcome = ("done", job(con, index))
            except BaseException as error:
                outcome = ("failed", _picklable(error), traceback.format_exc())
            try:
                pipe.send(outcome)
            except (EOFError, OSError):
                raise
            except Exception as error:  # a result that cannot be pickled: nothing was sent
                pipe.send(("failed", _picklable(error), traceback.format_exc()))


def _picklable(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
