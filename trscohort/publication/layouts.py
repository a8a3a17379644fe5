"""Many small cubes of one shape, built from one layout and screened together (issue 16).

A page protects thousands of small cubes (one per month, indicator and stratum) over a few
shapes of hierarchy: the same cells, sums and relations by position, only the node names and
the counts differ. `CubeLayout` works a shape out once (`cube`'s cells in `cube`'s order, its
sums and its relations as incidence arrays); a part then costs its counts and its keys.

`clear_at_first_round` asks, of a batch of parts at once, the first question `protect` asks of
each: with only the counts from 1 to k suppressed, can a reader work out a suppressed cell (by
bounds, or by any combination of relations)? A part where nothing can is returned by `protect`
as it is after primary suppression, so it is published that way without its table being
built or solved; the others go through `protect` as before. The answer is `protect`'s own: the
bounds are tightened by the same passes on every part at once (no relation crosses two parts,
so each part's passes are those it would have alone), and the linear algebra is asked part by
part, as `protect` asks it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from trscohort.publication.suppression import (
    _HIDDEN,
    _PRIMARY,
    _SHOWN,
    CountTable,
    Hierarchy,
    Key,
    _bounds,
    _Incidence,
    _linearly_fixed,
    _sensitive,
    _tightened,
)


@dataclass(frozen=True)
class CubeLayout:
    """The cells, sums and relations of every cube over hierarchies of one shape, by position
    (cell i is the i-th combination of nodes, last dimension fastest, as in `cube`)."""

    sizes: tuple[int, ...]
    strides: tuple[int, ...]
    sums: tuple[tuple[int, tuple[int, ...]], ...]  # (total, parts), in `cube`'s order
    rel: np.ndarray
    cell: np.ndarray
    coef: np.ndarray
    aggregate: object  # cell counts = aggregate @ counts placed at their leaves (dense or CSR)
    internal: tuple[np.ndarray, ...]  # per dimension: which positions have children

    @property
    def size(self) -> int:
        return int(np.prod(self.sizes))

    @staticmethod
    def of(dimensions: Sequence[Hierarchy]) -> CubeLayout:
        return _layout(tuple(h.shape for h in dimensions))

    def cells(
        self,
        leaf_counts: Mapping[Key, int],
        dimensions: Sequence[Hierarchy],
        columns: Sequence[Sequence[Hashable]] | None = None,
    ) -> CubeCells | None:
        """The part's keys and counts (`columns`: the leaves' nodes dimension by dimension,
        `zip(*leaf_counts)`, where the caller has them); None where a count is given for a
        total (`cube` then checks the sums) or is negative (`cube` says which)."""
        n = len(leaf_counts)
        columns = list(zip(*leaf_counts, strict=True)) if columns is None else columns
        at = np.zeros(n, dtype=np.int64)
        for d, (h, stride) in enumerate(zip(dimensions, self.strides, strict=True)):
            found = np.fromiter(map(h.positions.__getitem__, columns[d]), np.int64, n)
            if self.internal[d][found].any():
                return None
            at += found * stride
        counts = np.fromiter(leaf_counts.values(), np.int64, n)
        if (counts < 0).any():
            return None
        placed = np.zeros(self.size)
        placed[at] = counts
        values = np.rint(self.aggregate @ placed).astype(np.int64)
        keys = list(itertools.product(*(h.nodes for h in dimensions)))
        return CubeCells(self, keys, values)


@dataclass(frozen=True)
class CubeCells:
    """One part: its keys (`cube`'s order) and counts over a layout."""

    layout: CubeLayout
    keys: list[Key]
    values: np.ndarray

    def counts(self) -> dict[Key, int]:
        return dict(zip(self.keys, self.values.tolist(), strict=True))

    def table(self, name: str, published: Callable[[Key], bool]) -> CountTable:
        """What `cube(name, leaves, dimensions, published)` returns."""
        table = CountTable(name)
        table.values = self.counts()
        table.published = {key: published(key) for key in self.keys}
        keys = self.keys
        table.sums = [(keys[t], tuple(keys[p] for p in parts)) for t, parts in self.layout.sums]
        return table

    def incidence(self) -> _Incidence:
        """What `_Incidence.of(table, table.relations())` gives for `table()`."""
        return _Incidence(
            self.keys,
            {key: i for i, key in enumerate(self.keys)},
            self.layout.rel,
            self.layout.cell,
            self.layout.coef,
            len(self.layout.sums),
            self.values.astype(float),
        )


SHOWN_CODE, PRIMARY_CODE, HIDDEN_CODE = _SHOWN, _PRIMARY, _HIDDEN  # shown, "<11", hidden


def first_codes(cells: CubeCells, published: Callable[[Key], bool], small_max: int) -> np.ndarray:
    """The status codes `protect` starts from: hidden where not published, "<11" for 1..k."""
    shown = np.fromiter((published(k) for k in cells.keys), bool, len(cells.keys))
    small = (cells.values >= 1) & (cells.values <= small_max)
    return np.where(~shown, _HIDDEN, np.where(small, _PRIMARY, _SHOWN)).astype(np.int8)


def clear_at_first_round(
    parts: Sequence[tuple[_Incidence, np.ndarray]], small_max: int
) -> list[bool]:
    """For each (incidence, first codes): does `protect`'s first round find no cell a reader
    can work out? Then `protect` returns the part with its first codes and nothing exposed."""
    if not parts:
        return []
    cell_at = np.cumsum([0] + [len(inc.keys) for inc, _ in parts])
    rel_at = np.cumsum([0] + [inc.n_relations for inc, _ in parts])
    codes = np.concatenate([c for _, c in parts])
    values = np.concatenate([inc.values for inc, _ in parts])
    together = _Incidence(
        [None] * int(cell_at[-1]),
        {},
        np.concatenate([inc.rel + r for (inc, _), r in zip(parts, rel_at[:-1], strict=True)]),
        np.concatenate([inc.cell + c for (inc, _), c in zip(parts, cell_at[:-1], strict=True)]),
        np.concatenate([inc.coef for inc, _ in parts]),
        int(rel_at[-1]),
        values,
    )
    start_low, start_high = _bounds(codes, values, small_max)
    low, high = _tightened(together, start_low, start_high)
    sensitive = _sensitive(codes, values, small_max)
    by_bounds = sensitive & (low == high) & (high == values) & (start_low != start_high)
    unknown = low != high
    # a "<11" that is a zero changes how a reader reads the others (`_ReaderView`): left to protect
    primary_zero = (codes == _PRIMARY) & (values == 0)
    clear = []
    for j, (incidence, _) in enumerate(parts):
        mine = slice(cell_at[j], cell_at[j + 1])
        if by_bounds[mine].any() or primary_zero[mine].any():
            clear.append(False)
            continue
        wanted = unknown[mine] & sensitive[mine]
        fixed = wanted.any() and (_linearly_fixed(incidence, unknown[mine], wanted) & wanted).any()
        clear.append(not fixed)
    return clear


# --------------------------------------------------------------------------- shapes


DENSE_AGGREGATE = 128  # cells: up to this many, the aggregation matrix is kept dense (131 kB)


@functools.lru_cache(maxsize=256)
def _layout(shapes: tuple[tuple[int, ...], ...]) -> CubeLayout:
    """The layout of the cubes over hierarchies of these shapes (`Hierarchy.shape`)."""
    from scipy.sparse import csr_matrix

    sizes = tuple(len(s) for s in shapes)
    strides = tuple(int(np.prod(sizes[d + 1 :])) for d in range(len(sizes)))
    # each shape as a hierarchy of positions: its children and chains as `cube` reads them
    by_position = [Hierarchy({i: (p if p >= 0 else None) for i, p in enumerate(s)}) for s in shapes]
    children = [h.children_of for h in by_position]
    chains = [h.chains for h in by_position]
    sums = []
    for flat, at in enumerate(itertools.product(*(range(n) for n in sizes))):
        for d, kids_of in enumerate(children):
            kids = kids_of.get(at[d])
            if kids:
                sums.append((flat, tuple(flat + (k - at[d]) * strides[d] for k in kids)))
    rel = np.repeat(np.arange(len(sums), dtype=np.int64), [1 + len(p) for _, p in sums])
    cell = np.fromiter((c for t, parts in sums for c in (t, *parts)), np.int64, rel.size)
    coef = np.fromiter(
        (c for _, parts in sums for c in (-1.0, *[1.0] * len(parts))), float, rel.size
    )
    rows, cols = [], []
    for flat, at in enumerate(itertools.product(*(range(n) for n in sizes))):
        for up in itertools.product(*(chains[d][i] for d, i in enumerate(at))):
            rows.append(sum(u * s for u, s in zip(up, strides, strict=True)))
            cols.append(flat)
    size = int(np.prod(sizes))
    aggregate = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    if size <= DENSE_AGGREGATE:  # a dense product is a few microseconds, a sparse one ~20
        aggregate = aggregate.toarray()
    internal = tuple(
        np.array([i in c for i in range(len(s))], bool)
        for s, c in zip(shapes, children, strict=True)
    )
    for array in (rel, cell, coef, *internal):
        array.setflags(write=False)
    return CubeLayout(sizes, strides, tuple(sums), rel, cell, coef, aggregate, internal)
