"""The index page's safety-flag headline (issue 16): added up from the safety page's own table,
never from a table of its own (whose total, less the page's shown cells, would give the page's
suppressed cells back)."""

from __future__ import annotations

from trscohort.dashboards.client import SHOWN_SMALL, SHOWN_WITHHELD
from trscohort.dashboards.headlines import _flags

ALL = -1  # the all-sites row of an embedded table


def _raised(rows: list[list[int]]) -> dict:
    return {"raised": {"columns": ["site", "month", "flag", "flags raised"], "rows": rows}}


def test_all_sites_cells_of_every_month_and_flag_are_added_up():
    # a site's row (site 0) is inside its all-sites row: it must not be counted twice
    (found,) = _flags(_raised([[ALL, 0, 0, 25], [ALL, 1, 0, 40], [ALL, 1, 2, 12], [0, 0, 0, 25]]))
    assert found.value == "77"
    assert "left out" not in found.note


def test_a_suppressed_cell_is_left_out_and_the_total_reads_at_least():
    rows = [[ALL, 0, 0, 25], [ALL, 1, 0, SHOWN_SMALL], [ALL, 2, 1, SHOWN_WITHHELD], [3, 1, 0, 12]]
    (found,) = _flags(_raised(rows))
    assert found.value == "at least 25"  # 25 + the two suppressed cells (each 0 or more)
    assert "2 months of a flag type suppressed" in found.note


def test_no_flag_is_zero_and_no_page_is_no_headline():
    assert _flags(_raised([]))[0].value == "0"
    assert _flags(None) == []
