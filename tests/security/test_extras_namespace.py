"""Issue 15, item 8: extra input columns live in their own namespace (`extras`), so no input
column name can shadow a name the ingest uses internally.

An extra column named `_copy`, `_reason`, `analyte`, `d_concept_id`, `min_value` or `unit_key`
used to drop or corrupt data or bypass validation (an empty `_copy` made every prescription a
duplicate, exit 0). Here every internal name is tried as an extra column of every extract: the
staged and quarantined data and the row accounting must be exactly those of the same files
without the extra columns, and each extra value must be kept, under its own name, in `extras`.
"""

from __future__ import annotations

import csv
import io
import textwrap
from functools import cache
from pathlib import Path

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from tests.conftest import BASE_EXTRACTS, ingest_folder, write_extracts
from trscohort.config import load_config
from trscohort.contract import EXTRACTS, SiteMapping
from trscohort.ingest.staging import template_context
from trscohort.models import Model, render

EXTRACT_FILES = {
    **BASE_EXTRACTS,
    # Two prescriptions and an exact duplicate of the first (counted as a duplicate).
    "prescriptions": """
        patient_id,drug,start_date,end_date,daily_dose_mg,route,prescription_id
        P1,olanzapine,2020-01-01,2020-03-01,20,oral,RX1
        P1,olanzapine,2020-01-01,2020-03-01,20,oral,RX1
        P2,risperidone,2020-02-01,,4,oral,RX2
    """,
    # One good ANC, one value outside the possible range, one unknown unit.
    "labs": """
        patient_id,collected_at,test_code,test_name,value,unit,reference_high
        P1,2020-01-08,751-8,ANC,3.2,10^9/L,
        P1,2020-01-15,751-8,ANC,999999,10^9/L,
        P2,2020-01-15,751-8,ANC,3.1,furlongs,
    """,
    "dispensings": """
        patient_id,drug,dispensed_date,days_supply
        P1,olanzapine,2020-01-05,28
    """,
    "assessments": """
        patient_id,assessed_at,instrument,score
        P1,2020-02-01,PANSS,85
        P1,2020-02-02,PANSS,999
    """,
    # One open period, one ending before it starts (quarantined).
    "observation_periods": """
        patient_id,start_date,end_date
        P1,2015-01-01,
        P2,2021-01-01,2020-01-01
    """,
}


@cache
def internal_names() -> tuple[str, ...]:
    """Every name the ingest uses: bookkeeping columns, every canonical column, and every
    identifier (column, alias, CTE) in the rendered staging SQL of every extract."""
    names = {"_row", "_problem", "_reason", "_copy", "source_row", "reason", "extras"}
    for extract in EXTRACTS.values():
        names |= set(extract.column_names)
        context = template_context(load_config(), SiteMapping(), extract.name)
        sql = render(Model("staging", extract.name), context)
        tree = sqlglot.parse_one(sql, read="duckdb")
        names |= {i.name for i in tree.find_all(exp.Identifier)}
    return tuple(sorted(n for n in names if n))


def test_the_internal_names_include_those_of_the_issue():
    assert {"_copy", "_reason", "analyte", "d_concept_id", "min_value", "unit_key"} <= set(
        internal_names()
    )
    assert len(internal_names()) > 80


def _with_extras(text: str, extras: dict[str, str]) -> str:
    """The CSV `text` with columns `extras` (name -> value on every row) appended."""
    lines = textwrap.dedent(text).strip().splitlines()
    rows = list(csv.reader(lines))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*rows[0], *extras])
    for row in rows[1:]:
        writer.writerow([*row, *extras.values()])
    return out.getvalue()


def _content(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """Staging and quarantine of every extract without `extras`, and the ingest log."""
    found = {
        "log": con.execute(
            "SELECT extract, rows_read, accepted, quarantined, duplicates FROM audit.ingest_log "
            "ORDER BY 1"
        ).fetchall()
    }
    for extract in EXTRACTS:
        for schema in ("staging", "quarantine"):
            columns = [
                c
                for (c, *_) in con.execute(f"DESCRIBE {schema}.{extract}").fetchall()
                if c != "extras"
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            found[f"{schema}.{extract}"] = (
                columns,
                sorted(
                    con.execute(f"SELECT {select} FROM {schema}.{extract}").fetchall(), key=repr
                ),
            )
    return found


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> dict[str, list]:
    folder = write_extracts(tmp_path_factory.mktemp("plain") / "in", EXTRACT_FILES)
    return _content(ingest_folder(folder))


def _value(name: str) -> str:
    """Values chosen to do harm if they landed in the internal column: empty (an empty `_copy`
    made every row a duplicate), a reason text, a number."""
    return {"_copy": "", "_row": "1", "_reason": "", "_problem": ""}.get(name, f"x-{name}")


def _as_read(value: str) -> str | None:
    return value or None  # an empty CSV field reads as NULL, like every other column


def test_every_internal_name_as_an_extra_column_of_every_extract(tmp_path, baseline):
    files = {}
    for extract, text in EXTRACT_FILES.items():
        canonical = set(EXTRACTS[extract].column_names)
        names = [n for n in internal_names() if n not in canonical]
        files[extract] = _with_extras(text, {n: _value(n) for n in names})
    folder = tmp_path / "in"
    folder.mkdir()
    for extract, text in files.items():
        (folder / f"{extract}.csv").write_text(text)
    con = ingest_folder(folder)
    assert _content(con) == baseline
    # Every extra value is kept, under the name the file gave it.
    for extract in EXTRACTS:
        canonical = set(EXTRACTS[extract].column_names)
        names = [n for n in internal_names() if n not in canonical]
        kept = con.execute(f"SELECT extras FROM staging.{extract} LIMIT 1").fetchone()[0]
        assert kept == {n: _as_read(_value(n)) for n in names}, extract


names = st.lists(
    st.sampled_from(internal_names()).flatmap(lambda n: st.sampled_from([n, n.upper(), n.title()])),
    min_size=1,
    max_size=8,
    unique_by=str.lower,
)
values = st.sampled_from(["", "0", "1", "NULL", "P1", "ANC", "10^9/L", "x, y", '"q"'])


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(extra_names=names, data=st.data())
def test_any_internal_names_in_any_case_as_extras_of_labs(tmp_path, baseline, extra_names, data):
    canonical = {c.lower() for c in EXTRACTS["labs"].column_names}
    extra_names = [n for n in extra_names if n.lower() not in canonical]
    extras = {n: data.draw(values) for n in extra_names}
    folder = write_extracts(Path(tmp_path) / f"in{abs(hash(tuple(extras.items())))}", EXTRACT_FILES)
    (folder / "labs.csv").write_text(_with_extras(EXTRACT_FILES["labs"], extras))
    con = ingest_folder(folder)
    assert _content(con) == baseline
    if extras:
        kept = con.execute("SELECT extras FROM staging.labs LIMIT 1").fetchone()[0]
        assert kept == {n: _as_read(v) for n, v in extras.items()}
