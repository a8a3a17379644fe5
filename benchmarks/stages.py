"""Stage clock for `bench_pipeline.py`: which stage each progress line closes, how long it took,
how many rows it handled and the peak memory while it ran.

`trscohort run` materialises its assets one after the other in-process and reports one line per
finished asset (the `trscohort.progress` logger). The time between two lines is the later
asset's; a sampler thread reads the process's resident memory every 20 ms so each stage also gets
its peak RSS (DuckDB runs inside this process, so its buffers count).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PROGRESS = logging.getLogger("trscohort.progress")
PYTHON_MARTS = ("marts.ae_rates", "marts.ae_rates_grace_sensitivity", "marts.ae_competing_risks")

_ROWS = re.compile(r"([0-9][0-9,]*) rows")
_READ = re.compile(r"read ([0-9][0-9,]*)")


@dataclass
class Step:
    """One progress line: the asset it closes, its seconds, rows and peak RSS."""

    line: str
    seconds: float
    rss_peak: int
    rows: int | None = None

    @property
    def stage(self) -> str:
        return stage_of(self.line)


def stage_of(line: str) -> str:
    """The stage a progress line belongs to (the benchmark's table groups assets by stage)."""
    if line.startswith("reference data"):
        return "reference data"
    if line.startswith("checks "):
        table = line.split()[1]
        return "checks staging" if table.startswith("staging.") else "checks marts"
    if line.startswith("unmapped source values"):
        return "vocabulary audit"
    if line.startswith("as-of date"):
        return "run parameters"
    if line.startswith("publish"):
        return "publish"
    if line.startswith("dashboards"):
        return "dashboards"
    head = line.split(":", 1)[0]
    if head in PYTHON_MARTS:
        return "rates (Python)"
    if head.startswith("intermediate."):
        return "models intermediate"
    if head.startswith("marts."):
        return "models marts"
    if " " not in head and ": read " in line:
        return f"ingest {head}"
    return "other"


def rows_of(line: str) -> int | None:
    found = _READ.search(line) or _ROWS.search(line)
    return int(found.group(1).replace(",", "")) if found else None


@dataclass(eq=False)  # a logging handler must stay hashable
class StageClock(logging.Handler):
    """Stamps each progress line; samples RSS in a thread while running."""

    steps: list[Step] = field(default_factory=list)
    interval: float = 0.02
    progress: Path | None = None  # each step appended here as a JSON line when it closes

    def __post_init__(self) -> None:
        logging.Handler.__init__(self)
        self._process = psutil.Process()
        self._lock = threading.Lock()
        self._window_peak = 0
        self._run_peak = 0
        self._stop = threading.Event()
        self._last = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = self._process.memory_info().rss
            with self._lock:
                self._window_peak = max(self._window_peak, rss)
                self._run_peak = max(self._run_peak, rss)
            self._stop.wait(self.interval)

    def emit(self, record: logging.LogRecord) -> None:
        self.close_step(record.getMessage())

    def close_step(self, line: str) -> Step:
        now = time.perf_counter()
        with self._lock:
            rss = max(self._window_peak, self._process.memory_info().rss)
            self._window_peak = 0
        step = Step(line, now - self._last, rss, rows_of(line))
        self.steps.append(step)
        self._last = now
        if self.progress is not None:  # a run killed at its time limit still leaves its steps
            record = {"stage": step.stage, "line": line[:120], "seconds": round(step.seconds, 3)}
            record["rss_mb"] = round(rss / 2**20)
            with self.progress.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
        return step

    @property
    def run_peak(self) -> int:
        with self._lock:
            return self._run_peak

    def __enter__(self) -> StageClock:
        self._last = time.perf_counter()
        self._thread.start()
        PROGRESS.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        PROGRESS.removeHandler(self)
        self._stop.set()
        self._thread.join()


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    rows: int | None = None
    rss_peak: int = 0
    floor_seconds: float | None = None
    floor_what: str = ""
    steps: list[Step] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.floor_seconds is None or self.floor_seconds <= 0:
            return None
        return self.seconds / self.floor_seconds

    def as_dict(self) -> dict:
        return {
            "stage": self.name,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "floor_seconds": None if self.floor_seconds is None else round(self.floor_seconds, 3),
            "ratio": None if self.ratio is None else round(self.ratio, 2),
            "rss_peak_mb": round(self.rss_peak / 2**20),
            "floor": self.floor_what,
            "slowest": [
                {"asset": s.line[:80], "seconds": round(s.seconds, 3)}
                for s in sorted(self.steps, key=lambda s: -s.seconds)[:5]
            ],
        }


def group_stages(steps: list[Step]) -> list[Stage]:
    """Steps summed by stage, in order of first appearance."""
    stages: dict[str, Stage] = {}
    for step in steps:
        stage = stages.setdefault(step.stage, Stage(step.stage))
        stage.seconds += step.seconds
        stage.rss_peak = max(stage.rss_peak, step.rss_peak)
        stage.steps.append(step)
        if step.rows is not None and stage.name.startswith("ingest "):
            stage.rows = step.rows
        elif step.rows is not None:
            stage.rows = (stage.rows or 0) + step.rows
    return list(stages.values())
