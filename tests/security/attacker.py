"""The reader who tries to undo suppression: from shown counts, the bounds a label gives away
("<11": 1..10; "withheld": above 10; zero is shown) and the relations between cells, a linear
program finds the smallest and largest value each suppressed cell can take. A cell is
recovered when only one whole number fits.

Zeros are suppressed too where nothing else can protect a part (ten "<11" parts of a "<11"
total): there a "<11" may be 0. The reader notices it when the figures admit no solution with
every "<11" at least 1, and then reads every "<11" as 0..10."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

Cell = Hashable


def feasible_ranges(
    shown: Mapping[Cell, float],
    unknown: Mapping[Cell, tuple[float, float]],
    relations: Sequence[Mapping[Cell, int]],
    targets: Iterable[Cell] | None = None,
) -> dict[Cell, tuple[float, float]]:
    """{unknown cell: (min, max)} over every assignment that satisfies every relation
    (sum of coefficient * cell = 0) with the shown cells fixed.

    With `targets`, only those cells are solved for, and a target whose values in two solutions
    found on the way span two whole numbers is not solved further: its range is that span
    (inside its true range, so `recovered` says the same of it)."""
    cells = sorted(unknown, key=repr)
    if not cells:
        return {}
    index = {c: i for i, c in enumerate(cells)}
    a_eq, b_eq = _equations(shown, index, relations)
    bounds = [(unknown[c][0], None if math.isinf(unknown[c][1]) else unknown[c][1]) for c in cells]
    if _solve(np.zeros(len(cells)), a_eq, b_eq, bounds).status:
        # no solution with every "<11" at least 1: zeros were suppressed as "<11"
        bounds = [(0, hi) if lo == 1 and hi is not None else (lo, hi) for lo, hi in bounds]
    chosen = None if targets is None else set(targets)
    wanted = [c for c in cells if chosen is None or c in chosen]
    ranges = {} if targets is None else _two_whole_values_apart(wanted, index, a_eq, b_eq, bounds)
    for c in (c for c in wanted if c not in ranges):
        objective = np.zeros(len(cells))
        objective[index[c]] = 1.0
        low = _solve(objective, a_eq, b_eq, bounds)
        high = _solve(-objective, a_eq, b_eq, bounds)
        assert low.status == 0, f"the published figures are inconsistent ({low.message})"
        top = -high.fun if high.status == 0 else math.inf  # unbounded above
        ranges[c] = (low.fun, top)
    return ranges


def _equations(
    shown: Mapping[Cell, float], index: Mapping[Cell, int], relations: Sequence[Mapping[Cell, int]]
) -> tuple[sparse.csr_array | None, np.ndarray | None]:
    """The relations a reader can use, as A x = b over the unknown cells (sparse: a page's
    table has thousands of cells, each relation a few of them)."""
    rows, columns, coefficients, rhs = [], [], [], []
    for relation in relations:
        if not any(c in index for c in relation):
            continue
        if any(c not in index and c not in shown for c in relation):
            continue  # a relation on a cell the reader cannot see at all: unusable
        constant = 0.0
        for c, coefficient in relation.items():
            if c in index:
                rows.append(len(rhs))
                columns.append(index[c])
                coefficients.append(coefficient)
            else:
                constant += coefficient * shown[c]
        rhs.append(-constant)
    if not rhs:
        return None, None
    shape = (len(rhs), len(index))
    a_eq = sparse.coo_array((coefficients, (rows, columns)), shape=shape).tocsr()  # sums repeats
    return a_eq, np.asarray(rhs)


def _solve(objective: np.ndarray, a_eq, b_eq, bounds):
    return linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")


def _two_whole_values_apart(
    wanted: Sequence[Cell], index: Mapping[Cell, int], a_eq, b_eq, bounds
) -> dict[Cell, tuple[float, float]]:
    """{target: span of its values} for the targets whose values in two solutions (the
    targets' sum made as small, then as large, as the relations allow) span two whole
    numbers: such a target is not recovered, whatever its exact range. Unbounded cells are
    capped for these two solutions only (a capped solution is still a solution)."""
    finite = [hi for lo, hi in bounds if hi is not None] + [lo for lo, hi in bounds]
    shown = 0.0 if b_eq is None else float(np.abs(b_eq).sum())  # the shown counts' part
    cap = 2 * (sum(abs(v) for v in finite) + shown + 100)
    capped = [(lo, cap if hi is None else hi) for lo, hi in bounds]
    objective = np.zeros(len(bounds))
    objective[[index[c] for c in wanted]] = 1.0
    found = [_solve(sign * objective, a_eq, b_eq, capped) for sign in (1.0, -1.0)]
    if any(r.status for r in found):
        return {}
    spans = {}
    for c in wanted:
        low, high = sorted(r.x[index[c]] for r in found)
        if math.ceil(low - 1e-6) < math.floor(high + 1e-6):
            spans[c] = (low, high)
    return spans


def recovered(ranges: Mapping[Cell, tuple[float, float]]) -> list[Cell]:
    """Cells whose range holds a single whole number."""
    return [
        c
        for c, (low, high) in ranges.items()
        if math.isfinite(high) and math.floor(high + 1e-6) == math.ceil(low - 1e-6)
    ]


def code_range(code: int, small_max: int = 10) -> tuple[float, float]:
    """What a reader knows of a cell from its embedded value (trscohort.dashboards.client):
    -1 "<k+1" is 1..k, -2 "withheld" is above k, any other value is the count itself."""
    if code == -1:
        return (1, small_max)
    if code == -2:
        return (small_max + 1, math.inf)
    return (code, code)


def zeros_read_as_possible(
    unknown: Mapping[Cell, tuple[float, float]], truth: Mapping[Cell, float], small_max: int = 10
) -> dict[Cell, tuple[float, float]]:
    """The reader who knows the table hides a zero as "<k+1" (the truth says one does) reads
    every "<k+1" of it as 0..k; otherwise the bounds are as given."""
    small = (1, small_max)
    if not any(truth.get(c) == 0 for c, r in unknown.items() if tuple(r) == small):
        return dict(unknown)
    return {c: (0, small_max) if tuple(r) == small else r for c, r in unknown.items()}


def disclosed(
    ranges: Mapping[Cell, tuple[float, float]], targets: Iterable[Cell], truth: Mapping[Cell, float]
) -> list[Cell]:
    """Target cells pinned to their true, non-zero value (any pin, where the truth is not
    known): a pin to a value the cell does not have (a "<k+1" read as 1..k where it hides a
    zero) is a wrong answer, and a suppressed zero worked out as 0 describes no one."""
    targets = set(targets)
    return [
        c
        for c in recovered(ranges)
        if c in targets and (c not in truth or round(ranges[c][0]) == truth[c] != 0)
    ]
