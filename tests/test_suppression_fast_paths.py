"""Issue 16, dashboards at scale: the shortcuts of complementary suppression give the same
decisions as the full procedure, on hand-made tables where the right answer is known."""

from __future__ import annotations

import numpy as np
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
    """Two independent rows. Row A: nine parts under a total of 10, all "<11": eight parts of 1
    and one of 2, itself the sum of two "<11" parts of 1. That part is at least 2, so the
    total (at most 10) is 10 and every part is pinned; no shown count is left anywhere in the
    row to withhold, and no zero. Row B: a part of 3 beside parts of 40 and 50 and their
    total: 40 is withheld."""
    table = CountTable("two rows")
    for i, v in enumerate([2, *[1] * 8]):
        table.add(("A", i), v)
    table.add(("A", ALL), 10)
    table.add_sum(("A", ALL), [("A", i) for i in range(9)])
    table.add(("A", 0, "x"), 1)
    table.add(("A", 0, "y"), 1)
    table.add_sum(("A", 0), [("A", 0, "x"), ("A", 0, "y")])
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
    assert all(fast.status[("A", i)] is Status.PRIMARY for i in range(9))
    assert fast.exposed == {("A", i) for i in range(9)} | {("A", ALL)} | {
        ("A", 0, "x"),
        ("A", 0, "y"),
    }  # pinned with nothing left to withhold: reported
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


def _relations_with_known_null_space():
    """300 unknown cells (more than the dense solver's 200), three blocks known by hand:
    cells 0-49 each fixed by a relation of its own; cells 50-249 a 10 x 20 grid whose row and
    column totals are the relations (null space of dimension 9 x 19: every cell moves);
    cells 250-299 a chain x_i = x_(i+1) anchored at its first cell (each fixed only by
    combining the relations). Expected: fixed, free, fixed."""
    from scipy.sparse import csr_matrix

    rows: list[dict[int, float]] = [{j: 1.0} for j in range(50)]
    grid = [[50 + 20 * r + c for c in range(20)] for r in range(10)]
    rows += [dict.fromkeys(line, 1.0) for line in grid]
    rows += [dict.fromkeys((line[c] for line in grid), 1.0) for c in range(20)]
    rows += [{250: 1.0}] + [{j: 1.0, j + 1: -1.0} for j in range(250, 299)]
    coords = [(i, j, v) for i, row in enumerate(rows) for j, v in row.items()]
    matrix = csr_matrix(
        ([v for *_, v in coords], ([i for i, *_ in coords], [j for _, j, _ in coords])),
        shape=(len(rows), 300),
    )
    return matrix, [False] * 50 + [True] * 200 + [False] * 50


def test_large_groups_null_space_by_hand():
    """The least-squares probe of large groups (one random vector) and the dense eigensolver
    give the answer known by hand for every cell."""
    matrix, expected = _relations_with_known_null_space()
    assert matrix.shape[1] > suppression.SMALL_GROUP
    with one_blas_thread():
        assert [bool(f) for f in suppression._free_coordinates(matrix)] == expected
        assert [bool(f) for f in suppression._free_dense(matrix.toarray())] == expected


def test_a_grid_of_small_counts_under_shown_totals_needs_no_complement():
    """25 sites x 12 months of 3 results each ("<11" all), every site, month and the grand
    total shown (36, 75, 900): 300 unknown cells in one group, so the least-squares probe
    decides. Row and column totals leave a (24 x 11)-dimensional null space and no bound pins
    a cell (12 cells of 1..10 summing to 36), so nothing is given away and nothing withheld."""
    sites = Hierarchy.flat([f"site {i:02d}" for i in range(25)])
    months = Hierarchy.flat([f"2024-{m:02d}" for m in range(1, 13)])
    leaves = {(s, m): 3 for s in sites.nodes if s != ALL for m in months.nodes if m != ALL}
    table = cube("grid", leaves, [sites, months], lambda key: True)
    protected = protect(table, K)
    assert protected.status[(ALL, ALL)] is Status.SHOWN and table.values[(ALL, ALL)] == 900
    assert sum(s is Status.PRIMARY for s in protected.status.values()) == 300
    assert not [k for k, s in protected.status.items() if s is Status.SECONDARY]
    assert protected.exposed == frozenset()


def test_the_tracked_status_codes_follow_every_change_and_a_snapshot_keeps_its_own():
    """`_protect` keeps the cells' status codes as an array beside the dict (each round reads
    them all): the array must be what the dict says after every change, and a round's
    snapshot must not move when the status does."""
    table = _two_components()
    incidence = suppression._Incidence.of(table, table.relations())
    plain = {k: Status.SHOWN for k in table.values}
    tracked = suppression._TrackedStatus(plain, incidence)
    snapshot = tracked.snapshot()
    for key, status in [(("A", 3), Status.PRIMARY), (("B", 1), Status.SECONDARY)]:
        tracked[key] = status
        plain[key] = status
    assert incidence.codes(tracked).tolist() == incidence.codes(dict(plain)).tolist()
    assert incidence.codes(tracked)[incidence.keys.index(("B", 1))] == 2  # SECONDARY
    assert set(incidence.codes(snapshot).tolist()) == {0}  # all still shown
    with pytest.raises(ValueError):  # callers read it; only the dict's changes write it
        incidence.codes(tracked)[0] = 3


def test_a_cube_checks_its_counts_and_relations_once_as_add_and_add_sum_did():
    """`cube` fills the table without `add`/`add_sum` per cell: the same cells, publication
    flags and relations (each node's children in the hierarchy's order), and the same errors."""
    from trscohort.publication.suppression import CountTable, Hierarchy, cube

    sites = Hierarchy.flat(["north", "south", "east"], "all")
    parts = Hierarchy({"seen": "due", "missed": "due", "due": None})
    leaves = {("north", "seen"): 4, ("north", "missed"): 1, ("south", "seen"): 12}
    built = cube("t", leaves, [sites, parts], lambda key: key[0] != "east")
    by_hand = CountTable("t")
    for site in ("north", "south", "east", "all"):
        for part in ("seen", "missed", "due"):
            count = sum(
                n for (s, p), n in leaves.items() if site in (s, "all") and part in (p, "due")
            )
            by_hand.add((site, part), count, published=site != "east")
    for site in ("north", "south", "east", "all"):
        by_hand.add_sum((site, "due"), [(site, "seen"), (site, "missed")])
    for part in ("seen", "missed", "due"):
        by_hand.add_sum(("all", part), [(s, part) for s in ("north", "south", "east")])
    assert built.values == by_hand.values and built.published == by_hand.published
    assert sorted(built.sums) == sorted(by_hand.sums)
    # A layer left out (`keep`): its cell is no cell, and no relation holds it.
    dropped = ("east", "seen")
    kept = cube("t", leaves, [sites, parts], lambda key: True, keep=lambda key: key != dropped)
    assert kept.values == {k: v for k, v in by_hand.values.items() if k != dropped}
    assert sorted(kept.sums) == sorted(
        (total, parts_) for total, parts_ in by_hand.sums if dropped not in (total, *parts_)
    )
    with pytest.raises(ValueError, match="negative count"):
        cube("t", {("north", "seen"): -1}, [sites, parts], lambda key: True)
    with pytest.raises(ValueError, match="is not the sum of its parts"):  # a total as a leaf
        cube("t", {("all", "seen"): 3, ("north", "seen"): 1}, [sites, parts], lambda key: True)


def _triangle() -> CountTable:
    """a = 5 ("<11"), b = 20, c = 30 and d = 40 with T = a + b, U = a + c, V = b + c and
    W = b + d shown. Once a, b, c and d are withheld no bound pins a (a in 1..9, b in 16..24,
    c in 26..34, d in 36..44 agree with every relation), but the relations together do:
    a = (T + U - V) / 2 = 5."""
    table = CountTable("triangle")
    values = {"a": 5, "b": 20, "c": 30, "d": 40, "T": 25, "U": 35, "V": 50, "W": 60}
    for key, value in values.items():
        table.add((key,), value)
    for total, parts in {"T": "ab", "U": "ac", "V": "bc", "W": "bd"}.items():
        table.add_sum((total,), [(part,) for part in parts])
    return table


def test_the_linear_algebra_asked_only_when_the_bounds_find_nothing_new_still_has_the_last_word(
    monkeypatch,
):
    """Round 1 asks both tests (the bounds pin a; the relations add nothing) and withholds b
    (T gave a its bounds); round 2 asks the bounds only (they pin a through U, and b through
    V) and withholds c and V; round 3 asks the bounds only (they pin a, b, c and V) and
    withholds d and the totals; round 4's bounds find nothing, so the linear algebra is asked
    (without the totals withheld it would pin a = (T + U - V) / 2): it finds nothing, and the
    loop ends only after that round, which asked both."""
    rounds, asked = [], []  # one view per round; the rounds that asked the linear algebra
    view_of, by_relations = suppression._ReaderView.__init__, suppression._ReaderView.by_relations

    def counting_rounds(view, *args):
        rounds.append(view)
        view_of(view, *args)

    def counting_asks(view):
        asked.append(len(rounds))
        return by_relations(view)

    monkeypatch.setattr(suppression._ReaderView, "__init__", counting_rounds)
    monkeypatch.setattr(suppression._ReaderView, "by_relations", counting_asks)
    table = _triangle()
    protected = protect(table, K)
    assert asked == [1, 4], "asked in rounds 2 or 3, where the bounds had found cells"
    assert len(rounds) == 4
    withheld = {k for k, s in protected.status.items() if s is Status.SECONDARY}
    assert withheld == {(k,) for k in "bcdTUVW"}
    assert suppression.given_away(table, protected.status, K) == []
    assert protected.exposed == frozenset()


def test_the_bounds_pass_follows_a_chain_of_relations_to_its_end():
    """A = p + q, q = r + s, s = t + u, u = v + w with A = 30, p = 10, r = 5, t = 7, v = 3
    known and q, s, u, w unknown (0 or more): each pass pins one more link (q = 20, then
    s = 15, u = 8, w = 5). After the first pass only the relations of a cell that moved are
    worked again, and a relation outside the last pass's set must be woken too (w's)."""
    table = CountTable("chain")
    values = {"A": 30, "p": 10, "q": 20, "r": 5, "s": 15, "t": 7, "u": 8, "v": 3, "w": 5}
    for key, value in values.items():
        table.add((key,), value)
    for total, parts in {"A": "pq", "q": "rs", "s": "tu", "u": "vw"}.items():
        table.add_sum((total,), [(part,) for part in parts])
    incidence = suppression._Incidence.of(table, table.relations())
    unknown = np.array([k[0] in "qsuw" for k in incidence.keys])
    low = np.where(unknown, 0.0, incidence.values)
    high = np.where(unknown, np.inf, incidence.values)
    suppression._tighten(incidence, low, high)
    assert {k[0]: (lo, hi) for k, lo, hi in zip(incidence.keys, low, high, strict=True)} == {
        k: (float(v), float(v)) for k, v in values.items()
    }


def test_a_small_system_solved_again_is_answered_for_its_own_entries():
    """Systems are kept by their entries: the same entries give the same answer, and one that
    differs by a coefficient only is solved for itself. Cells x0, x1 in two relations:
    x0 + x1 = 0 twice leaves x0 = -x1 free (nothing fixed); x0 + x1 = 0 and x0 - x1 = 0 fix
    both; with x2 added to the first relation (x0 + x1 + x2 = 0, x0 - x1 = 0) x0 = x1 =
    -x2 / 2 is free again."""
    suppression._SMALL_SOLVED.clear()
    rel, cell = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    same = np.array([1.0, 1.0, 1.0, 1.0])
    opposite = np.array([1.0, 1.0, 1.0, -1.0])
    assert suppression._fixed_in_small(rel, cell, same).tolist() == []
    assert suppression._fixed_in_small(rel, cell, opposite).tolist() == [0, 1]
    wider = (np.array([0, 0, 0, 1, 1]), np.array([0, 1, 2, 0, 1]), np.array([1.0, 1, 1, 1, -1]))
    assert suppression._fixed_in_small(*wider).tolist() == []
    assert len(suppression._SMALL_SOLVED) == 3
    assert suppression._fixed_in_small(rel, cell, same).tolist() == []  # kept: asked again
    assert suppression._fixed_in_small(rel, cell, opposite).tolist() == [0, 1]
    assert len(suppression._SMALL_SOLVED) == 3


def test_published_cells_of_a_solved_table_read_from_its_status_array():
    """A table `protect` solved keeps its statuses as an array: the embedded values read from
    it are those cell-by-cell encoding gives, hidden cells left out."""
    from trscohort.dashboards.client import encode, published_cells

    table = _two_components()
    table.add(("B", "hidden"), 7, published=False)
    protected = protect(table, K)
    assert isinstance(protected.status, suppression._TrackedStatus)  # the array path is taken
    by_cell = {
        k: (v, encode(protected, k))
        for k, v in table.values.items()
        if protected.status[k] is not Status.HIDDEN
    }
    assert published_cells(protected) == by_cell
    assert by_cell[("B", 0)] == (3, -1) and by_cell[("B", 1)] == (40, -2)
    assert by_cell[("B", 2)] == (50, 50) and ("B", "hidden") not in by_cell
