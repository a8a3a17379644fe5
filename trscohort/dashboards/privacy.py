"""Small-count suppression for everything published (issue 6, `publication.small_count_max`).

The rule: a count (patients, results, windows, events, rows) from 1 to `small_count_max` is shown
as "<N+1" (default "<11"), and a rate, percentage or interval built on such a count is withheld.
For a percentage the numerator, the denominator and their difference (the complement) are all
counts, so the percentage is withheld when any of them is small: 9 of 10 tested, or 99 of 108
(9 missed) would otherwise reveal a small number. Zero is shown: it describes no one.

Figures never receive a suppressed number: `Count.value` and `Share.pct` are None when
suppressed, and only the label ("<11") reaches the figure, so the published JSON cannot hold
it. `check_published` is the last line of defence: it scans written files for patient
identifiers and birth dates before the dashboards are reported as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_SMALL_COUNT_MAX = 10


def small_count_max(config: Mapping[str, Any] | None) -> int:
    if config is None:
        return DEFAULT_SMALL_COUNT_MAX
    return int(config.get("publication", {}).get("small_count_max", DEFAULT_SMALL_COUNT_MAX))


def is_small(n: int | None, config: Mapping[str, Any] | None) -> bool:
    """True for a count from 1 to small_count_max (the counts that are suppressed)."""
    return n is not None and 1 <= int(n) <= small_count_max(config)


def suppressed_label(config: Mapping[str, Any] | None) -> str:
    return f"<{small_count_max(config) + 1}"


def suppression_rule(config: Mapping[str, Any] | None) -> str:
    limit = small_count_max(config)
    return (
        f"Counts from 1 to {limit} are shown as \u201c{suppressed_label(config)}\u201d "
        f"(publication.small_count_max = {limit}); rates, percentages and intervals built on "
        f"such a count (numerator, denominator or, for a percentage, its complement) are "
        f"withheld. Results are aggregated by week of treatment or calendar month, never by "
        f"an individual's date."
    )


@dataclass(frozen=True)
class Count:
    """A publishable count: `value` is None when suppressed; `label` is what is shown."""

    value: int | None
    label: str

    @property
    def suppressed(self) -> bool:
        return self.value is None

    @property
    def plot_value(self) -> int:
        """Height to draw (0 when suppressed: the label carries the information)."""
        return 0 if self.value is None else self.value


def count(n: int | None, config: Mapping[str, Any] | None) -> Count:
    n = int(n or 0)
    if is_small(n, config):
        return Count(None, suppressed_label(config))
    return Count(n, f"{n:,}")


@dataclass(frozen=True)
class Share:
    """A publishable percentage: `pct` is None when withheld."""

    numerator: Count
    denominator: Count
    pct: float | None

    @property
    def label(self) -> str:
        if self.pct is None:
            if self.denominator.value == 0:
                return "no data"
            return "withheld"
        return f"{self.pct:.1f} % ({self.numerator.label} of {self.denominator.label})"


def share(
    numerator: int | None, denominator: int | None, config: Mapping[str, Any] | None
) -> Share:
    """numerator / denominator as a percentage, withheld when a count or the complement is small."""
    num, den = int(numerator or 0), int(denominator or 0)
    withheld = den == 0 or any(is_small(n, config) for n in (num, den, den - num))
    return Share(count(num, config), count(den, config), None if withheld else 100.0 * num / den)


def rate_allowed(events: int | None, config: Mapping[str, Any] | None) -> bool:
    """A rate or interval may be shown unless its numerator (events) is a small count."""
    return not is_small(events, config)


class PrivacyError(RuntimeError):
    """A published file contains a patient identifier or birth date."""


def identifiers(con) -> tuple[list[str], list[str]]:
    """(patient ids, ISO birth dates) of every patient named anywhere in the input.

    Ids come from every raw extract with a patient_id column (so quarantined rows and patients
    known only to one extract count too); birth dates from raw and staged patients.
    """
    ids: set[str] = set()
    births: set[str] = set()
    tables = con.execute(
        "SELECT table_schema || '.' || table_name, list(column_name) FROM "
        "information_schema.columns WHERE table_schema IN ('raw', 'staging') "
        "GROUP BY ALL"
    ).fetchall()
    for table, cols in tables:
        if "patient_id" in cols:
            ids.update(
                str(r[0]).strip()
                for r in con.execute(f"SELECT DISTINCT patient_id FROM {table}").fetchall()
                if r[0] is not None
            )
        if table.endswith(".patients") and "birth_date" in cols:
            births.update(
                str(r[0]).strip()[:10]
                for r in con.execute(f"SELECT DISTINCT birth_date FROM {table}").fetchall()
                if r[0] is not None
            )
    return sorted(i for i in ids if i), sorted(b for b in births if b)


def find_identifiers(
    files: Iterable[Path], ids: Iterable[str], birth_dates: Iterable[str]
) -> list[tuple[Path, str]]:
    """(file, what) for each published file containing a patient id or birth date.

    Ids match as whole tokens (not inside a longer run of letters and digits), so a short id
    such as "P1" does not match "P10" or a colour "#P1A".
    """
    ids = [i for i in ids if i]
    births = [b for b in birth_dates if b]
    found: list[tuple[Path, str]] = []
    id_pattern = (
        re.compile(r"(?<![A-Za-z0-9])(" + "|".join(re.escape(i) for i in ids) + r")(?![A-Za-z0-9])")
        if ids
        else None
    )
    birth_pattern = re.compile("|".join(re.escape(b) for b in births)) if births else None
    for path in files:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        if id_pattern and (m := id_pattern.search(text)):
            found.append((Path(path), f"patient id {m.group(1)}"))
        if birth_pattern and (m := birth_pattern.search(text)):
            found.append((Path(path), f"birth date {m.group(0)}"))
    return found


def check_published(con, files: Iterable[Path]) -> None:
    """Raise PrivacyError if any file contains a patient id or birth date of this warehouse."""
    ids, births = identifiers(con)
    found = find_identifiers(files, ids, births)
    if found:
        where = "; ".join(f"{path.name}: {what}" for path, what in found[:5])
        raise PrivacyError(f"published dashboards contain identifying data ({where})")
