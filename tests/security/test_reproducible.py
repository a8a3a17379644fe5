"""Issue 15, item 13: two runs on the same input give identical tables (hash of the sorted rows)
and byte-identical published pages.

Only the columns that record when something ran differ by design: audit.ingest_log.loaded_at and
seconds, audit.dq_results.run_at and seconds.
"""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SAMPLE_DIR
from trscohort.runner import RunOptions, run_pipeline

VOLATILE = {
    "audit.ingest_log": ("loaded_at", "seconds"),
    "audit.dq_results": ("run_at", "seconds"),
}


def table_hashes(warehouse: Path) -> dict[str, tuple[int, str]]:
    """{table: (rows, md5 of its rows as text, sorted)} for every table of the warehouse."""
    found = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            columns = [
                f'"{c}"'
                for (c, *_) in con.execute(f"DESCRIBE {table}").fetchall()
                if c not in VOLATILE.get(table, ())
            ]
            row = f"CAST(ROW({', '.join(columns)}) AS VARCHAR)"
            found[table] = con.execute(
                f"SELECT count(*), md5(coalesce(string_agg({row}, chr(10) ORDER BY {row}), '')) "
                f"FROM {table}"
            ).fetchone()
    return found


def page_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """The sample extracts run twice, each into its own warehouse and outputs."""
    folders = []
    for name in ("first", "second"):
        folder = tmp_path_factory.mktemp(name)
        run_pipeline(
            RunOptions(input_dir=SAMPLE_DIR, warehouse=folder / "w.duckdb", out_dir=folder / "out"),
            stream=io.StringIO(),
        )
        folders.append(folder)
    return folders[0], folders[1]


def test_two_runs_give_identical_tables(two_runs):
    first, second = (table_hashes(folder / "w.duckdb") for folder in two_runs)
    assert len(first) > 40
    differing = sorted(t for t in first if first[t] != second.get(t))
    assert differing == [], differing
    assert set(first) == set(second)


def test_two_runs_give_identical_pages(two_runs):
    first, second = (page_bytes(folder / "out") for folder in two_runs)
    assert "dashboards/index.html" in first and "data_quality.html" in first
    differing = sorted(name for name in first if first[name] != second.get(name))
    assert differing == [], differing
    assert set(first) == set(second)
