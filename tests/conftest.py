"""Shared fixtures: tiny hand-written extract folders whose right answers are known by hand."""

from __future__ import annotations

import io
import os
import tempfile
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

# Hypothesis keeps its caches out of the repository (tests write only to tmp folders); the
# variable is read when hypothesis is imported.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY",
    os.path.join(tempfile.gettempdir(), f"trscohort-hypothesis-{os.getuid()}"),
)
from hypothesis import settings  # noqa: E402

from trscohort.config import load_config
from trscohort.contract import EXTRACT_ORDER, discover_sources, load_mapping
from trscohort.ingest import ingest_extract
from trscohort.ingest.staging import load_reference

# Hypothesis keeps no example database in the repository (tests write only to tmp folders).
settings.register_profile("trscohort", database=None)
settings.load_profile("trscohort")

BASE_EXTRACTS = {
    "patients": """
        patient_id,birth_date,sex,benign_ethnic_neutropenia,site,death_date
        P1,1980-01-02,F,false,north,
        P2,1975-05-06,M,true,south,
    """,
    "prescriptions": """
        patient_id,drug,start_date,end_date,daily_dose_mg,route,prescription_id
        P1,olanzapine,2020-01-01,2020-03-01,20,oral,RX1
    """,
    "labs": """
        patient_id,collected_at,test_code,test_name,value,unit,reference_high
        P1,2020-01-08,751-8,ANC,3.2,10^9/L,
    """,
    "diagnoses": """
        patient_id,code,code_system,diagnosed_at,description
        P1,F20.0,ICD10,2019-06-01,paranoid schizophrenia
    """,
}


def write_extracts(folder: Path, extracts: dict[str, str]) -> Path:
    """Write `{name: csv text}` as <name>.csv files (text dedented, blank edge lines dropped)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in extracts.items():
        (folder / f"{name}.csv").write_text(textwrap.dedent(text).strip() + "\n")
    return folder


def ingest_folder(
    folder: Path, mapping_path: Path | None = None, config=None
) -> duckdb.DuckDBPyConnection:
    """Run reference + every extract's ingest into an in-memory DuckDB; returns the connection."""
    con = duckdb.connect()
    config = config or load_config()
    mapping = load_mapping(mapping_path)
    load_reference(con, config, mapping)
    sources = discover_sources(folder, mapping)
    for extract in EXTRACT_ORDER:
        ingest_extract(con, extract, sources.get(extract), mapping, config)
    return con


@pytest.fixture
def staged(tmp_path):
    """staged(**overrides) -> connection with the base extracts, some replaced by `overrides`."""

    def _staged(**overrides: str) -> duckdb.DuckDBPyConnection:
        folder = write_extracts(tmp_path / "input", {**BASE_EXTRACTS, **overrides})
        return ingest_folder(folder)

    return _staged


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory) -> Path:
    """The bundled data/sample/ run through `trscohort run` once per test session."""
    from trscohort.runner import RunOptions, run_pipeline

    folder = tmp_path_factory.mktemp("sample_run")
    root = Path(__file__).resolve().parents[1]
    options = RunOptions(
        input_dir=root / "data" / "sample",
        warehouse=folder / "sample.duckdb",
        out_dir=folder / "out",
    )
    return run_pipeline(options, stream=io.StringIO())


# --- synthetic cohorts with ground truth ---------------------------------------------------------

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
SLOW = os.environ.get("TRSCOHORT_SLOW") == "1"


_TREE_BEFORE: dict = {}
LAST_TEST = "test_suite_leaves_the_repository_unchanged"


def pytest_sessionstart(session):
    """Snapshot the repository before any test runs (tests/security/test_repository_untouched)."""
    from tests.security.repository import tree_snapshot

    _TREE_BEFORE.update(tree_snapshot())


def pytest_sessionfinish(session, exitstatus):
    """Under pytest-xdist the repository test runs inside one worker while the other may still
    be working: the controller checks the tree again once every worker has finished."""
    if not hasattr(session.config, "workerinput") and session.config.pluginmanager.hasplugin(
        "xdist"
    ):
        from tests.security.repository import tree_changes, tree_snapshot

        changes = tree_changes(_TREE_BEFORE, tree_snapshot())
        if changes and getattr(session.config.option, "numprocesses", None):
            reporter = session.config.pluginmanager.get_plugin("terminalreporter")
            reporter.write_line(
                "FAILED the test suite changed the repository: " + "; ".join(changes[:10]), red=True
            )
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def repository_before_session() -> dict:
    return dict(_TREE_BEFORE)


# Files whose setup takes minutes (a Spark build, a site published at 30 sites) go first, so
# that no xdist worker starts one while the others run out of files; the other files follow by
# number of tests, as xdist's own reorder would (addopts turns that off to keep this order).
FIRST_FILES = (
    "test_spark_parity.py",
    "test_browser.py",
    "test_complementary_suppression.py",
    "test_omop.py",
)


def _schedule_key(counts: Counter) -> Callable:
    def key(item) -> tuple:
        name = item.path.name
        first = FIRST_FILES.index(name) if name in FIRST_FILES else len(FIRST_FILES)
        return (item.name == LAST_TEST, first, -counts[item.path], str(item.path))

    return key


def pytest_collection_modifyitems(config, items):
    """Files in the order above, the repository check last; `slow` tests run only with
    TRSCOHORT_SLOW=1 (CI runs their small-size versions)."""
    # stable: each file's tests keep their order
    items.sort(key=_schedule_key(Counter(item.path for item in items)))
    if SLOW:
        return
    skip = pytest.mark.skip(reason="large size: set TRSCOHORT_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    """Print what tests passed to `report` (a test's user_properties travel from xdist workers)."""
    for reports in terminalreporter.stats.values():
        for test_report in reports:
            for key, text in getattr(test_report, "user_properties", ()):
                if key == "report" and getattr(test_report, "when", "") == "call":
                    terminalreporter.write_line(text)


@pytest.fixture
def report(request):
    """report(text): printed in pytest's terminal summary (e.g. a confusion table)."""
    return lambda text: request.node.user_properties.append(("report", text))


@pytest.fixture(scope="session")
def synthetic_cohort(tmp_path_factory, sample_warehouse):
    """synthetic_cohort(n) -> (extract folder with ground_truth/, warehouse) for seed 7.

    n = 500 is the committed data/sample/ (made by `trscohort synth --patients 500 --seed 7`);
    other sizes are generated and run through `trscohort run` once per session.
    """
    from trscohort.runner import RunOptions, run_pipeline
    from trscohort.synth import generate

    made: dict[int, tuple[Path, Path]] = {500: (SAMPLE_DIR, sample_warehouse)}

    def _cohort(n: int) -> tuple[Path, Path]:
        if n not in made:
            folder = tmp_path_factory.mktemp(f"synthetic_{n}")
            generate(n, 7, folder / "input")
            options = RunOptions(
                input_dir=folder / "input", warehouse=folder / "w.duckdb", out_dir=folder / "out"
            )
            made[n] = (folder / "input", run_pipeline(options, stream=io.StringIO()))
        return made[n]

    return _cohort
