"""Rows per extract as published: read, accepted, quarantined (by reason) and duplicates.

The dashboards (rows per extract) and the data-quality report (quarantined rows by reason) show
parts of the same counts. Protected one table at a time, one page could show a count the other
withheld as a complement (a quarantined total beside a small reason count), and the two together
would give the small count back. So both read this one table, with every relation between its
cells (read = accepted + quarantined + duplicates; quarantined = its reasons), protected once.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Hashable

import duckdb

from trscohort.publication.suppression import CountTable, Protected, protect
from trscohort.quality.masking import is_sensitive, masked

INGEST_LOG = "audit.ingest_log"
MEASURES = ("accepted", "quarantined", "duplicates")
UNRECORDED = "(reason not recorded)"
RECORDED = "quarantined (recorded)"

ANY_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The word before a quote starts at a word boundary: without `\b` each letter of a long reason
# was tried as a start (0.06 ms per reason; 34,588 reasons twice per report at 1,000,000
# patients: 2.3 s of each of the run's 31 report writes).
QUOTED = re.compile(r"(?:\b(\w+))?(\s*:?\s*)'([^']*)'")


def masked_reason(reason: str | None) -> str:
    """A quarantine reason as it may be published: a quoted identifier or date keeps only its
    shape (`unknown patient_id 'AA9999999'`), other quoted values (a unit, 'n/a') stay, and
    any date in the text is shown as 9999-99-99."""
    text = reason or "(no reason)"
    if "'" in text:
        text = _masked_quotes(text)
    # A date outside quotes too ("birth_date outside plausible range: 1880-01-01").
    return ANY_DATE.sub("9999-99-99", text)


def _masked_quotes(text: str) -> str:
    """Each quoted value masked by the word before it. A raw value may hold an apostrophe
    (`unknown patient_id 'P12'345678'`): after an identifier's or a date's word the value runs
    to the reason's last quote, so no part of it is left as written (a value always ends its
    reason; masking more than the value is safe, less is not)."""
    out, pos = [], 0
    while found := QUOTED.search(text, pos):
        word, value, end = found.group(1) or "", found.group(3), found.end()
        if "'" in text[end:] and is_sensitive(word):
            last = text.rindex("'")
            value, end = text[found.start(3) : last], last + 1
        out.append(f"{text[pos : found.start()]}{word}{found.group(2)}{masked(value, word)}")
        pos = end
    return "".join(out) + text[pos:]


def reason_key(reason: str) -> tuple[Hashable, ...]:
    """The measure key of one quarantine reason's cell (beside "accepted", "read", ...)."""
    return ("reason", reason)


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def quarantine_reasons(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Rows per extract (quarantine table) and masked reason; ids masked to one shape fall into
    one reason."""
    tables = [
        t
        for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'quarantine' "
            "ORDER BY table_name"
        ).fetchall()
    ]
    counts: dict[str, dict[str, int]] = {}
    for table in tables:
        columns = {c for (c, *_) in con.execute(f"DESCRIBE quarantine.{table}").fetchall()}
        if "reason" not in columns:
            continue
        rows = con.execute(
            f"SELECT reason, count(*) FROM quarantine.{table} GROUP BY 1 ORDER BY 1"
        ).fetchall()
        by_reason: dict[str, int] = {}
        for reason, n in rows:
            shown = masked_reason(reason)
            by_reason[shown] = by_reason.get(shown, 0) + int(n)
        if by_reason:
            counts[table] = grouped_reasons(by_reason)
    return counts


# A reason's values: a quoted one, or a number standing on its own (not part of a word such as
# b12 or risperidone_lai).
REASON_VALUE = re.compile(r"'[^']*'|(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
VARIES = "\u2026"  # shown where the grouped reasons differ


def grouped_reasons(by_reason: dict[str, int]) -> dict[str, int]:
    """Reasons that differ only in their values (`daily dose 71.4 mg/day is implausible for
    risperidone_lai (at most 8.6 mg/day ...)`, one per dose) as one reason, each value that
    differs within the group shown as `…` and each one they share as it is: one line per kind
    of problem, whose rows are counted together (thousands of reasons of a few rows each would
    otherwise list every dose, each "<11")."""
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for reason in by_reason:  # the text around the values says which kind of problem it is
        groups[tuple(REASON_VALUE.split(reason))].append(reason)
    grouped: dict[str, int] = {}
    for around, members in groups.items():
        label = members[0] if len(members) == 1 else _shared_values(around, members)
        grouped[label] = grouped.get(label, 0) + sum(by_reason[m] for m in members)
    return grouped


def _shared_values(around: tuple[str, ...], members: list[str]) -> str:
    values = zip(*(REASON_VALUE.findall(m) for m in members), strict=True)
    shown = [v[0] if len(set(v)) == 1 else VARIES for v in values]
    return "".join(text + value for text, value in zip(around, [*shown, ""], strict=True))


def _ingest_log(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int, int]]:
    if not _has_table(con, "audit", "ingest_log"):
        return {}
    rows = con.execute(
        f"SELECT extract, accepted, quarantined, duplicates FROM {INGEST_LOG} ORDER BY extract"
    ).fetchall()
    return {e: tuple(int(v or 0) for v in values) for e, *values in rows}


def quarantine_total_key(table: CountTable, extract: str) -> tuple[Hashable, ...]:
    """The cell its reasons add up to: the log's quarantined count, or (where the log and the
    quarantine table disagree) the rows the quarantine table records."""
    recorded = (extract, RECORDED)
    return recorded if recorded in table.values else (extract, "quarantined")


def ingest_count_table(
    con: duckdb.DuckDBPyConnection, reasons: dict[str, dict[str, int]] | None = None
) -> CountTable:
    """Cells (extract, measure) for read / accepted / quarantined / duplicates and
    (extract, ("reason", r)) per quarantine reason, with read = the three and quarantined = its
    reasons. Quarantined rows the log counts beyond the reasons recorded are one more reason,
    UNRECORDED, so the relation still holds. `reasons`: `quarantine_reasons(con)`, where the
    caller has it already."""
    table = CountTable("ingest log")
    log = _ingest_log(con)
    if reasons is None:
        reasons = quarantine_reasons(con)
    for extract, values in log.items():
        for measure, n in zip(MEASURES, values, strict=True):
            table.add((extract, measure), n)
        table.add((extract, "read"), sum(values))
        table.add_sum((extract, "read"), [(extract, m) for m in MEASURES])
    for extract, by_reason in reasons.items():
        recorded = sum(by_reason.values())
        total = (extract, "quarantined")
        if total not in table.values:
            table.add(total, recorded)
        missing = table.values[total] - recorded
        if missing < 0:  # more rows kept than the log counts: their own total, no relation
            total = (extract, RECORDED)
            table.add(total, recorded)
        elif missing:
            by_reason = {**by_reason, UNRECORDED: missing}
        for reason, n in by_reason.items():
            table.add((extract, reason_key(reason)), n)
        table.add_sum(total, [(extract, reason_key(r)) for r in by_reason])
    return table


def protected_ingest_counts(
    con: duckdb.DuckDBPyConnection,
    small_max: int,
    reasons: dict[str, dict[str, int]] | None = None,
) -> Protected:
    return protect(ingest_count_table(con, reasons), small_max)
