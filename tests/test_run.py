"""`trscohort run` end to end: errors, the previous warehouse kept, idempotency, site mappings."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from tests.conftest import BASE_EXTRACTS, write_extracts
from trscohort.cli import main

# `reused` records how a run went (a second run on the same input copies the unchanged extracts).
VOLATILE = {
    "audit.ingest_log": ("loaded_at", "seconds", "reused"),
    "audit.dq_results": ("run_at", "seconds"),
}


def run(tmp_path, folder, *extra: str) -> int:
    """`trscohort run` with the warehouse and the outputs under the test's tmp folder."""
    warehouse = tmp_path / "wh" / "t.duckdb"
    out = tmp_path / "out"
    return main(
        ["run", "--input", str(folder), "--warehouse", str(warehouse), "--out", str(out), *extra]
    )


def snapshot(path) -> dict[str, list]:
    """Every table's sorted contents, without the columns that record when a run happened."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() ORDER BY 1"
        ).fetchall()
        result = {}
        for (table,) in tables:
            drop = VOLATILE.get(table, ())
            cols = [c for (c, *_) in con.execute(f"DESCRIBE {table}").fetchall() if c not in drop]
            select = ", ".join(f'"{c}"' for c in cols)
            result[table] = sorted(
                con.execute(f"SELECT {select} FROM {table}").fetchall(), key=repr
            )
        return result


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, Path, str]:
    """One good run on BASE_EXTRACTS that several tests start from: (its input folder, its
    warehouse, what it printed). A test that breaks the input writes its own folder; a test
    that runs again works on a copy of the warehouse (`previous_warehouse`)."""
    base = tmp_path_factory.mktemp("first_run")
    folder = write_extracts(base / "in", BASE_EXTRACTS)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert run(base, folder) == 0
    return folder, base / "wh" / "t.duckdb", printed.getvalue()


def previous_warehouse(tmp_path: Path, first_run: tuple[Path, Path, str]) -> Path:
    """A copy of the first run's warehouse where `run(tmp_path, ...)` writes its own."""
    (tmp_path / "wh").mkdir()
    return Path(shutil.copy(first_run[1], tmp_path / "wh" / "t.duckdb"))


def test_run_builds_the_warehouse_and_prints_the_summary(first_run):
    _, warehouse, out = first_run
    assert "as-of date 2020-03-01 (latest date in the extracts); 2 patients" in out
    assert "labs" in out and "quarantined" in out
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.patients").fetchone() == (2,)
        found = con.execute("SELECT DISTINCT schema_name FROM duckdb_tables()").fetchall()
        schemas = {s for (s,) in found}
    assert {"raw", "staging", "quarantine", "reference", "audit"} <= schemas


def test_as_of_argument_is_recorded(tmp_path):
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    assert run(tmp_path, folder, "--as-of", "2021-06-30") == 0
    with duckdb.connect(str(tmp_path / "wh" / "t.duckdb"), read_only=True) as con:
        assert con.execute(
            "SELECT CAST(as_of_date AS VARCHAR), as_of_source FROM audit.run_parameters"
        ).fetchone() == ("2021-06-30", "argument")


def test_same_input_twice_gives_the_same_warehouse(tmp_path, first_run):
    folder = first_run[0]
    first = snapshot(previous_warehouse(tmp_path, first_run))
    assert run(tmp_path, folder) == 0
    assert snapshot(tmp_path / "wh" / "t.duckdb") == first
    with duckdb.connect(str(tmp_path / "wh" / "t.duckdb"), read_only=True) as con:
        # the second run copied every extract file from the first's warehouse (issue 17)
        assert con.execute(
            "SELECT bool_and(reused) FROM audit.ingest_log WHERE file IS NOT NULL"
        ).fetchone() == (True,)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("missing_file", "required extract 'diagnoses' not found"),
        ("missing_column", "labs.csv: missing required column 'unit'"),
        ("empty_file", "labs.csv: the file is empty (0 bytes)"),
    ],
)
def test_contract_errors_exit_2_and_keep_the_previous_warehouse(
    tmp_path, capsys, first_run, breakage, message
):
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    before = snapshot(previous_warehouse(tmp_path, first_run))
    if breakage == "missing_file":
        (folder / "diagnoses.csv").unlink()
    elif breakage == "missing_column":
        text = (folder / "labs.csv").read_text().replace(",unit,", ",units,", 1)
        (folder / "labs.csv").write_text(text)
    else:
        (folder / "labs.csv").write_text("")
    capsys.readouterr()
    assert run(tmp_path, folder) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path / "wh" / "t.duckdb") == before
    assert sorted(p.name for p in (tmp_path / "wh").iterdir()) == ["t.duckdb"]


def test_error_has_no_traceback_from_the_real_command(tmp_path):
    folder = write_extracts(tmp_path / "in", {"patients": BASE_EXTRACTS["patients"]})
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "trscohort.cli",
            "run",
            "--input",
            str(folder),
            "--warehouse",
            str(tmp_path / "t.duckdb"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.startswith("error: ")
    assert "required extract 'prescriptions' not found" in completed.stderr


def test_site_mapping_renames_columns_and_reads_site_date_formats(tmp_path):
    extracts = dict(BASE_EXTRACTS)
    extracts["patients"] = """
        MRN,DOB,Gender
        P1,02/01/1980,F
        P2,06.05.1975,M
    """
    folder = write_extracts(tmp_path / "in", extracts)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        textwrap.dedent(
            """
            extracts:
              patients:
                columns: {patient_id: MRN, birth_date: DOB, sex: Gender}
                date_format: ["%d/%m/%Y", "%d.%m.%Y"]
            """
        )
    )
    assert run(tmp_path, folder, "--mapping", str(mapping)) == 0
    with duckdb.connect(str(tmp_path / "wh" / "t.duckdb"), read_only=True) as con:
        assert con.execute(
            "SELECT patient_id, CAST(birth_date AS VARCHAR), sex FROM staging.patients ORDER BY 1"
        ).fetchall() == [("P1", "1980-01-02", "F"), ("P2", "1975-05-06", "M")]


def test_mapping_errors_name_the_problem(tmp_path, capsys):
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("extracts:\n  patients:\n    columns: {patient_number: MRN}\n")
    assert run(tmp_path, folder, "--mapping", str(mapping)) == 2
    assert "'patients' has no canonical column 'patient_number'" in capsys.readouterr().err


def test_parquet_and_gzip_extracts_are_read(tmp_path):
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * FROM read_csv('{folder / 'labs.csv'}', all_varchar = true)) "
            f"TO '{folder / 'labs.parquet'}' (FORMAT parquet)"
        )
        con.execute(
            f"COPY (SELECT * FROM read_csv('{folder / 'diagnoses.csv'}', all_varchar = true)) "
            f"TO '{folder / 'diagnoses.csv.gz'}' (FORMAT csv, HEADER, COMPRESSION gzip)"
        )
    (folder / "labs.csv").unlink()
    (folder / "diagnoses.csv").unlink()
    assert run(tmp_path, folder) == 0
    with duckdb.connect(str(tmp_path / "wh" / "t.duckdb"), read_only=True) as con:
        assert con.execute(
            "SELECT extract, file LIKE '%.parquet' OR file LIKE '%.csv.gz', accepted "
            "FROM audit.ingest_log WHERE extract IN ('labs', 'diagnoses') ORDER BY 1"
        ).fetchall() == [("diagnoses", True, 1), ("labs", True, 1)]


def test_config_errors_name_the_problem(tmp_path, capsys):
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    config = tmp_path / "config.yaml"
    config.write_text("trs: {min_trial_days_typo: 40}\n")
    assert run(tmp_path, folder, "--config", str(config)) == 2
    assert "config: unknown key 'trs.min_trial_days_typo'" in capsys.readouterr().err
    config.write_text("- not\n- a mapping\n")
    assert run(tmp_path, folder, "--config", str(config)) == 2
    assert "expected a mapping at the top level" in capsys.readouterr().err
