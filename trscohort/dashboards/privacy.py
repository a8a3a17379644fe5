"""Small-count suppression for everything published (issue 6, `publication.small_count_max`).

The rule: a count (patients, results, windows, events, rows) from 1 to `small_count_max` is shown
as "<N+1" (default "<11"), and a rate, percentage or interval built on such a count is withheld.
For a percentage the numerator, the denominator and their difference (the complement) are all
counts, so the percentage is withheld when any of them is small: 9 of 10 tested, or 99 of 108
(9 missed) would otherwise reveal a small number. Zero is shown: it describes no one.

The pages' counts come from protected tables (`trscohort.publication.suppression`), which add
complementary suppression: a count shown beside its totals is withheld when a small count could
otherwise be worked out by subtraction. The helpers here (`count`, `share`) apply the primary
rule alone, to counts that stand on their own (a failed check's unexpected rows).

Figures never receive a suppressed number: `.value` and `Share.pct` are None when suppressed,
and only the label ("<11", "withheld") reaches the figure, so the published JSON cannot hold
it. `check_published` is the last line of defence: it scans written files for patient
identifiers and birth dates before the dashboards are swapped in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trscohort.publication.scan import PrivacyError as PrivacyError
from trscohort.publication.scan import check_files

DEFAULT_SMALL_COUNT_MAX = 10
WITHHELD = "withheld"  # a count withheld so that a small one cannot be worked out


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
    if limit == 0:
        return (
            "Small-count suppression is off (publication.small_count_max = 0, with "
            "publication.allow_unsuppressed): every count is shown as it is."
        )
    return (
        f"Counts from 1 to {limit} are shown as \u201c{suppressed_label(config)}\u201d "
        f"(publication.small_count_max = {limit}). So that no such count can be worked out "
        f"by subtraction from the totals and other cells shown beside it (all sites, all "
        f"years, the overall rate, the step before), other counts are withheld too "
        f"(\u201cwithheld\u201d): complementary suppression. Zero is shown. Rates, "
        f"percentages and intervals built on a suppressed count are withheld. Results are "
        f"aggregated by week of treatment, calendar month or year, never by an individual's "
        f"date; counts of data-quality checks are not suppressed."
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


def check_published(con, files: Iterable[Path], *, public: Iterable[str] = ()) -> None:
    """Raise PrivacyError if a file holds a patient id or birth date of this warehouse (the
    scan of `trscohort.publication.scan`; `public` = text published on purpose, the config)."""
    check_files(con, files, public=public, what="published dashboards")
