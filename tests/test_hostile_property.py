"""Property: whatever rows arrive, every row read is accepted, quarantined or a duplicate."""

from __future__ import annotations

import csv
import io

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BASE_EXTRACTS, write_extracts
from trscohort.config import load_config
from trscohort.contract import SiteMapping, SourceFile
from trscohort.ingest import ingest_extract
from trscohort.ingest.staging import load_reference

HEADER = ["patient_id", "collected_at", "test_code", "test_name", "value", "unit", "reference_high"]

# Any text but a bare carriage return: csv.writer leaves it unquoted, and DuckDB's strict CSV
# parser then stops with "reached an invalid state" (the run exits 2 with that message).
texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\r"),
    max_size=12,
)
cells = {
    "patient_id": st.sampled_from(["P1", "P2", "P9", "", " P1 "]) | texts,
    "collected_at": st.sampled_from(
        ["2020-01-08", "2020-01-08 10:30:00", "08/01/2020", "2023-02-30", "1850-01-01", ""]
    )
    | texts,
    "test_code": st.sampled_from(["751-8", "6896-5", "4548-4", ""]) | texts,
    "test_name": st.sampled_from(["ANC", "Clozapine", "HbA1c", "Sodium", ""]) | texts,
    "value": st.sampled_from(["3.2", "3,2", "1,500", "-5", "<0.5", "nan", "1e400", ""])
    | st.floats(allow_nan=True).map(str)
    | texts,
    "unit": st.sampled_from(["10^9/L", "/µL", "ng/mL", "%", "foo", ""]) | texts,
    "reference_high": st.sampled_from(["", "7.5", "x"]) | texts,
}
lab_row = st.fixed_dictionaries(cells).map(lambda r: [r[c] for c in HEADER])
special = st.sampled_from([HEADER, ["P1", "2020-01-08", "751-8"], [*HEADER, "extra", "more"]])


@st.composite
def lab_files(draw) -> list[list[str]]:
    rows = draw(st.lists(lab_row | special, max_size=25))
    # Exact duplicates of earlier rows.
    if rows:
        rows += draw(st.lists(st.sampled_from(rows), max_size=5))
    return rows


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = write_extracts(tmp_path_factory.mktemp("prop") / "in", BASE_EXTRACTS)
    con = duckdb.connect()
    config = load_config()
    load_reference(con, config)
    ingest_extract(
        con, "patients", SourceFile("patients", folder / "patients.csv"), SiteMapping(), config
    )
    return con, folder, config


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=lab_files())
def test_every_row_is_accounted_for(base, rows):
    con, folder, config = base
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    path = folder / "labs.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    result = ingest_extract(con, "labs", SourceFile("labs", path), SiteMapping(), config)
    counts = result.counts
    assert counts.read == counts.accepted + counts.quarantined + counts.duplicates
    assert counts.read == len(rows)  # one raw row per record, malformed ones included
    staged = con.execute("SELECT count(*) FROM staging.labs").fetchone()[0]
    quarantined = con.execute("SELECT count(*) FROM quarantine.labs").fetchone()[0]
    assert (staged, quarantined) == (counts.accepted, counts.quarantined)
    assert con.execute("SELECT count(*) FROM quarantine.labs WHERE reason IS NULL").fetchone() == (
        0,
    )
    # Every repeated header row is quarantined as such.
    headers = sum(1 for r in rows if r == HEADER)
    assert (
        con.execute(
            "SELECT count(*) FROM quarantine.labs WHERE reason = 'repeated header row'"
        ).fetchone()[0]
        == headers
    )
