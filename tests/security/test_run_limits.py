"""Issue 15, items 11 and 12: a required extract entirely quarantined fails the run; resource
limits (line length, memory), odd files and unusable paths are one line, never a traceback, and
every line read is counted."""

from __future__ import annotations

import gzip
import json
import textwrap
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.conftest import BASE_EXTRACTS, rows, write_extracts
from tests.security.runs import child_peak_rss_mb, cli, config_file, file_digest, run_args
from trscohort.config import Config, load_config
from trscohort.contract import EXTRACT_ORDER, discover_sources, load_mapping
from trscohort.ingest import ingest_extract
from trscohort.ingest.staging import load_reference

LABS_HEADER = "patient_id,collected_at,test_code,test_name,value,unit,reference_high"


def _one_line(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.removeprefix("error: ").strip()


# --------------------------------------------------------------------------- item 11


def test_a_required_extract_entirely_quarantined_fails_the_run(tmp_path, capsys):
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    warehouse, out = tmp_path / "wh" / "t.duckdb", tmp_path / "out"
    assert cli(run_args(folder, warehouse, out), capsys)[0] == 0
    before = file_digest(warehouse)
    write_extracts(
        folder,
        {
            "prescriptions": """
                patient_id,drug,start_date,end_date,daily_dose_mg,route,prescription_id
                P1,olanzapine,Jan 1st 2020,2020-03-01,20,oral,RX1
                P2,olanzapine,Jan 1st 2020,2020-03-01,20,oral,RX2
            """
        },
    )
    code, err = cli(run_args(folder, warehouse, out), capsys)
    assert code == 2
    message = _one_line(err)
    assert message.startswith("prescriptions: all 2 rows were quarantined, none usable")
    assert "most often: unparseable start_date '…', 2 rows" in message
    assert "Jan 1st" not in message  # values are masked: they may identify
    assert file_digest(warehouse) == before


def test_the_one_line_message_masks_a_quoted_id_holding_an_apostrophe_whole():
    """`unknown patient_id 'P12'345678'`: masking up to the first closing quote would leave
    345678 of the id in the message; the whole quoted value is masked."""
    from trscohort.runner import fully_quarantined

    con = duckdb.connect()
    con.execute("CREATE SCHEMA audit")
    con.execute("CREATE SCHEMA quarantine")
    con.execute(
        "CREATE TABLE audit.ingest_log (extract VARCHAR, rows_read BIGINT, accepted BIGINT)"
    )
    con.execute("INSERT INTO audit.ingest_log VALUES ('prescriptions', 3, 0)")
    con.execute("CREATE TABLE quarantine.prescriptions (reason VARCHAR)")
    con.execute(
        "INSERT INTO quarantine.prescriptions VALUES (?), (?), (?)",
        ["unknown patient_id 'P12'345678'", "unknown patient_id 'P12'345678'", "missing drug"],
    )
    message = fully_quarantined(con)
    assert "most often: unknown patient_id '…', 2 rows" in message
    assert "345678" not in message and "P12" not in message


# --------------------------------------------------------------------------- item 12: files


def _labs_run(tmp_path, capsys, labs: bytes, *extra: str) -> tuple[int, str, Path]:
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    (folder / "labs.csv").write_bytes(labs)
    warehouse = tmp_path / "wh" / "t.duckdb"
    code, err = cli(run_args(folder, warehouse, tmp_path / "out", *extra), capsys)
    return code, err, warehouse


def test_cr_only_line_endings_are_one_line(tmp_path, capsys):
    labs = (LABS_HEADER + "\rP1,2020-01-08,751-8,ANC,3.2,10^9/L,\r").encode()
    code, err, _ = _labs_run(tmp_path, capsys, labs)
    assert code == 2
    assert _one_line(err).endswith(
        "labs.csv: lines end with a bare carriage return (CR, old Mac format); "
        "save the file with LF or CRLF line endings"
    )


def test_a_header_field_over_128_kb_is_one_line(tmp_path, capsys):
    labs = (LABS_HEADER + "," + "x" * 140_000 + "\nP1,2020-01-08,751-8,ANC,3.2,10^9/L,,\n").encode()
    code, err, _ = _labs_run(tmp_path, capsys, labs)
    assert code == 2
    assert "labs.csv: the header row cannot be read (field larger than field limit" in _one_line(
        err
    )


def test_a_long_column_name_is_one_line(tmp_path, capsys):
    labs = (LABS_HEADER + "," + "x" * 2000 + "\nP1,2020-01-08,751-8,ANC,3.2,10^9/L,,\n").encode()
    code, err, _ = _labs_run(tmp_path, capsys, labs)
    assert code == 2
    assert _one_line(err).endswith(
        "labs.csv: header field 8 is 2,000 characters long; column names are limited to 1,024"
    )


def test_a_line_over_the_limit_is_counted_and_quarantined(tmp_path, capsys):
    config = config_file(tmp_path / "c.yaml", {"ingest": {"max_line_bytes": 1024}})
    labs = "\n".join(
        [
            LABS_HEADER,
            "P1,2020-01-08,751-8,ANC,3.2,10^9/L,",
            "P1,2020-01-15,751-8,ANC," + "9" * 3000 + ",10^9/L,",
            "P1,2020-01-22,751-8,ANC,3.3,10^9/L,",
        ]
    )
    code, err, warehouse = _labs_run(
        tmp_path, capsys, (labs + "\n").encode(), "--config", str(config)
    )
    assert code == 0, err
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert rows(
            con,
            "SELECT rows_read, accepted, quarantined, duplicates FROM audit.ingest_log "
            "WHERE extract = 'labs'",
        ) == [(3, 2, 1, 0)]
        [(reason,)] = rows(con, "SELECT reason FROM quarantine.labs")
        assert reason.startswith("malformed line 3: line too long")


def _ingest(folder: Path, config: Config) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    mapping = load_mapping(None)
    load_reference(con, config)
    sources = discover_sources(folder, mapping)
    for extract in EXTRACT_ORDER:
        ingest_extract(con, extract, sources.get(extract), mapping, config)
    return con


def _config(**ingest) -> Config:
    parsed = json.loads(load_config().to_json())
    parsed["ingest"].update(ingest)
    return Config(parsed)


def test_a_line_longer_than_duckdbs_buffer_is_counted_too(tmp_path):
    """DuckDB skips a line longer than its read buffer without recording it as a reject: the
    500 MB line of the issue vanished. At a 1 KB limit a 40 MB line is enough to show it."""
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    labs = folder / "labs.csv"
    with labs.open("w") as handle:
        handle.write(LABS_HEADER + "\nP1,2020-01-08,751-8,ANC,3.2,10^9/L,\n")
        handle.write("P1,2020-01-15,751-8,ANC," + "9" * 40_000_000 + ",10^9/L,\n")
        handle.write("P1,2020-01-22,751-8,ANC,3.3,10^9/L,\n")
    # DuckDB alone loses the line: two rows and no reject.
    columns = ", ".join(f"'{c}': 'VARCHAR'" for c in LABS_HEADER.split(","))
    read = (
        f"read_csv('{labs}', header = true, auto_detect = false, columns = {{{columns}}}, "
        "max_line_size = 1024, store_rejects = true, rejects_table = 'rj', rejects_scan = 'rjs')"
    )
    with duckdb.connect() as con:
        assert len(con.execute(f"SELECT * FROM {read}").fetchall()) == 2
        assert con.execute("SELECT count(*) FROM rj").fetchone() == (0,)
    con = _ingest(folder, _config(max_line_bytes=1024))
    assert rows(
        con,
        "SELECT rows_read, accepted, quarantined, duplicates FROM audit.ingest_log "
        "WHERE extract = 'labs'",
    ) == [(3, 2, 1, 0)]
    assert rows(con, "SELECT reason FROM quarantine.labs") == [("malformed line 3: line too long",)]


# --------------------------------------------------------------------------- item 12: memory


def _bomb(path: Path, header: bytes, body_bytes: int, tail: bytes = b"") -> None:
    with gzip.open(path, "wb", compresslevel=9) as handle:
        handle.write(header)
        chunk = b"9" * (1 << 20)
        for _ in range(body_bytes >> 20):
            handle.write(chunk)
        handle.write(tail)


def test_a_gzip_bomb_header_is_refused_in_constant_memory(tmp_path):
    """A header line that never ends (here 300 MB from a 300 KB file): it used to be read
    whole into memory (the issue's 8 GB bomb exhausted the machine)."""
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    (folder / "labs.csv").unlink()
    _bomb(folder / "labs.csv.gz", b"patient_id,", 300 << 20)
    assert (folder / "labs.csv.gz").stat().st_size < 1 << 20
    code, err, peak_mb = child_peak_rss_mb(
        run_args(folder, tmp_path / "w.duckdb", tmp_path / "out")
    )
    assert code == 2
    assert _one_line(err + "\n").endswith(
        "labs.csv.gz: the header line is longer than 16,777,216 bytes (ingest.max_line_bytes)"
    )
    # Baseline in the same run: the same refusal path on a short header (imports alone take
    # ~300 MB, which varies by machine); reading the bomb whole would add >= 300 MB.
    _bomb(folder / "labs.csv.gz", b"patient_id," + b"9" * (17 << 20), 0)
    base_code, _, base_mb = child_peak_rss_mb(
        run_args(folder, tmp_path / "w.duckdb", tmp_path / "out")
    )
    assert base_code == 2
    assert peak_mb - base_mb < 100, f"peak memory {peak_mb:.0f} MB against {base_mb:.0f} MB"


def test_a_gzip_bomb_line_runs_within_the_memory_limit(tmp_path):
    """A 200 MB line inside a small gzip, with DuckDB limited to 256 MB: counted, quarantined,
    and the run stays well below the memory the bomb would take."""
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    (folder / "labs.csv").unlink()
    head = (
        LABS_HEADER + "\nP1,2020-01-08,751-8,ANC,3.2,10^9/L,\nP1,2020-01-15,751-8,ANC,"
    ).encode()
    _bomb(
        folder / "labs.csv.gz", head, 200 << 20, b",10^9/L,\nP1,2020-01-22,751-8,ANC,3.3,10^9/L,\n"
    )
    config = config_file(tmp_path / "c.yaml", {"runtime": {"memory_limit_mb": 256}})
    warehouse = tmp_path / "w.duckdb"
    code, err, peak_mb = child_peak_rss_mb(
        run_args(folder, warehouse, tmp_path / "out", "--config", str(config))
    )
    assert code == 0, err
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert rows(
            con,
            "SELECT rows_read, accepted, quarantined FROM audit.ingest_log WHERE extract = 'labs'",
        ) == [(3, 2, 1)]
    assert peak_mb < 1500, f"peak memory {peak_mb:.0f} MB"


# --------------------------------------------------------------------------- item 12: paths


def _paths_run(tmp_path, capsys, warehouse: Path, out: Path | None = None) -> str:
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    code, err = cli(run_args(folder, warehouse, out or tmp_path / "out"), capsys)
    assert code == 2
    return _one_line(err)


def test_a_warehouse_path_that_is_a_folder_is_one_line(tmp_path, capsys):
    folder = tmp_path / "wh"
    folder.mkdir()
    message = _paths_run(tmp_path, capsys, folder)
    assert (
        message
        == f"--warehouse {folder}: is a folder; give a file such as {folder / 'trscohort.duckdb'}"
    )


def test_a_warehouse_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    message = _paths_run(tmp_path, capsys, blocker / "t.duckdb")
    assert message.startswith(f"--warehouse: cannot create {blocker}")


def test_an_unwritable_warehouse_folder_is_one_line(tmp_path, capsys):
    """/proc refuses new files even to root (a chmod would not stop root)."""
    message = _paths_run(tmp_path, capsys, Path("/proc/t.duckdb"))
    assert message.startswith("--warehouse /proc/t.duckdb: cannot write in /proc")


def test_an_out_path_that_is_a_file_is_one_line(tmp_path, capsys):
    out = tmp_path / "out.html"
    out.write_text("")
    message = _paths_run(tmp_path, capsys, tmp_path / "w.duckdb", out)
    assert message == f"--out {out}: is a file; give a folder"


@pytest.mark.parametrize("limit", ["memory_limit_mb: 256", "memory_limit_pct: 25"])
def test_duckdb_gets_the_memory_limit_and_a_private_spill_folder(tmp_path, limit):
    from trscohort.runner import duckdb_settings

    config = load_config(config_file(tmp_path / "c.yaml", {"runtime": _yaml(limit)}))
    settings = duckdb_settings(config, tmp_path / "spill")
    assert settings["temp_directory"] == str(tmp_path / "spill")
    megabytes = int(settings["memory_limit"].removesuffix("MB"))
    with duckdb.connect(config=settings) as con:
        limit_text = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit_text.endswith(("MiB", "GiB", "MB", "GB"))
    if "mb" in limit:
        assert megabytes == 256
    else:
        assert megabytes >= 64


def _yaml(text: str) -> dict:
    return yaml.safe_load(textwrap.dedent(text))


def test_duckdb_threads_come_from_runtime_threads(tmp_path):
    """runtime.threads (issue 17) reaches DuckDB; null leaves DuckDB's one-per-core default."""
    from trscohort.runner import duckdb_settings

    config = load_config(config_file(tmp_path / "c.yaml", {"runtime": {"threads": 1}}))
    settings = duckdb_settings(config, tmp_path / "spill")
    with duckdb.connect(config=settings) as con:
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
    assert "threads" not in duckdb_settings(load_config(None), tmp_path / "spill")


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_runtime_threads_out_of_range_is_a_usage_error(tmp_path, bad):
    from trscohort.errors import UsageError

    with pytest.raises(UsageError, match="threads"):
        load_config(config_file(tmp_path / "c.yaml", {"runtime": {"threads": bad}}))
