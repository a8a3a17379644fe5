"""Complementary suppression cannot protect every table: when every non-zero count of a part is
suppressed already and the bounds alone pin a cell (ten "<11" parts of a "<11" total: each part
is at least 1 and they add up to at most 10, so each is 1), there is no shown count left to
withhold. `protect` then says so (Protected.exposed, `recording_exposed`) instead of returning
as if the table were safe, and the dashboards step reports it in one line."""

from __future__ import annotations

from tests.security.attacker import code_range, feasible_ranges, recovered
from trscohort.dashboards.publish import Published
from trscohort.publication.suppression import (
    ALL,
    CountTable,
    Hierarchy,
    Status,
    cube,
    given_away,
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


# --------------------------------------------------------------------------- zeros suppressed


def _attack(protected, keys):
    """The linear-program reader on one protected table: {suppressed cell: (min, max)}."""
    from trscohort.dashboards.client import encode

    bounds = {key: code_range(encode(protected, key), K) for key in keys}
    shown = {key: low for key, (low, high) in bounds.items() if low == high}
    unknown = {key: b for key, b in bounds.items() if b[0] != b[1]}
    return feasible_ranges(shown, unknown, protected.table.relations())


def test_ten_ones_beside_zeros_are_protected_by_suppressing_the_zeros():
    # total 10 = ten sites of 1, and five sites with none. With the zeros shown, "<11" >= 1
    # pins every part; suppressing the zeros as "<11" too makes "<11" there 0..10
    parts = {f"p{i}": 1 for i in range(10)} | {f"z{i}": 0 for i in range(5)}
    with recording_exposed() as found:
        protected = protect(_table(parts), K)
    assert protected.exposed == frozenset() and found == []
    assert all(protected.cell((p,)).label == "<11" for p in parts)  # zeros included
    ranges = _attack(protected, [(p,) for p in parts] + [(ALL,)])
    assert recovered(ranges) == []
    assert ranges[("p0",)] == (0, 10) and ranges[(ALL,)] == (0, 10)


def test_zeros_are_kept_where_a_shown_count_can_be_withheld():
    # a small part, a large one, a zero: withholding the large part protects the small one,
    # so the zero stays shown
    protected = protect(_table({"a": 3, "b": 40, "z": 0}), K)
    assert protected.cell(("z",)).label == "0"
    assert protected.cell(("b",)).label == "withheld"


def test_zeros_are_suppressed_only_in_the_relations_that_need_them():
    # two regions: north's ten sites of 1 (total 10) need their zeros suppressed; south's
    # zero sits beside 30 + 40 and stays shown
    regions = Hierarchy(
        {**{f"n{i}": "north" for i in range(12)}, "s0": "south", "s1": "south", "s2": "south",
         "north": ALL, "south": ALL, ALL: None}
    )  # fmt: skip
    leaves = {(f"n{i}",): 1 for i in range(10)} | {("n10",): 0, ("n11",): 0}
    leaves |= {("s0",): 30, ("s1",): 40, ("s2",): 0}
    protected = protect(cube("regions", leaves, [regions], lambda key: True), K)
    assert protected.exposed == frozenset()
    assert protected.cell(("n10",)).label == "<11" and protected.cell(("n11",)).label == "<11"
    assert protected.cell(("s2",)).label == "0"


def test_absent_sites_are_added_as_suppressed_zeros_in_a_client_table():
    # the page's cube has a node only for sites with a count: ten sites of 1 in one month and
    # twenty sites with none. The twenty are added as zeros and suppressed with the ten
    from trscohort.dashboards.client import SHOWN_SMALL, protect_in_parts

    sites = Hierarchy.flat([f"site_{i:02d}" for i in range(30)])
    months = Hierarchy.flat(["2024-01", "2024-02"])
    counts = {(f"site_{i:02d}", "2024-01"): 1 for i in range(10)}
    counts |= {(f"site_{i:02d}", "2024-02"): 50 for i in range(30)}
    with recording_exposed() as found:
        cells = protect_in_parts(
            "absent", counts, [sites, months], part_of=lambda k: k[1], small_max=K,
            published=lambda key: True,
        )  # fmt: skip
    assert found == []  # the first try, before the absent sites were added, is not reported
    january = {k: code for k, (_, code) in cells.items() if k[1] == "2024-01"}
    assert len(january) == 31  # every site and all sites
    assert set(january.values()) == {SHOWN_SMALL}
    # the month that is split off as a part of its own is not touched
    assert cells[("site_29", "2024-02")] == (50, 50) and cells[(ALL, "2024-02")] == (1500, 1500)


def test_a_reader_who_reads_a_hidden_zero_as_1_to_10_pins_some_cells_wrongly():
    # nine sites of 1 and a suppressed zero under a "<11" total of 9. Read as 1..10 every "<11"
    # is consistent (ten parts of at least 1, a total of at most 10) and pins every cell: the
    # parts at 1 (true: given away), the zero at 1 and the total at 10 (both wrong: not).
    parts = {f"p{i}": 1 for i in range(9)} | {"z": 0}
    table = _table(parts)
    status = {key: Status.PRIMARY for key in table.values}
    found = given_away(table, status, K)
    assert found == sorted([(f"p{i}",) for i in range(9)], key=repr)
    assert (ALL,) not in found and ("z",) not in found


def _beside_site_totals(pinned: dict[tuple, int], total: int) -> CountTable:
    """`pinned` parts under one total, and beside each part a site's shown total of results:
    the part plus its hidden normal results (100 and more), a shown count connected to the
    part that cannot pin it."""
    table = CountTable("beside")
    for key, value in pinned.items():
        table.add(key, value)
    table.add((ALL,), total)
    table.add_sum((ALL,), [k for k in pinned if len(k) == 1])
    for i, key in enumerate(k for k in pinned if len(k) == 1 and pinned[k]):
        table.add((*key, "normal"), 100 + i, published=False)
        table.add((*key, "all"), 100 + i + pinned[key])
        table.add_sum((*key, "all"), [key, (*key, "normal")])
    return table


def test_a_cell_its_own_relation_pins_is_freed_by_its_zeros_not_by_counts_elsewhere():
    # ten sites of 1 and two of none under a total of 10: the total alone pins every 1. No
    # count withheld anywhere frees them (each site's total of results beside it only says
    # "at most 100 or so"), so the two zeros are suppressed and every site's total stays shown
    parts = {(f"p{i}",): 1 for i in range(10)} | {("z0",): 0, ("z1",): 0}
    protected = protect(_beside_site_totals(parts, 10), K)
    assert protected.cell(("z0",)).label == "<11" and protected.cell(("z1",)).label == "<11"
    assert [k for k, s in protected.status.items() if s is Status.SECONDARY] == []
    assert all(protected.cell((f"p{i}", "all")).value == 101 + i for i in range(10))
    published = [k for k in protected.table.values if protected.table.published[k]]
    assert recovered(_attack(protected, published)) == []


def test_cells_pinned_through_a_chain_of_small_counts_are_freed_by_the_chains_zeros():
    # nine sites under a total of 10: eight of 1 and p0 = 2, itself x + y + w = 1 + 1 + 0.
    # p0 is at least 2, so the total (at most 10) is 10 and every part is pinned: by small
    # counts alone, so the zeros on the way (z beside the sites, w beside x and y) are
    # suppressed, and no site's total of results is withheld
    parts = {("p0",): 2, **{(f"p{i}",): 1 for i in range(1, 9)}, ("z",): 0}
    table = _beside_site_totals(parts, 10)
    for key, value in {("p0", "x"): 1, ("p0", "y"): 1, ("p0", "w"): 0}.items():
        table.add(key, value)
    table.add_sum(("p0",), [("p0", "x"), ("p0", "y"), ("p0", "w")])
    protected = protect(table, K)
    assert protected.cell(("z",)).label == "<11" and protected.cell(("p0", "w")).label == "<11"
    assert [k for k, s in protected.status.items() if s is Status.SECONDARY] == []
    assert protected.exposed == frozenset()
    published = [k for k in protected.table.values if protected.table.published[k]]
    assert recovered(_attack(protected, published)) == []
