"""Issue 17, daily refresh: an extract the previous warehouse already ingested from the same file
(sha256), config, mapping, reference data and patients is copied from it instead of ingested
again, with the same tables and counts; any change ingests it in full."""

from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb

from tests.conftest import BASE_EXTRACTS, write_extracts
from trscohort.config import load_config
from trscohort.contract import EXTRACT_ORDER, discover_sources, load_mapping
from trscohort.ingest import ingest_extract
from trscohort.ingest.staging import load_reference

LAYERS = ("raw", "staging", "quarantine")


def ingest_into(warehouse: Path, folder: Path, previous: Path | None, config=None) -> dict:
    """Reference + every extract into `warehouse`; returns {extract: reused}."""
    config = config or load_config()
    mapping = load_mapping(None)
    reused = {}
    with duckdb.connect(str(warehouse)) as con:
        load_reference(con, config, mapping)
        sources = discover_sources(folder, mapping)
        for extract in EXTRACT_ORDER:
            result = ingest_extract(con, extract, sources.get(extract), mapping, config, previous)
            reused[extract] = result.reused
    return reused


def contents(warehouse: Path, extract: str) -> dict:
    """The extract's raw, staging and quarantine rows in table order, and its counts."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = {
            layer: con.execute(f"SELECT * FROM {layer}.{extract}").fetchall() for layer in LAYERS
        }
        found["counts"] = con.execute(
            "SELECT sha256, fingerprint, rows_read, accepted, quarantined, duplicates "
            "FROM audit.ingest_log WHERE extract = ?",
            [extract],
        ).fetchone()
    return found


def given_extracts(tmp_path) -> dict[str, str]:
    # one bad lab row (quarantined) and one exact duplicate, so every count is at work
    labs = textwrap.dedent(BASE_EXTRACTS["labs"]).strip().splitlines()
    labs += ["P1,2020-02-01,751-8,ANC,abc,10^9/L,", labs[1]]
    return {**BASE_EXTRACTS, "labs": "\n".join(labs)}


def test_unchanged_extracts_are_copied_with_the_same_tables_and_counts(tmp_path):
    folder = write_extracts(tmp_path / "in", given_extracts(tmp_path))
    first = tmp_path / "first.duckdb"
    assert not any(ingest_into(first, folder, None).values())
    second = tmp_path / "second.duckdb"
    reused = ingest_into(second, folder, first)
    given = [e for e in EXTRACT_ORDER if (folder / f"{e}.csv").is_file()]
    assert [e for e, r in reused.items() if r] == given  # not the optional ones not given
    for extract in EXTRACT_ORDER:
        assert contents(second, extract) == contents(first, extract), extract
    with duckdb.connect(str(second), read_only=True) as con:
        read, accepted, quarantined, duplicates = con.execute(
            "SELECT rows_read, accepted, quarantined, duplicates FROM audit.ingest_log "
            "WHERE extract = 'labs'"
        ).fetchone()
    assert quarantined >= 1 and duplicates == 1
    assert read == accepted + quarantined + duplicates


def test_a_changed_extract_is_ingested_and_the_others_copied(tmp_path):
    extracts = given_extracts(tmp_path)
    folder = write_extracts(tmp_path / "in", extracts)
    first = tmp_path / "first.duckdb"
    ingest_into(first, folder, None)
    with (folder / "labs.csv").open("a") as labs:
        labs.write("P2,2020-02-02,751-8,ANC,2.5,10^9/L,\n")  # one new row, none changed
    second = tmp_path / "second.duckdb"
    reused = ingest_into(second, folder, first)
    assert reused["labs"] is False and reused["patients"] is True
    assert reused["prescriptions"] is True and reused["diagnoses"] is True
    fresh = tmp_path / "fresh.duckdb"
    ingest_into(fresh, folder, None)
    for extract in EXTRACT_ORDER:  # the refreshed warehouse is the one a full ingest makes
        assert contents(second, extract) == contents(fresh, extract), extract
    assert contents(second, "labs")["counts"][2] == contents(first, "labs")["counts"][2] + 1


def test_changed_patients_ingest_every_extract_again(tmp_path):
    """Staging checks each row's patient (known, born before the date): new patients can
    change every other extract's staging, so none is copied."""
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    first = tmp_path / "first.duckdb"
    ingest_into(first, folder, None)
    with (folder / "patients.csv").open("a") as patients:
        patients.write("P3,1990-01-01,F,false,north,\n")
    reused = ingest_into(tmp_path / "second.duckdb", folder, first)
    assert not any(reused.values())


def test_a_changed_ingest_setting_ingests_every_extract_again(tmp_path):
    from tests.security.runs import config_file

    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    first = tmp_path / "first.duckdb"
    ingest_into(first, folder, None)
    changed = load_config(
        config_file(tmp_path / "c.yaml", {"ingest": {"earliest_plausible_date": "1950-01-01"}})
    )
    assert not any(ingest_into(tmp_path / "second.duckdb", folder, first, changed).values())


def test_a_missing_or_foreign_previous_warehouse_means_a_full_ingest(tmp_path):
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    assert not any(ingest_into(tmp_path / "a.duckdb", folder, tmp_path / "none.duckdb").values())
    foreign = tmp_path / "foreign.duckdb"
    foreign.write_bytes(b"not a database")
    assert not any(ingest_into(tmp_path / "b.duckdb", folder, foreign).values())
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    assert not any(ingest_into(tmp_path / "c.duckdb", folder, empty).values())
