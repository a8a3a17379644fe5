"""Issue 15, item 2: no suppressed cell can be recomputed from the published others and their
totals. First the rule on hand-made tables, then every published page solved for each of its
suppressed cells."""

from __future__ import annotations

import math

import pytest

from tests.security.attacker import feasible_ranges, recovered
from trscohort.publication.suppression import (
    ALL,
    CountTable,
    Hierarchy,
    Status,
    cube,
    protect,
)

K = 10


def reader_view(protected) -> tuple[dict, dict, list]:
    """What a page built from `protected` tells a reader: shown values, the range each
    suppressed or hidden cell may take, and the relations."""
    table = protected.table
    shown, unknown = {}, {}
    for key, value in table.values.items():
        status = protected.status[key]
        if status is Status.SHOWN:
            shown[key] = value
        elif status is Status.PRIMARY:
            unknown[key] = (1, K)
        elif status is Status.SECONDARY:
            unknown[key] = (K + 1, math.inf)
        else:
            unknown[key] = (0, math.inf)  # never published: the reader knows nothing of it
    return shown, unknown, table.relations()


def assert_nothing_recovered(protected) -> dict:
    shown, unknown, relations = reader_view(protected)
    ranges = feasible_ranges(shown, unknown, relations)
    must_hold = [
        k
        for k in unknown
        if protected.status[k] in (Status.PRIMARY, Status.SECONDARY)
        or 1 <= protected.table.values[k] <= K
    ]
    assert [k for k in recovered(ranges) if k in must_hold] == []
    return ranges


def one_row(parts: list[int]) -> CountTable:
    table = CountTable("row")
    for i, v in enumerate(parts):
        table.add(("part", i), v)
    table.add(("total",), sum(parts))
    table.add_sum(("total",), [("part", i) for i in range(len(parts))])
    return table


def test_primary_alone_gives_the_cell_back_by_subtraction():
    """The defect: a suppressed part next to its total and the other parts."""
    table = one_row([3, 50, 60])
    status = {k: Status.SHOWN for k in table.values}
    status[("part", 0)] = Status.PRIMARY
    from trscohort.publication.suppression import Protected

    ranges = feasible_ranges(*reader_view(Protected(table, status, K)))
    assert recovered(ranges) == [("part", 0)] and ranges[("part", 0)][0] == pytest.approx(3)


def test_a_complement_is_withheld_the_smallest_other_part():
    protected = protect(one_row([3, 50, 60]), K)
    assert protected.status[("part", 0)] is Status.PRIMARY
    assert protected.status[("part", 1)] is Status.SECONDARY
    assert protected.status[("part", 2)] is Status.SHOWN
    assert protected.status[("total",)] is Status.SHOWN
    assert protected.cell(("part", 1)).label == "withheld"
    assert protected.cell(("part", 0)).label == "<11"
    assert_nothing_recovered(protected)


def test_a_complement_just_above_the_threshold_is_not_enough():
    """1 + 11 = 12: knowing "<11" is at least 1 and "withheld" at least 11 pins both."""
    protected = protect(one_row([1, 11, 100]), K)
    assert protected.status[("part", 2)] is Status.SECONDARY
    assert_nothing_recovered(protected)


def test_zero_is_shown_and_never_a_complement():
    protected = protect(one_row([4, 0, 30]), K)
    assert protected.status[("part", 1)] is Status.SHOWN
    assert protected.status[("part", 2)] is Status.SECONDARY
    assert_nothing_recovered(protected)


def test_two_small_parts_protect_each_other_unless_the_total_pins_them():
    assert protect(one_row([4, 5, 60]), K).status[("part", 2)] is Status.SHOWN
    # 1 + 1 + 60 = 62: both small cells are at least 1, so both are exactly 1.
    protected = protect(one_row([1, 1, 60]), K)
    assert protected.status[("part", 2)] is Status.SECONDARY
    assert_nothing_recovered(protected)


def test_two_way_table_with_margins():
    """Sites x strata with every margin published (the rates-by-stratum case)."""
    counts = {("north", "a"): 2, ("north", "b"): 40, ("north", "c"): 35}
    counts |= {("south", "a"): 20, ("south", "b"): 3, ("south", "c"): 50}
    counts |= {("east", "a"): 25, ("east", "b"): 30, ("east", "c"): 45}
    sites = Hierarchy.flat(["north", "south", "east"])
    strata = Hierarchy.flat(["a", "b", "c"])
    protected = protect(cube("t", counts, [sites, strata], lambda key: True), K)
    assert {k for k in protected.suppressed_keys() if protected.status[k] is Status.PRIMARY} == {
        ("north", "a"),
        ("south", "b"),
    }
    assert len(protected.suppressed_keys()) >= 4
    assert protected.status[(ALL, ALL)] is Status.SHOWN
    assert_nothing_recovered(protected)


def test_hidden_small_difference_between_nested_counts():
    """Funnel steps: 100 then 95 shown would give away the 5 who dropped out."""
    table = CountTable("funnel")
    for i, v in enumerate([100, 95, 40]):
        table.add(("step", i), v)
    for i, v in enumerate([5, 55], start=1):
        table.add(("dropped", i), v, published=False)
        table.add_sum(("step", i - 1), [("step", i), ("dropped", i)])
    protected = protect(table, K)
    assert protected.status[("dropped", 1)] is Status.HIDDEN
    assert not protected.shown(("step", 0), ("step", 1))
    assert_nothing_recovered(protected)


def test_three_dimensional_hierarchy():
    """Site x year/month x rule, as on the monitoring page."""
    months = {"2023-01": "2023", "2023-02": "2023", "2024-01": "2024", "2024-02": "2024"}
    time = Hierarchy({**months, "2023": ALL, "2024": ALL, ALL: None})
    sites = Hierarchy.flat(["north", "south"])
    rules = Hierarchy.flat(["r1", "r2"])
    counts = {}
    for i, key in enumerate(
        (s, m, r) for s in ("north", "south") for m in months for r in ("r1", "r2")
    ):
        counts[key] = [3, 40, 25, 12, 60, 7, 33, 19][i % 8] + (i % 3)
    protected = protect(cube("m", counts, [sites, time, rules], lambda key: True), K)
    assert protected.suppressed_keys()
    assert_nothing_recovered(protected)


def test_suppression_off():
    protected = protect(one_row([3, 50, 60]), 0)
    assert all(s is Status.SHOWN for s in protected.status.values())
