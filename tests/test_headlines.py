"""The index page's headlines (issue 16) are added up from the pages' own tables, never from a
table of their own (whose total, less the page's shown cells, would give the page's suppressed
cells back): the safety flags from the safety page's, the clozapine figures from the funnel's."""

from __future__ import annotations

from trscohort.config import load_config
from trscohort.dashboards.client import SHOWN_SMALL, SHOWN_WITHHELD
from trscohort.dashboards.headlines import _clozapine, _flags

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


FUNNEL_KEYS = [
    ["funnel", "TRS"],
    ["funnel", "TRS and started clozapine"],
    ["status", "titrating"],
    ["status", "responder"],
    ["status", "not on clozapine"],
]


def _funnel(cells: dict[int, int], site_rows: tuple = ()) -> dict:
    rows = [[ALL, key, code] for key, code in cells.items()] + list(site_rows)
    return {"keys": FUNNEL_KEYS, "counts": {"columns": ["site", "key", "patients"], "rows": rows}}


def _values(found) -> dict[str, tuple[str, str]]:
    return {h.title: (h.value, h.note) for h in found}


def test_clozapine_headlines_from_the_funnel_pages_all_sites_cells():
    # site 0's rows are inside the all-sites ones; "not on clozapine" never started it
    data = _funnel({0: 9000, 1: 6000, 2: 5000, 3: 3000, 4: 100}, site_rows=([0, 2, 5000],))
    found = _values(_clozapine(data, load_config()))
    assert found["Patients who started clozapine"][0] == "8,000"
    value, note = found["TRS patients not started on clozapine"]
    assert value == "3,000" and note.startswith("of 9,000 patients with TRS")


def test_a_sum_or_difference_with_a_suppressed_cell_is_suppressed():
    config = load_config()
    found = _values(
        _clozapine(_funnel({0: SHOWN_WITHHELD, 1: 6000, 2: SHOWN_SMALL, 3: 3000}), config)
    )
    assert found["Patients who started clozapine"][0] == "suppressed"
    value, note = found["TRS patients not started on clozapine"]
    assert value == "suppressed" and note.startswith("of withheld patients with TRS")
    alone = _values(_clozapine(_funnel({2: SHOWN_SMALL}), config))  # one status: its own label
    assert alone["Patients who started clozapine"][0] == "<11"
    assert "TRS patients not started on clozapine" not in alone  # no TRS step published


def test_no_funnel_page_is_no_clozapine_headline():
    assert _clozapine(None, load_config()) == []
