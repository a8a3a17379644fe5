"""Issue 15, item 3: the privacy scanner matches identifiers as whole tokens of text and data,
not substrings of markup, and its error never quotes what it found."""

from __future__ import annotations

import duckdb
import pytest

from trscohort.dashboards import PrivacyError, write_dashboards
from trscohort.dashboards.privacy import check_published


def _warehouse(ids: list[str], births: list[str]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging")
    con.execute("CREATE TABLE staging.patients (patient_id VARCHAR, birth_date DATE)")
    con.executemany(
        "INSERT INTO staging.patients VALUES (?, CAST(? AS DATE))",
        list(zip(ids, births, strict=True)),
    )
    return con


def test_integer_patient_ids_do_not_block_the_dashboards(tmp_path):
    """Ids 1..30 used to match `utf-8` in every page's markup, so no page could be written."""
    con = _warehouse([str(i) for i in range(1, 31)], ["1980-01-02"] * 30)
    published = write_dashboards(con, tmp_path)
    assert published.index.is_file()
    assert 'charset="utf-8"' in published.index.read_text()


def test_a_placeholder_birth_date_equal_to_a_config_value_does_not_block(tmp_path):
    """1900-01-01 is a common placeholder birth date and ingest.earliest_plausible_date, which
    every page prints in its configuration block."""
    con = _warehouse(["P0000001", "P0000002"], ["1900-01-01", "1975-05-06"])
    published = write_dashboards(con, tmp_path)
    assert "1900-01-01" in published.index.read_text()


@pytest.mark.parametrize(
    ("page", "what"),
    [
        ("<p>seen P0000042 twice</p>", "1 patient id"),
        ('<div title="P0000042">x</div>', "1 patient id"),
        ('<script type="application/json">{"x": ["P0000042"]}</script>', "1 patient id"),
        ('<script type="application/json">{"x": ["P\\u0030000042"]}</script>', "1 patient id"),
        ('<script type="application/json">{"P\\u0030000042": 1}</script>', "1 patient id"),
        (
            '<script type="application/json">{"x": "a \\"q\\" P\\u0030000042"}</script>',
            "1 patient id",
        ),
        ('<script type="application/json">{"x": ["<\\/p> P0000042"]}</script>', "1 patient id"),
        (
            '<script type="application/json">{"n": [1, 2, 3], "d": "1980-01-02"}</script>',
            "1 birth date",
        ),
        ("<p>P&#48;000042</p>", "1 patient id"),
        ("<p>born 1980-01-02</p>", "1 birth date"),
        ("<p>at 1980-01-02T10:30</p>", "1 birth date"),
        ("<p>MRN 12345678</p>", "1 patient id"),
        ("<p>P0000042 on 1980-01-02</p>", "1 patient id and 1 birth date"),
    ],
)
def test_identifiers_are_found_in_text_and_data(tmp_path, page, what):
    con = _warehouse(["P0000042", "12345678"], ["1980-01-02", "1970-03-03"])
    path = tmp_path / "page.html"
    path.write_text(f"<html><body>{page}</body></html>")
    with pytest.raises(PrivacyError) as caught:
        check_published(con, [path])
    message = str(caught.value)
    assert f"page.html ({what})" in message
    for secret in ("P0000042", "12345678", "1980-01-02"):
        assert secret not in message  # the message never repeats the identifying value


@pytest.mark.parametrize(
    "page",
    [
        "<p>P00000421 and xP0000042</p>",  # longer tokens that contain the id
        '<meta charset="utf-8"><p>week 8 of 30</p>',  # short numeric ids are not searched
        "<p>1,234,567 results, 12345678.5 mg</p>",  # numbers that contain a long numeric id
        "<p>1980-01-023</p>",
    ],
)
def test_substrings_do_not_match(tmp_path, page):
    con = _warehouse(["P0000042", "8", "12345678", "1234567"], ["1980-01-02"] * 4)
    path = tmp_path / "page.html"
    path.write_text(page)
    check_published(con, [path])


@pytest.mark.parametrize(
    ("page", "what"),
    [
        ("<p>P0000077</p>", "1 patient id"),  # raw ' P0000077 ', staged 'P0000077'
        ("<p>P0000088</p>", "1 patient id"),  # only in a staged table with no raw table
        ("<p>P0000099</p>", "1 patient id"),  # an orphan lab row, never staged
        ("<p>P0000066</p>", "1 patient id"),  # raw ' P0000066': a space before only
        ("<p>P0000055 and P0000066</p>", "2 patient ids"),  # raw 'P0000055  ': after only
        ("<p>P000005 P00000555 P0000055x</p>", None),  # near misses of a padded id
    ],
)
def test_ids_of_raw_and_staged_tables_are_found(tmp_path, page, what):
    """Staged ids are their raw ids trimmed, so a staged table whose raw table has ids is not
    read twice; a staged table without a raw one still is, and raw ids are compared trimmed."""
    con = _warehouse(["P0000001"], ["1980-01-02"])
    con.execute("CREATE SCHEMA raw")
    con.execute("CREATE TABLE raw.labs (patient_id VARCHAR)")
    con.execute(
        "INSERT INTO raw.labs VALUES (' P0000077 '), ('P0000099'), (' P0000066'), ('P0000055  ')"
    )
    con.execute("CREATE TABLE staging.labs (patient_id VARCHAR)")
    con.execute("INSERT INTO staging.labs VALUES ('P0000077')")
    con.execute("CREATE TABLE staging.observation_periods (patient_id VARCHAR)")
    con.execute("INSERT INTO staging.observation_periods VALUES ('P0000088')")
    path = tmp_path / "page.html"
    path.write_text(f"<html><body>{page}</body></html>")
    if what is None:
        check_published(con, [path])
        return
    with pytest.raises(PrivacyError) as caught:
        check_published(con, [path])
    assert f"page.html ({what})" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ('{"rows": [[1, 2], [3, "P\\u0030000042"]]}', "1 patient id"),  # written escaped
        ('{"P0000042": [1, 2]}', "1 patient id"),  # a key as it is
        ('{"rows": [[1, 2, 12345678]]}', "1 patient id"),  # a long numeric id as a number
        ('{"rows": [1, 2, 3], "note": "week 8 of 30"', None),  # not JSON after all: its text
    ],
)
def test_identifiers_are_found_in_a_json_file(tmp_path, text, what):
    """A JSON file: its text as it is and its strings decoded; the numbers of its arrays are
    tokens of the text (short ones, like counts, are never searched)."""
    con = _warehouse(["P0000042", "12345678", "8"], ["1980-01-02"] * 3)
    path = tmp_path / "data.json"
    path.write_text(text)
    if what is None:
        check_published(con, [path])
        return
    with pytest.raises(PrivacyError) as caught:
        check_published(con, [path])
    assert f"data.json ({what})" in str(caught.value)
