"""Complementary suppression cannot protect every table: when every non-zero count of a part is
suppressed already and the bounds alone pin a cell (ten "<11" parts of a "<11" total: each part
is at least 1 and they add up to at most 10, so each is 1), there is no shown count left to
withhold. `protect` then says so (Protected.exposed, `recording_exposed`) instead of returning
as if the table were safe, and the dashboards step reports it in one line."""

from __future__ import annotations

from trscohort.dashboards.publish import Published
from trscohort.publication.suppression import (
    ALL,
    Hierarchy,
    cube,
    protect,
    recording_exposed,
)

K = 10


def _table(parts: dict[str, int]):
    return cube("pinned", {(p,): v for p, v in parts.items()}, [Hierarchy.flat(list(parts))],
                lambda key: True)  # fmt: skip


def test_ten_ones_under_a_total_of_ten_are_exposed_and_recorded():
    parts = {f"p{i}": 1 for i in range(10)}  # total 10: "<11"; each part "<11", so each = 1
    with recording_exposed() as found:
        protected = protect(_table(parts), K)
    assert {k for k in protected.exposed} == {(p,) for p in parts} | {(ALL,)}
    assert found == [("pinned", 11)]
    assert all(protected.cell((p,)).suppressed for p in parts)


def test_a_part_that_can_be_protected_is_not_exposed():
    # ten parts of which one is 2: the total 11 is shown, so the parts sum to 11 with each in
    # 1..10: no part is pinned (the 2 could be any part's)
    parts = {f"p{i}": 1 for i in range(9)} | {"p9": 2}
    with recording_exposed() as found:
        protected = protect(_table(parts), K)
    assert protected.exposed == frozenset()
    assert found == []


def test_a_shown_count_is_withheld_rather_than_reported():
    # one small part beside a large one and their total: the large part is withheld, nothing
    # is left exposed
    with recording_exposed() as found:
        protected = protect(_table({"a": 3, "b": 40}), K)
    assert protected.cell(("a",)).suppressed and protected.cell(("b",)).suppressed
    assert protected.exposed == frozenset() and found == []


def test_the_dashboards_step_says_which_tables_are_exposed_in_one_line(tmp_path):
    published = Published(tmp_path, [], 0, [], [("ANC results week band", 3), ("x", 2)])
    line = published.exposure_warning()
    assert line.startswith("privacy warning: 5 suppressed counts in 2 tables")
    assert "ANC results week band" in line and "\n" not in line
    assert Published(tmp_path, [], 0, []).exposure_warning() is None
