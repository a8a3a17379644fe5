"""Run every asset through Dagster in-process into fresh files, check them, then swap them in.

A run builds a new warehouse file (`<warehouse>.building-<pid>`) and new outputs
(`<out>/.building-<pid>/`: dashboards, data-quality report), then checks them: every asset and
blocking data-quality check succeeded, no required extract was entirely quarantined, and no
published file holds a patient identifier or birth date. Only then are the warehouse and the
outputs swapped in, one right after the other with renames, so `out/` and the warehouse come
from the same run. A failed or killed run leaves the previous warehouse and outputs as they were;
its leftovers are removed by the next run.

Runs on the same warehouse take turns: a run holds an exclusive lock (`<warehouse>.lock`, 0600,
holding its pid) for its whole length; a second run fails at once with a one-line message, or
waits up to `runtime.lock_timeout_seconds`. Every file a run creates is private (0600, folders
0700) except the published aggregates (0644, folders 0755): see `trscohort.publication.files`.
DuckDB gets a memory limit (`runtime.memory_limit_pct` of RAM or `runtime.memory_limit_mb`) and
spills to a private temporary folder beside the warehouse.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from trscohort.config import Config, load_config
from trscohort.contract import EXTRACTS, load_mapping
from trscohort.errors import UsageError
from trscohort.publication import files
from trscohort.publication.scan import PrivacyError, check_files, published_files

FAILED_REPORT = "data_quality.failed.html"


@dataclass(frozen=True)
class RunOptions:
    input_dir: Path = Path("data/sample")
    warehouse: Path = Path("warehouse/trscohort.duckdb")
    out_dir: Path = Path("out")
    as_of: str | None = None
    mapping_path: Path | None = None
    config_path: Path | None = None
    omop_path: Path | None = None  # an OMOP CDM (folder or DuckDB file) instead of input_dir
    omop_schema: str | None = None


def check_inputs(options: RunOptions) -> Config:
    """Fail fast, before Dagster starts, on a bad config, mapping, as-of date or extract header;
    returns the validated config."""
    import datetime as dt

    from trscohort.contract import discover_sources
    from trscohort.ingest.raw import check_source
    from trscohort.publication.cores import workers

    config = load_config(options.config_path)
    mapping = load_mapping(options.mapping_path)
    workers()  # a wrong TRSCOHORT_WORKERS is refused now, not after the models
    if options.as_of:
        try:
            dt.date.fromisoformat(options.as_of)
        except ValueError:
            raise UsageError(f"--as-of: '{options.as_of}' is not a date (YYYY-MM-DD)") from None
    if options.omop_path is not None:
        from trscohort.omop import CdmSource
        from trscohort.omop.check import check_cdm

        check_cdm(CdmSource(options.omop_path, options.omop_schema), mapping)
        return config
    sources = discover_sources(
        options.input_dir,
        mapping,
        allow_outside=config["ingest"]["allow_files_outside_input"],
    )
    with duckdb.connect() as con:
        for source in sources.values():
            check_source(con, source, mapping, config)
    return config


# --------------------------------------------------------------------------- paths and limits


def _reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


@dataclass(frozen=True)
class RunPaths:
    """Every path a run writes, checked before anything is built."""

    warehouse: Path
    out_dir: Path
    temp_root: Path

    @property
    def building(self) -> Path:
        return self.warehouse.with_name(f"{self.warehouse.name}.building-{os.getpid()}")

    @property
    def lock(self) -> Path:
        return self.warehouse.with_name(f"{self.warehouse.name}.lock")

    @property
    def temp_dir(self) -> Path:
        return self.temp_root / f"{self.warehouse.name}.tmp-{os.getpid()}"

    @property
    def out_building(self) -> Path:
        return self.out_dir / f".building-{os.getpid()}"

    @classmethod
    def check(cls, options: RunOptions, config: Config) -> RunPaths:
        warehouse, out_dir = Path(options.warehouse), Path(options.out_dir)
        if warehouse.is_dir():
            raise UsageError(
                f"--warehouse {warehouse}: is a folder; give a file such as "
                f"{warehouse / 'trscohort.duckdb'}"
            )
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError(f"--out {out_dir}: is a file; give a folder")
        for flag, folder in (("--warehouse", warehouse.parent), ("--out", out_dir)):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(f"{flag}: cannot create {folder} ({_reason(exc)})") from None
        temp = config["runtime"]["temp_directory"]
        return cls(warehouse, out_dir, Path(temp) if temp else warehouse.parent)


def duckdb_settings(config: Config, temp_dir: Path) -> dict[str, str]:
    """DuckDB connection settings of a run: memory limit, where to spill, worker threads."""
    runtime = config["runtime"]
    megabytes = runtime["memory_limit_mb"]
    if megabytes is None:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        megabytes = max(64, physical * runtime["memory_limit_pct"] // 100 // (1 << 20))
    settings = {"memory_limit": f"{megabytes}MB", "temp_directory": str(temp_dir)}
    if runtime["threads"] is not None:
        settings["threads"] = str(runtime["threads"])
    return settings


# --------------------------------------------------------------------------- the lock


class RunLock:
    """An exclusive lock file beside the warehouse, held for the whole run."""

    def __init__(self, path: Path, warehouse: Path, timeout: float):
        self.path, self.warehouse, self.timeout = path, warehouse, timeout
        self._fd: int | None = None

    def _holder(self, fd: int) -> str:
        with contextlib.suppress(OSError, ValueError):
            text = os.pread(fd, 32, 0).decode().strip()
            return f" (pid {int(text)})" if text else ""
        return ""

    def __enter__(self) -> RunLock:
        import fcntl

        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise UsageError(
                    f"--warehouse {self.warehouse}: cannot write in {self.path.parent} "
                    f"({_reason(exc)})"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._holder(fd)
                os.close(fd)
                if time.monotonic() >= deadline:
                    waited = f" after waiting {self.timeout:g} s" if self.timeout else ""
                    raise UsageError(
                        f"{self.warehouse} is being built by another trscohort run{holder}"
                        f"{waited}; wait for it to finish, or set runtime.lock_timeout_seconds"
                    ) from None
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
                continue
            # The previous holder removes the file when it is done: make sure we locked the
            # file that is there now, not one already unlinked.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self._fd = fd
            return self

    def __exit__(self, *exc: object) -> None:
        import fcntl

        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # before unlocking: see the inode check above
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def clean_stale(paths: RunPaths) -> list[Path]:
    """Remove what killed runs left behind (their build files, outputs and spill folders);
    called under the lock. Returns what was removed."""
    name = paths.warehouse.name
    stale = files.stale_by_pid(paths.warehouse.parent, f"{name}.building-")
    stale += files.stale_by_pid(paths.temp_root, f"{name}.tmp-")
    for prefix in (".building-", ".dashboards.building-", ".dashboards.old-", ".data_quality"):
        stale += files.stale_by_pid(paths.out_dir, prefix)
    for path in stale:
        files.remove(path)
    return stale


# --------------------------------------------------------------------------- run results


class _ProgressFormatter(logging.Formatter):
    """`  ✓ message`, or `  ✗ message` for a line reported as failed."""

    def format(self, record: logging.LogRecord) -> str:
        return f"  {getattr(record, 'mark', '✓')} {record.getMessage()}"


@contextmanager
def _progress_printer(stream):
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_ProgressFormatter())
    logger = logging.getLogger("trscohort.progress")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _blocking_check_message(result, report: Path | None) -> str | None:
    """One line naming the first failed blocking data-quality check, if one stopped the run."""
    from dagster import AssetCheckSeverity

    failed = [
        e
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.blocking and e.severity == AssetCheckSeverity.ERROR
    ]
    if not failed:
        return None
    first = failed[0]
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    see = f"; see {report}" if report else ""
    return (
        f"blocking data-quality check '{first.check_name}' failed: {first.description}{more}{see}"
    )


def _failure_message(result) -> str:
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        # Dagster wraps the asset's exception; the user's message is the innermost cause.
        while error.cause is not None:
            error = error.cause
        first_line = error.message.strip().splitlines()[0]
        # A UsageError speaks for itself; anything else is named with the step that raised it.
        if error.cls_name in ("UsageError", "ContractError", "PrivacyError"):
            return first_line.split(f"{error.cls_name}: ", 1)[-1]
        return f"{event.step_key} failed: {first_line}"
    return "the run failed"


# A value quoted in a quarantine reason ('P0000042'), or a date, is masked in the message. The
# value ends its reason and may hold an apostrophe ('P12'345678'): masked from the first quote
# to the last, so no part of it is left as written.
_MASKED_REASON = (
    "regexp_replace(regexp_replace(reason, '''(?s:.*)''', '''…''', 'g'), "
    "'[0-9]{4}-[0-9]{2}-[0-9]{2}', 'YYYY-MM-DD', 'g')"
)


def fully_quarantined(con: duckdb.DuckDBPyConnection) -> str | None:
    """A required extract whose every row was quarantined: one line naming it and its most
    frequent reason (values masked), or None."""
    required = [name for name, extract in EXTRACTS.items() if extract.required]
    rows = con.execute(
        "SELECT extract, rows_read FROM audit.ingest_log "
        "WHERE rows_read > 0 AND accepted = 0 AND list_contains(?, extract)",
        [required],
    ).fetchall()
    order = {name: i for i, name in enumerate(required)}
    for extract, read in sorted(rows, key=lambda r: order[r[0]]):
        reason, n = con.execute(
            f"SELECT {_MASKED_REASON} AS r, count(*) FROM quarantine.{extract} "
            "GROUP BY r ORDER BY 2 DESC, 1 LIMIT 1"
        ).fetchone()
        return (
            f"{extract}: all {read:,} rows were quarantined, none usable (most often: {reason}, "
            f"{n:,} rows); the previous warehouse is kept"
        )
    return None


# --------------------------------------------------------------------------- the run


def _materialize(paths: RunPaths, options: RunOptions, config: Config, stream):
    from dagster import DagsterInstance, materialize

    from trscohort.orchestration.assets import all_assets, all_checks
    from trscohort.orchestration.definitions import build_resources

    resources = build_resources(
        warehouse=str(paths.building),
        input_dir=str(options.input_dir),
        out_dir=str(paths.out_building),
        mapping_path=str(options.mapping_path) if options.mapping_path else None,
        config_path=str(options.config_path) if options.config_path else None,
        as_of=options.as_of,
        omop_path=str(options.omop_path) if options.omop_path else None,
        omop_schema=options.omop_schema,
        connection_config=duckdb_settings(config, paths.temp_dir),
        previous_warehouse=str(paths.warehouse),
        engine="duckdb",  # `--engine spark` runs trscohort.engines.spark_run instead
        report_each_check=False,  # written once, by _write_report
    )
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with _progress_printer(stream), DagsterInstance.ephemeral() as instance:
        return materialize(
            [*all_assets, *all_checks],
            resources=resources,
            instance=instance,
            raise_on_error=False,
            run_config=quiet,
        )


def _write_report(paths: RunPaths) -> None:
    """The data-quality report, once, if the run got as far as a check or the vocabulary audit
    (the tables they write): what the last of them would have written. A file that cannot be
    opened gets no report, as `_keep_failed_report` keeps none: a failed run ends with its own
    one-line message, and a good one fails at the next connection in `_build`."""
    from trscohort.quality.report import write_report
    from trscohort.quality.validate import table_exists
    from trscohort.vocab.unmapped import TABLE as UNMAPPED

    if not paths.building.is_file():
        return
    try:
        con = duckdb.connect(str(paths.building), read_only=True)
    except duckdb.Error:
        return
    with con:
        if table_exists(con, "audit.dq_results") or table_exists(con, UNMAPPED):
            write_report(con, paths.out_building)


def _scan_outputs(con: duckdb.DuckDBPyConnection, folder: Path, config: Config) -> None:
    check_files(con, published_files(folder), public=[config.to_json()], root=folder)


def _keep_failed_report(paths: RunPaths, config: Config) -> Path | None:
    """The data-quality report of a failed run, beside (not over) the published one, if it
    passes the privacy scan."""
    report = paths.out_building / "data_quality.html"
    if not report.is_file() or not paths.building.is_file():
        return None
    try:
        with duckdb.connect(str(paths.building), read_only=True) as con:
            check_files(con, [report], public=[config.to_json()], root=paths.out_building)
    except (PrivacyError, duckdb.Error):
        return None
    target = paths.out_dir / FAILED_REPORT
    files.make_published(report)
    os.replace(report, target)
    return target


def _swap_in(paths: RunPaths) -> None:
    """The new warehouse, then each new output, renamed over the old ones."""
    Path(str(paths.warehouse) + ".wal").unlink(missing_ok=True)  # would replay onto the new file
    os.replace(paths.building, paths.warehouse)
    for entry in sorted(paths.out_building.iterdir()):
        files.swap_in(entry, paths.out_dir / entry.name)
    (paths.out_dir / FAILED_REPORT).unlink(missing_ok=True)  # a failed run's, now outdated


def _build(paths: RunPaths, options: RunOptions, config: Config, stream) -> None:
    for path in (paths.building, Path(f"{paths.building}.wal"), paths.out_building):
        files.remove(path)
    paths.out_building.mkdir()
    try:
        paths.temp_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"runtime.temp_directory: cannot create {paths.temp_dir} ({_reason(exc)})"
        ) from None
    result = _materialize(paths, options, config, stream)
    _write_report(paths)
    if not result.success:
        report = _keep_failed_report(paths, config)
        raise UsageError(_blocking_check_message(result, report) or _failure_message(result))
    with duckdb.connect(str(paths.building)) as con:
        con.execute("CHECKPOINT")
        problem = fully_quarantined(con)
        if problem:
            raise UsageError(problem)
        _scan_outputs(con, paths.out_building, config)
    paths.building.chmod(0o600)
    files.make_published(paths.out_building)
    _swap_in(paths)


def run_pipeline(options: RunOptions, stream=None) -> Path:
    """Materialise all assets into new files, check them and swap them in; returns the
    warehouse's path. Raises UsageError (one line) when the run cannot or must not publish.

    Progress lines go to `stream`, by default the sys.stdout of the moment of the call (not of
    import: a captured stream of an earlier caller may be closed by now)."""
    stream = stream if stream is not None else sys.stdout
    config = check_inputs(options)
    paths = RunPaths.check(options, config)
    with files.private_files():
        lock = RunLock(paths.lock, paths.warehouse, config["runtime"]["lock_timeout_seconds"])
        with lock:
            clean_stale(paths)
            try:
                _build(paths, options, config, stream)
            except PrivacyError as exc:
                raise UsageError(str(exc)) from None
            finally:
                for path in (
                    paths.building,
                    Path(f"{paths.building}.wal"),
                    paths.out_building,
                    paths.temp_dir,
                ):
                    files.remove(path)
    return paths.warehouse
