"""Issue 16, dashboards at scale: the shortcuts of complementary suppression give the same
decisions as the full procedure, on hand-made tables where the right answer is known."""

from __future__ import annotations

import pytest

from trscohort.dashboards.client import protect_in_parts
from trscohort.publication import suppression
from trscohort.publication.suppression import (
    ALL,
    CountTable,
    Hierarchy,
    Status,
    cube,
    one_blas_thread,
    protect,
)

K = 10


def _statuses(protected) -> dict:
    return dict(protected.status)


def _two_components() -> CountTable:
    """Two independent rows. Row A: ten parts of 1 under a total of 10 (all "<11"): the bounds
    pin every part to exactly 1, and no shown count is left anywhere in the row to withhold.
    Row B: a part of 3 beside parts of 40 and 50 and their total: 40 is withheld."""
    table = CountTable("two rows")
    for i in range(10):
        table.add(("A", i), 1)
    table.add(("A", ALL), 10)
    table.add_sum(("A", ALL), [("A", i) for i in range(10)])
    for i, v in enumerate([3, 40, 50]):
        table.add(("B", i), v)
    table.add(("B", ALL), 93)
    table.add_sum(("B", ALL), [("B", i) for i in range(3)])
    return table


def test_a_part_with_nothing_left_to_withhold_skips_the_search_with_the_same_decisions(
    monkeypatch,
):
    fast = protect(_two_components(), K)
    assert fast.status[("B", 1)] is Status.SECONDARY  # the smallest other part of row B
    assert fast.status[("B", 2)] is Status.SHOWN and fast.status[("B", ALL)] is Status.SHOWN
    assert all(fast.status[("A", i)] is Status.PRIMARY for i in range(10))
    import scipy.sparse.csgraph as csgraph

    searched = []
    original = csgraph.breadth_first_order

    def spy(graph, start, *args, **kwargs):
        searched.append(start)
        return original(graph, start, *args, **kwargs)

    monkeypatch.setattr(csgraph, "breadth_first_order", spy)
    assert _statuses(protect(_two_components(), K)) == _statuses(fast)
    assert searched == []  # row A has no shown count: nothing to search
    # the full search (the shortcut off) decides the same
    monkeypatch.setattr(suppression._ShownByComponent, "any_shown", lambda self, key: True)
    assert _statuses(protect(_two_components(), K)) == _statuses(fast)
    assert searched  # row A's cells were searched, and found nothing to withhold


def _site_month_counts(small: bool) -> dict:
    """(site, month, measure) counts: observed / missed windows of three sites, two months."""
    counts = {}
    for s, site in enumerate(["north", "south", "west"]):
        for m, month in enumerate(["2024-01", "2024-02"]):
            counts[(site, month, "observed")] = 40 + 10 * s + m
            counts[(site, month, "missed")] = 12 + s
    if small:
        counts[("west", "2024-02", "missed")] = 4  # one count of 1..k in February only
    return counts


def _protect_each_month(counts: dict, small_max: int = K) -> dict:
    sites = Hierarchy.flat(["north", "south", "west"], ALL)
    months = Hierarchy.roots(["2024-01", "2024-02"])
    measure = Hierarchy({"observed": "expected", "missed": "expected", "expected": None})
    return protect_in_parts(
        "windows",
        counts,
        [sites, months, measure],
        part_of=lambda key: key[1],
        small_max=small_max,
        published=lambda key: True,
    )


def _solved_each_month(counts: dict, small_max: int = K) -> dict:
    """The same, every month solved by protect (no shortcut)."""
    cells = {}
    for month in ["2024-01", "2024-02"]:
        leaves = {k: v for k, v in counts.items() if k[1] == month}
        table = cube(
            month,
            leaves,
            [
                Hierarchy.flat(["north", "south", "west"], ALL),
                Hierarchy.roots([month]),
                Hierarchy({"observed": "expected", "missed": "expected", "expected": None}),
            ],
            lambda key: True,
        )
        protected = protect(table, small_max)
        for key, value in table.values.items():
            status = protected.status[key]
            code = {Status.SHOWN: value, Status.PRIMARY: -1, Status.SECONDARY: -2}[status]
            cells[key] = (value, code)
    return cells


@pytest.mark.parametrize("small", [False, True])
def test_a_month_without_a_small_count_is_published_as_protect_would(small):
    cells = _protect_each_month(_site_month_counts(small))
    assert cells == _solved_each_month(_site_month_counts(small))
    january = {k: v for k, v in cells.items() if k[1] == "2024-01"}
    assert all(value == code for value, code in january.values())  # nothing to suppress
    assert cells[(ALL, "2024-01", "expected")] == (189, 189)  # 40 + 50 + 60 + 12 + 13 + 14
    if small:  # February: the 4 is "<11" and a complement is withheld
        assert cells[("west", "2024-02", "missed")] == (4, -1)
        assert sum(code == -2 for _, code in cells.values()) >= 1


def test_without_suppression_every_cell_is_shown_and_a_negative_count_still_fails():
    counts = _site_month_counts(small=True)
    assert all(v == c for v, c in _protect_each_month(counts, small_max=0).values())
    counts[("west", "2024-01", "missed")] = -1
    with pytest.raises(ValueError, match="negative count"):
        _protect_each_month(counts)


def test_linear_algebra_runs_on_one_blas_thread_inside_and_nests():
    from threadpoolctl import threadpool_info

    def blas_threads() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    with one_blas_thread():
        assert blas_threads() == {1}
        with one_blas_thread():
            assert blas_threads() == {1}
        assert blas_threads() == {1}
