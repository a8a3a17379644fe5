"""The hostile-input corpus (tests/hostile/*/case.yaml): what the user sees for each broken file.

Cases the run cannot go on from are run through the real command: exit code 2, one line on
stderr, no traceback, previous warehouse byte-identical. Cases the run goes on from are ingested
and their suites validated directly (fast); two of them also go through the whole command.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import BASE_EXTRACTS, ingest_folder, write_extracts
from trscohort.cli import main
from trscohort.quality import suites_for_tables, validate_suite

CORPUS = Path(__file__).with_name("hostile")
CASES = sorted(p.parent.name for p in CORPUS.glob("*/case.yaml"))


def load_case(name: str) -> dict:
    return yaml.safe_load((CORPUS / name / "case.yaml").read_text())


def build_input(name: str, folder: Path) -> Path:
    """BASE_EXTRACTS with the case's files laid over them."""
    write_extracts(folder, BASE_EXTRACTS)
    for removed in load_case(name).get("remove", []):
        (folder / removed).unlink()
    for path in (CORPUS / name).iterdir():
        if path.name != "case.yaml":
            shutil.copyfile(path, folder / path.name)
    return folder


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def previous_warehouse(tmp_path_factory) -> Path:
    """A good warehouse built once; each failing case must leave a copy of it untouched."""
    folder = tmp_path_factory.mktemp("previous")
    source = write_extracts(folder / "in", BASE_EXTRACTS)
    warehouse = folder / "good.duckdb"
    assert (
        main(
            [
                "run",
                "--input",
                str(source),
                "--warehouse",
                str(warehouse),
                "--out",
                str(folder / "out"),
            ]
        )
        == 0
    )
    return warehouse


def test_corpus_covers_every_case_of_the_issue():
    assert len(CASES) >= 20
    for name in CASES:
        case = load_case(name)
        assert case["exit"] in (0, 2), name
        assert case.get("description"), name
        if case["exit"] == 2:
            assert "error" in case or "error_prefix" in case, name
        else:
            assert "counts" in case, name


@pytest.mark.parametrize("name", [c for c in CASES if load_case(c)["exit"] == 2])
def test_cases_that_stop_the_run(name, tmp_path, capsys, previous_warehouse):
    case = load_case(name)
    source = build_input(name, tmp_path / "in")
    warehouse = tmp_path / "wh" / "t.duckdb"
    warehouse.parent.mkdir()
    shutil.copyfile(previous_warehouse, warehouse)
    before = digest(warehouse)
    out = tmp_path / "out"
    capsys.readouterr()
    code = main(["run", "--input", str(source), "--warehouse", str(warehouse), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    message = err.removeprefix("error: ").rstrip("\n")
    fill = {"input": str(source), "out": str(out)}
    if "error" in case:
        assert message == case["error"].format(**fill)
    else:
        assert message.startswith(case["error_prefix"].format(**fill))
    assert digest(warehouse) == before
    assert sorted(p.name for p in warehouse.parent.iterdir()) == ["t.duckdb"]


def _check_accounting(con, case: dict) -> None:
    for extract, (read, accepted, quarantined, duplicates) in case["counts"].items():
        assert con.execute(
            "SELECT rows_read, accepted, quarantined, duplicates FROM audit.ingest_log "
            "WHERE extract = ?",
            [extract],
        ).fetchone() == (read, accepted, quarantined, duplicates), extract
    for extract, read, accepted, quarantined, duplicates in con.execute(
        "SELECT extract, rows_read, accepted, quarantined, duplicates FROM audit.ingest_log"
    ).fetchall():
        assert read == accepted + quarantined + duplicates, extract
        assert con.execute(f"SELECT count(*) FROM quarantine.{extract}").fetchone()[0] == (
            quarantined
        )
    for extract, expected in case.get("quarantine", {}).items():
        found = con.execute(
            f"SELECT source_row, reason FROM quarantine.{extract} ORDER BY 1"
        ).fetchall()
        assert [list(r) for r in found] == expected, extract
    for extract, expected in case.get("values", {}).items():
        found = con.execute(
            f"SELECT source_row, value FROM staging.{extract} ORDER BY 1"
        ).fetchall()
        assert [r[0] for r in found] == [e[0] for e in expected], extract
        assert [r[1] for r in found] == pytest.approx([e[1] for e in expected]), extract


@pytest.mark.parametrize("name", [c for c in CASES if load_case(c)["exit"] == 0])
def test_cases_the_run_goes_on_from(name, tmp_path):
    case = load_case(name)
    con = ingest_folder(build_input(name, tmp_path / "in"))
    _check_accounting(con, case)
    expected = set(case.get("warnings", []))
    tables = sorted({w.split()[0] for w in expected} | {f"staging.{e}" for e in case["counts"]})
    failed = set()
    for suite in suites_for_tables(tables):
        result = validate_suite(con, suite)
        assert not result.failed_blocking, [c.message(result.table) for c in result.failed_blocking]
        failed |= {f"{result.table} {c.check.name}" for c in result.failed_warnings}
    assert failed == expected


def test_the_real_command_goes_on_and_lists_warnings(tmp_path):
    source = build_input("malformed_lines", tmp_path / "in")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "trscohort.cli",
            "run",
            "--input",
            str(source),
            "--warehouse",
            str(tmp_path / "t.duckdb"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    assert "data-quality checks:" in completed.stdout
    assert (tmp_path / "out" / "data_quality.html").is_file()
    assert "warning  staging.labs quarantined_share" in completed.stdout
