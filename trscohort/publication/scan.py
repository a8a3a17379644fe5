"""The privacy scan: no patient identifier or birth date in any published file.

It is the last line of defence (pages hold aggregates by construction) and runs on everything a
run publishes before it is swapped in (`trscohort.runner`), and on the dashboards as they are
written (`write_dashboards`).

What is compared: every whole token of a file's text, plus the tokens a reader or a program
gets out of it once decoded: an HTML page's text and attribute values with entities resolved,
and every string (key or value) of the JSON data embedded in `<script type="application/json">`
with escapes resolved. A JSON file is its text and its strings. Plotly's bundle, byte for byte
as the plotly package ships it, is vendor code and is skipped.

How: the words are split into whole tokens (letters, digits and `_`, joined by `-` and `.`, and
by a comma only inside a thousands-separated number such as 1,203), and a token is a hit when
it equals a patient id, or a birth date (also as the date part of `1980-01-02T10:00`). So `P1`
never matches `P10`, and an id `8` never matches `utf-8`. Two kinds of values are not searched:
ids of fewer than six digits and nothing else (they cannot be told from counts, weeks, years),
and values of the published configuration (printed on every page, e.g. the 1900-01-01
`ingest.earliest_plausible_date` a site may also use as a placeholder birth date).

Matching happens inside DuckDB (the page tokens joined to the warehouse's distinct ids), so no
Python loop walks the patients. Each id column is filtered by the (few thousand) page tokens
before the distinct: a hash probe per row instead of a distinct over every id of every table
(3.5 s -> 0.7 s at 100,000 patients). The error names the file and how many ids or birth dates it
holds, never the values themselves.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import duckdb

from trscohort.publication.cores import map_on_cores

TOKEN = re.compile(r"[A-Za-z0-9_]+(?:(?:[-.]|,(?=\d{3}(?!\d)))[A-Za-z0-9_]+)*")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SHORT_NUMBER = re.compile(r"[0-9]{1,5}")  # the ids never searched (see the docstring)
VENDOR_FILES = {"plotly.min.js"}


class PrivacyError(RuntimeError):
    """A published file contains a patient identifier or birth date."""


# --------------------------------------------------------------------------- what a file says


# A JSON string literal (unrolled: no backtracking on long texts).
JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)


def _escaped_json_strings(text: str) -> list[str]:
    """The strings (keys and values) of JSON text that are written with an escape
    (`\\u0030`, `\\/`), decoded. The others stand in the text as they are, between quotes,
    so the text's own tokens already hold theirs: a page's data is not walked value by value
    (a million numbers on the quality-indicator page at 1,000,000 patients)."""
    found = []
    for literal in JSON_STRING.findall(text):
        if "\\" in literal:
            with contextlib.suppress(ValueError):
                found.append(json.loads(literal))
    return found


class _PageText(HTMLParser):
    """Text, attribute values (entities resolved) and embedded JSON strings of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._json: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parts += [v for _, v in attrs if v]
        if tag == "script" and "json" in (dict(attrs).get("type") or ""):
            self._json = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._json is not None:
            self.parts += _escaped_json_strings("".join(self._json))
            self._json = None

    def handle_data(self, data: str) -> None:
        if self._json is not None:
            self._json.append(data)
        else:
            self.parts.append(data)


def published_strings(path: Path) -> list[str]:
    """The strings of a published file that could carry data (see the module docstring)."""
    if path.name in VENDOR_FILES and _is_vendor_bundle(path):
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        parser = _PageText()
        parser.feed(text)
        parser.close()
        return [text, *parser.parts]
    if suffix == ".json":
        return [text, *_escaped_json_strings(text)]
    return [text]


@cache
def _plotly_bundle() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _is_vendor_bundle(path: Path) -> bool:
    return path.read_text(encoding="utf-8", errors="replace") == _plotly_bundle()


def tokens(strings: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for text in strings:
        found.update(TOKEN.findall(text))
    return found


def _date_parts(found: set[str]) -> set[str]:
    """`1980-01-02` of a token such as `1980-01-02T10.00` (T joins a timestamp's parts)."""
    return {t[:10] for t in found if len(t) > 10 and t[10] == "T" and ISO_DATE.match(t[:10])}


# --------------------------------------------------------------------------- the scan


@dataclass(frozen=True)
class Finding:
    file: Path
    ids: int
    birth_dates: int

    def describe(self, root: Path | None = None) -> str:
        name = self.file.relative_to(root) if root else self.file.name
        what = []
        if self.ids:
            what.append(f"{self.ids} patient id{'s' if self.ids > 1 else ''}")
        if self.birth_dates:
            what.append(f"{self.birth_dates} birth date{'s' if self.birth_dates > 1 else ''}")
        return f"{name} ({' and '.join(what)})"


def _identifier_sql(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    """SQL for the ids (every raw and staged table with patient_id) and ISO birth dates
    (staged patients, and raw ones already written as ISO dates) that are among the scanned
    tokens. Each table is filtered on its own before the union: the union of every id of a
    large warehouse (60 million lab rows at 1,000,000 patients) is not built."""
    tables = con.execute(
        "SELECT DISTINCT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema IN ('raw', 'staging') AND column_name IN ('patient_id', 'birth_date')"
    ).fetchall()
    token = "v IN (SELECT token FROM scan_tokens)"
    # A staged id is its raw id trimmed (staging's `blank` macro): where the raw table of the
    # same extract has its ids, the staged ones are among them (half the rows at 1M).
    raw_ids = {t for s, t, c in tables if s == "raw" and c == "patient_id"}
    ids = [
        _trimmed_ids_among_tokens(f'"{s}"."{t}"')
        for s, t, c in tables
        if c == "patient_id" and not (s == "staging" and t in raw_ids)
    ]
    births = [
        f'SELECT v FROM (SELECT left(trim(CAST(birth_date AS VARCHAR)), 10) AS v FROM "{s}"."{t}") '
        f"WHERE {token}"
        for s, t, c in tables
        if c == "birth_date" and t == "patients"
    ]
    none = "SELECT CAST(NULL AS VARCHAR) AS v WHERE FALSE"
    return " UNION ALL ".join(ids) or none, " UNION ALL ".join(births) or none


def _trimmed_ids_among_tokens(table: str) -> str:
    """The ids of `table`, trimmed, that are scanned tokens. An id without a space at either
    end is itself trimmed, so it is probed as it is stored (a hash probe the scan can filter
    on); only ids padded with spaces are trimmed before their probe. The 155 million ids of
    1,000,000 patients against the tokens of their dashboards: 1.2-1.4 s, where trimming every
    id first took 1.8-2.4 s."""
    value = f"SELECT CAST(patient_id AS VARCHAR) AS v FROM {table}"
    return (
        f"SELECT v FROM ({value}) WHERE v IN (SELECT token FROM scan_tokens) UNION ALL "
        f"SELECT trim(v) FROM ({value}) WHERE (prefix(v, ' ') OR suffix(v, ' ')) "
        f"AND trim(v) IN (SELECT token FROM scan_tokens)"
    )


# Pages larger than this in all are read on every core (their tokens: 1.0 s on one core for
# the dashboards of 1,000,000 patients at 30 sites, 5.7 MB of pages; 2.7 s when first measured).
SCAN_ON_CORES = 2_000_000


def _file_tokens(path: Path) -> set[str]:
    """The tokens of one file to look up, with the date part of each timestamp: not the short
    numbers, which are never searched (an id of fewer than six digits and nothing else)."""
    found = tokens(published_strings(path))
    return {t for t in found if not SHORT_NUMBER.fullmatch(t)} | _date_parts(found)


def scan_files(
    con: duckdb.DuckDBPyConnection, files: Iterable[Path], *, public: Iterable[str] = ()
) -> list[Finding]:
    """Files holding a patient id or birth date of the warehouse behind `con` (temp tables
    only: works on a read-only connection)."""
    paths = [Path(p) for p in files]
    costs = [0 if p.name in VENDOR_FILES else p.stat().st_size for p in paths]
    rows = []
    for path, found in zip(
        paths, map_on_cores(_file_tokens, paths, costs, min_cost=SCAN_ON_CORES), strict=True
    ):
        rows += [(str(path), t) for t in found]
    if not rows:
        return []
    allowed = sorted(tokens(public))
    ids_sql, births_sql = _identifier_sql(con)
    cursor = con.cursor()
    try:
        cursor.execute(
            "CREATE OR REPLACE TEMP TABLE scan_tokens AS "
            "SELECT unnest(CAST(? AS VARCHAR[])) AS file, unnest(CAST(? AS VARCHAR[])) AS token",
            [[f for f, _ in rows], [t for _, t in rows]],
        )
        cursor.execute(
            "CREATE OR REPLACE TEMP TABLE scan_public AS "
            "SELECT unnest(CAST(? AS VARCHAR[])) AS token",
            [allowed],
        )
        hits = cursor.execute(
            f"""
            WITH ids AS MATERIALIZED (
                -- no short number among the tokens (_file_tokens): its filter, here, would
                -- run on every id of every table before the tokens (0.6 -> 1.0 s at 1M)
                SELECT DISTINCT v FROM ({ids_sql}) WHERE v IS NOT NULL AND v <> ''
            ),
            births AS MATERIALIZED (
                SELECT DISTINCT v FROM ({births_sql})
                WHERE regexp_full_match(v, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')
            ),
            searched AS (SELECT * FROM scan_tokens WHERE token NOT IN (SELECT token FROM scan_public))
            SELECT file,
                   count(DISTINCT token) FILTER (WHERE token IN (SELECT v FROM ids)),
                   count(DISTINCT token) FILTER (WHERE token IN (SELECT v FROM births))
            FROM searched GROUP BY file
            HAVING count(*) FILTER (WHERE token IN (SELECT v FROM ids)
                                       OR token IN (SELECT v FROM births)) > 0
            ORDER BY file
            """
        ).fetchall()
    finally:
        cursor.execute("DROP TABLE IF EXISTS scan_tokens")
        cursor.execute("DROP TABLE IF EXISTS scan_public")
        cursor.close()
    return [Finding(Path(f), int(i), int(b)) for f, i, b in hits]


def published_files(directory: Path) -> list[Path]:
    return sorted(p for p in Path(directory).rglob("*") if p.is_file())


def check_files(
    con: duckdb.DuckDBPyConnection,
    files: Iterable[Path],
    *,
    public: Iterable[str] = (),
    root: Path | None = None,
    what: str = "published outputs",
) -> None:
    """Raise PrivacyError naming each file that holds identifying data (never the data)."""
    found = scan_files(con, files, public=public)
    if found:
        listed = "; ".join(f.describe(root) for f in found[:5])
        more = f" and {len(found) - 5} more files" if len(found) > 5 else ""
        raise PrivacyError(
            f"{what} contain identifying data: {listed}{more}; nothing was published"
        )
