"""A cube built from its shape's layout is `cube`'s table, and the first-round screen gives
`protect`'s answer (trscohort.publication.layouts)."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trscohort.publication.layouts import CubeLayout, clear_at_first_round, first_codes
from trscohort.publication.suppression import (
    Hierarchy,
    _Incidence,
    cube,
    primary_statuses,
    protect,
)

K = 10


def _sites(n: int) -> Hierarchy:
    return Hierarchy.flat([f"s{i}" for i in range(n)], "all sites")


MEASURE = Hierarchy({"num": "den", "not num": "den", "den": None, "excluded": None})
MONTHS = Hierarchy({"2024-01": "2024", "2024-02": "2024", "2024": None})


def _leaves(dims, counts):
    leaf_nodes = [[n for n in h.nodes if not h.children(n)] for h in dims]
    return dict(zip(itertools.product(*leaf_nodes), counts, strict=False))


def _published(key) -> bool:
    return key[-1] != "not num"


@pytest.mark.parametrize(
    "dims",
    [
        [_sites(3), MEASURE],
        [_sites(2), MONTHS, MEASURE],
        [Hierarchy.roots(["a"]), _sites(4), Hierarchy.single()],
        [_sites(20), MONTHS, MEASURE],  # 252 cells: a sparse aggregation matrix
    ],
    ids=["sites x measure", "sites x months x measure", "roots x sites x single", "large"],
)
def test_layout_table_is_cube_table(dims):
    n = int(np.prod([sum(1 for x in h.nodes if not h.children(x)) for h in dims]))
    leaves = _leaves(dims, [(i * 7) % 23 for i in range(n)])
    expected = cube("t", leaves, dims, _published)
    cells = CubeLayout.of(dims).cells(leaves, dims)
    table = cells.table("t", _published)
    assert list(table.values.items()) == list(expected.values.items())
    assert table.published == expected.published
    assert table.sums == expected.sums
    built, incidence = cells.incidence(), _Incidence.of(expected, expected.relations())
    assert built.keys == incidence.keys and built.n_relations == incidence.n_relations
    for name in ("rel", "cell", "coef", "values"):
        assert np.array_equal(getattr(built, name), getattr(incidence, name)), name


def test_two_hierarchies_of_one_shape_share_a_layout_with_their_own_keys():
    march, april = Hierarchy.roots(["2024-03"]), Hierarchy.roots(["2024-04"])
    dims_march, dims_april = [_sites(2), march, MEASURE], [_sites(2), april, MEASURE]
    assert CubeLayout.of(dims_march) is CubeLayout.of(dims_april)
    cells = CubeLayout.of(dims_april).cells({("s1", "2024-04", "num"): 4}, dims_april)
    counts = cells.counts()
    assert counts[("all sites", "2024-04", "den")] == 4
    assert counts[("s0", "2024-04", "den")] == 0
    assert all(key[1] == "2024-04" for key in counts)


def test_a_count_given_for_a_total_or_below_zero_is_left_to_cube():
    dims = [_sites(2), MEASURE]
    layout = CubeLayout.of(dims)
    assert layout.cells({("all sites", "num"): 3}, dims) is None  # cube checks the sums
    assert layout.cells({("s0", "num"): -1}, dims) is None  # cube names the bad count


def _first_round_of_protect(table) -> bool:
    """What protect's first round found nothing means: the first statuses, nothing exposed."""
    protected = protect(table, K, report=False)
    return dict(protected.status) == primary_statuses(table, K) and not protected.exposed


def _screen(tables_and_cells):
    parts = []
    for table, cells in tables_and_cells:
        parts.append((cells.incidence(), first_codes(cells, table.published.get, K)))
    return clear_at_first_round(parts, K)


def test_screen_by_hand():
    dims = [_sites(3), MEASURE]
    cases = {
        # s0's numerator 4 is "<11"; its "not numerator" is hidden, so den = 4 + 50 = 54 is
        # shown and the numerator's column (all sites = 74) gives it back: not clear
        "lone small numerator": {("s0", "num"): 4, ("s0", "not num"): 50, ("s1", "num"): 40,
                                 ("s1", "not num"): 60, ("s2", "num"): 30, ("s2", "not num"): 70},
        # nothing from 1 to 10 anywhere: clear
        "all big": {("s0", "num"): 40, ("s0", "not num"): 50, ("s1", "num"): 40,
                    ("s1", "not num"): 60, ("s2", "num"): 30, ("s2", "not num"): 70},
    }  # fmt: skip
    layout = CubeLayout.of(dims)
    built = {
        name: (cube(name, leaves, dims, _published), layout.cells(leaves, dims))
        for name, leaves in cases.items()
    }
    found = dict(zip(built, _screen(list(built.values())), strict=True))
    assert found == {"lone small numerator": False, "all big": True}
    for name, (table, _) in built.items():
        assert found[name] == _first_round_of_protect(table), name


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([0, 0, 1, 3, 10, 11, 12, 40, 200]), min_size=12, max_size=12),
        min_size=1,
        max_size=6,
    )
)
def test_screen_agrees_with_protect(batches):
    """Several parts screened together: each one's answer is what protect does with it alone."""
    dims = [_sites(3), MONTHS, MEASURE]
    layout = CubeLayout.of(dims)
    built = []
    for counts in batches:
        leaves = _leaves(dims, counts)
        built.append((cube("t", leaves, dims, _published), layout.cells(leaves, dims)))
    assert _screen(built) == [_first_round_of_protect(table) for table, _ in built]
