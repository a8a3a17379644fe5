"""Small-count suppression with complementary (secondary) suppression, for every published table.

Primary suppression hides a count from 1 to `publication.small_count_max` (k = 10 by default):
it is shown as "<11". That alone is not enough: a page that shows a total beside its parts gives a
hidden part back by subtraction (events per stratum against the event total, a site's adherence
against the overall figure, one funnel step against the next). Statistical agencies add
complementary suppression, and so does this module:

* A published table is a `CountTable`: cells (counts) and the additive relations a reader knows
  between them (`total = part + part + ...`: sites add up to all sites, months to years, strata
  to the overall figure, observed + missed windows to expected ones, accepted + quarantined +
  duplicates to rows read). Cells that are never shown but follow from others (the patients who
  drop out between two funnel steps, the patients without a site, missed windows per rule) are
  *hidden* cells of the table: they are counts too, and protected like the others.
* `protect` marks the small cells (primary), then repeatedly looks for a suppressed cell, or a
  small hidden one, that a reader could work out, and withholds one more shown cell of a relation
  that gives it away (secondary, shown as "withheld"), until none can be worked out.
* What a reader knows, and what "worked out" means: shown cells exactly; zero is shown (it
  describes no one) except as the last resort below; a "<11" cell lies in 1..k; a withheld cell
  is above k (it was not small); a hidden cell is at least 1. A cell is given away when the
  relations and these bounds leave it a single possible value (by bounds tightened relation by
  relation, and by linear algebra: a cell fixed by any combination of relations). `tests/security/test_complementary_suppression.py`
  checks the published pages the other way round: it solves for every suppressed cell, from what
  the pages publish, with a linear program.

Which cell is withheld for a cell a reader can work out:
* Pinned by the bounds: how its bounds were worked out is followed (the relation that gave
  each bound, then the bounds of the other cells that relation used) back to a relation with
  a shown count; the complement is taken there, where it frees the cell.
* Pinned by small counts alone (ten "<11" parts of a "<11" total are 1 each; or a chain of such
  relations, with no shown count on the way): no count withheld anywhere can free it. The
  zeros of those relations are suppressed as "<11" too, and a reader who finds that the "<11"
  of a relation cannot all be 1..k reads them 0..k (a suppressed zero cannot be told from a
  small count; `_ReaderView`). Where there is no zero either, the cell is reported as exposed.
* Pinned only by a combination of relations (linear algebra): a shown count of its relation
  with the fewest suppressed cells, else one its subtractions use, else the nearest shown one.
Zero cells are never chosen as complements; the zeros around a cell still pinned are the
last resort. A complement is the smallest shown count among the cells that are not totals of
another relation, where there is one: the least information lost. Counts of data-quality
checks are not patient counts and are not suppressed.

Tables are built from aggregates (never rows): `cube` builds one from leaf counts and one
hierarchy per dimension (site -> all sites, month -> year -> all time, rule -> group), adding
every marginal cell and every relation between them.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import functools
import hashlib
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

Key = tuple[Hashable, ...]
INF = math.inf


class Status(Enum):
    SHOWN = "shown"
    PRIMARY = "primary"  # 1..k: shown as "<k+1"
    SECONDARY = "secondary"  # withheld so that a small count cannot be worked out
    HIDDEN = "hidden"  # never published (a derived count)


@dataclass(frozen=True)
class PublishedCount:
    """What a page may show for one cell: `value` is None when suppressed."""

    value: int | None
    label: str
    status: Status

    @property
    def suppressed(self) -> bool:
        return self.value is None


WITHHELD = "withheld"


def small_label(small_max: int) -> str:
    return f"<{small_max + 1}"


@dataclass
class CountTable:
    """Cells (key -> count), which of them are published, and the relations between them."""

    name: str
    values: dict[Key, int] = field(default_factory=dict)
    published: dict[Key, bool] = field(default_factory=dict)
    sums: list[tuple[Key, tuple[Key, ...]]] = field(default_factory=list)

    def add(self, key: Key, value: int, *, published: bool = True) -> None:
        value = int(value or 0)
        if value < 0:
            raise ValueError(f"{self.name}: negative count {value} for {key}")
        if key in self.values and self.values[key] != value:
            raise ValueError(f"{self.name}: {key} added twice with different counts")
        self.values[key] = value
        self.published[key] = self.published.get(key, False) or published

    def add_sum(self, total: Key, parts: Iterable[Key]) -> None:
        """A relation the reader knows: count(total) = sum of count(parts)."""
        parts = tuple(parts)
        missing = [k for k in (total, *parts) if k not in self.values]
        if missing:
            raise KeyError(f"{self.name}: relation on unknown cells {missing[:3]}")
        if self.values[total] != sum(self.values[p] for p in parts):
            raise ValueError(f"{self.name}: {total} is not the sum of its parts")
        self.sums.append((total, parts))

    def relations(self) -> list[dict[Key, int]]:
        """Each relation as {cell: coefficient}, summing to zero."""
        found = []
        for total, parts in self.sums:
            terms: dict[Key, int] = defaultdict(int)
            terms[total] -= 1
            for p in parts:
                terms[p] += 1
            found.append({k: c for k, c in terms.items() if c})
        return found


# --------------------------------------------------------------------------- the reader's view

# Status as small integers, so that the reader's view of a whole table is a few array operations.
_CODE = {Status.SHOWN: 0, Status.PRIMARY: 1, Status.SECONDARY: 2, Status.HIDDEN: 3}
_SHOWN, _PRIMARY, _SECONDARY, _HIDDEN = range(4)


def _known(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Cells a reader knows outright: shown, or a zero never suppressed."""
    return (codes == _SHOWN) | ((values == 0) & (codes != _PRIMARY))


def _bounds(
    codes: np.ndarray, values: np.ndarray, small_max: int, zero_possible: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """What a reader knows of each cell before using any relation: (low, high). A shown count,
    or a zero never suppressed, is known; "<11" is 1..k (0..k where `zero_possible`: a "<11"
    the reader knows may be a suppressed zero, `_ReaderView` says when); withheld is above k;
    a hidden non-zero cell is at least 1."""
    primary, secondary = codes == _PRIMARY, codes == _SECONDARY
    known = _known(codes, values)
    low = np.where(known, values, np.where(secondary, small_max + 1, 1.0))
    if zero_possible is not None:
        low = np.where(primary & zero_possible, 0.0, low)
    high = np.where(known, values, np.where(primary, float(small_max), INF))
    return low.astype(float), high.astype(float)


def _sensitive(codes: np.ndarray, values: np.ndarray, small_max: int) -> np.ndarray:
    """Cells that must not be worked out: every suppressed one, and small hidden ones (a
    suppressed zero describes no one: working it out discloses nothing)."""
    return (
        (codes == _SECONDARY)
        | ((codes == _PRIMARY) & (values > 0))
        | ((codes == _HIDDEN) & (values >= 1) & (values <= small_max))
    )


@dataclass(frozen=True)
class _Incidence:
    """The relations as coordinate arrays: entry e says relation rel[e] has coef[e] * cell[e];
    `values` are the cells' counts, `index` each key's position in `keys`, and `order` their
    rank when sorted by repr (a stable order for the random vector of `_free_coordinates`,
    whatever order the table was built in)."""

    keys: list[Key]
    index: dict[Key, int]
    rel: np.ndarray
    cell: np.ndarray
    coef: np.ndarray
    n_relations: int
    values: np.ndarray

    @staticmethod
    def of(table: CountTable, relations: list[dict[Key, int]]) -> _Incidence:
        keys = list(table.values)
        index = {k: i for i, k in enumerate(keys)}
        rel, cell, coef = [], [], []
        for r, relation in enumerate(relations):
            for k, c in relation.items():
                rel.append(r)
                cell.append(index[k])
                coef.append(c)
        return _Incidence(
            keys,
            index,
            np.asarray(rel, dtype=np.int64),
            np.asarray(cell, dtype=np.int64),
            np.asarray(coef, dtype=float),
            len(relations),
            np.fromiter((table.values[k] for k in keys), dtype=float, count=len(keys)),
        )

    @functools.cached_property
    def cells_of_relation(self) -> tuple[list[int], list[int]]:
        """(start of each relation's entries and one past the last, their cells): relation r's
        cells are cells[start[r]:start[r + 1]], in the order of the relation."""
        order = np.argsort(self.rel, kind="stable")
        start = np.searchsorted(self.rel[order], np.arange(self.n_relations + 1))
        return start.tolist(), self.cell[order].tolist()

    @functools.cached_property
    def relations_of_cell(self) -> tuple[list[int], list[int]]:
        """(start of each cell's entries and one past the last, their relations, ascending)."""
        order = np.argsort(self.cell, kind="stable")
        start = np.searchsorted(self.cell[order], np.arange(len(self.keys) + 1))
        return start.tolist(), self.rel[order].tolist()

    @functools.cached_property
    def order(self) -> np.ndarray:
        """Each cell's rank by repr (worked out once a table needs it: most never do)."""
        order = np.empty(len(self.keys), dtype=np.int64)
        order[sorted(range(len(self.keys)), key=lambda i: repr(self.keys[i]))] = np.arange(
            len(self.keys)
        )
        return order

    def codes(self, status: Mapping[Key, Status]) -> np.ndarray:
        """Each cell's status code, in the order of `keys` (read-only)."""
        if isinstance(status, _TrackedStatus) and status.incidence is self:
            return status.codes_view()
        return np.fromiter(
            (_CODE[status[k]] for k in self.keys), dtype=np.int8, count=len(self.keys)
        )


class _TrackedStatus(dict):
    """The cells' statuses, with their codes kept as an array beside them (in the order of
    `keys`) as `_protect` changes them: each round reads them all (`_Incidence.codes`), which
    rebuilding from the dict made the largest cost of a table with many rounds."""

    def __init__(
        self, status: Mapping[Key, Status], incidence: _Incidence, codes: np.ndarray | None = None
    ):
        super().__init__(status)
        self.incidence = incidence
        self.codes = (incidence.codes(status) if codes is None else codes).copy()

    def __setitem__(self, key: Key, value: Status) -> None:
        super().__setitem__(key, value)
        self.codes[self.incidence.index[key]] = _CODE[value]

    def snapshot(self) -> _TrackedStatus:
        return _TrackedStatus(self, self.incidence, self.codes)

    def codes_view(self) -> np.ndarray:
        view = self.codes.view()
        view.flags.writeable = False
        return view


def _others(values: np.ndarray, finite: np.ndarray, rel: np.ndarray, n: int, none: float):
    """Per entry: the sum of the other entries of its relation (`none` if one is infinite)."""
    own = np.where(finite, values, 0.0)
    infinite = ~finite
    total = np.bincount(rel, weights=own, minlength=n)
    others_infinite = np.bincount(rel[infinite], minlength=n)[rel] - infinite > 0
    return np.where(others_infinite, none, total[rel] - own)


def _tighten(
    incidence: _Incidence,
    low: np.ndarray,
    high: np.ndarray,
    passes: int = 500,
    *,
    until_contradiction: bool = False,
    provenance: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Bounds of each cell from each relation, repeated until nothing changes (in place).
    For a relation sum(c * x) = 0: c_k * x_k = -(sum of the others), whose range is known.
    After the first pass only the relations with a cell whose bounds just moved are worked
    again: the others would give the bounds they gave (the same passes, on fewer entries).
    `until_contradiction`: stop as soon as a cell's low passes its high (bounds only ever
    narrow, so the bounds have no solution whatever the later passes do). `provenance`: two
    arrays (low, high) given, for each cell, the relation that gave it its bound in the pass
    that last moved it (-1: never moved): each bound traced to bounds of an earlier pass."""
    if incidence.rel.size == 0:
        return
    n = incidence.n_relations
    rel, cell, coef = incidence.rel, incidence.cell, incidence.coef
    for _ in range(passes):
        new_low, new_high = _implied(rel, cell, coef, n, low, high)
        before_low, before_high = low.copy(), high.copy()
        np.maximum.at(low, cell, new_low)
        np.minimum.at(high, cell, new_high)
        moved = (low != before_low) | (high != before_high)
        if not moved.any():
            return
        if provenance is not None:
            _record_provenance(provenance[0], rel, cell, new_low, low, before_low)
            _record_provenance(provenance[1], rel, cell, new_high, high, before_high)
        if until_contradiction and np.any(low[cell] > high[cell]):
            return
        # every relation of a cell that moved
        rel, cell, coef = _entries_of(incidence, _relations_with(incidence, moved))


def _implied(
    rel: np.ndarray, cell: np.ndarray, coef: np.ndarray, n: int, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per entry: the bounds its relation gives its cell from the other cells' bounds (for
    sum(c * x) = 0: c_k * x_k = -(sum of the others), whose range is known), as whole numbers."""
    positive = coef > 0
    with np.errstate(invalid="ignore"):
        a = np.where(positive, coef * low[cell], coef * high[cell])  # lowest c * x
        b = np.where(positive, coef * high[cell], coef * low[cell])  # highest c * x
        others_low = _others(a, np.isfinite(a), rel, n, -INF)
        others_high = _others(b, np.isfinite(b), rel, n, INF)
        new_low = np.where(positive, -others_high / coef, -others_low / coef)
        new_high = np.where(positive, -others_low / coef, -others_high / coef)
        new_low = np.where(np.isfinite(new_low), np.ceil(new_low - 1e-9), new_low)
        new_high = np.where(np.isfinite(new_high), np.floor(new_high + 1e-9), new_high)
    return new_low, new_high


def _record_provenance(given_by, rel, cell, new_bound, bound, before) -> None:
    """For each cell whose bound moved in this pass: the first relation (lowest number) whose
    entry gave it its new bound."""
    moved = bound != before
    if moved.any():
        gave = moved[cell] & (new_bound == bound[cell])
        given_by[moved] = np.iinfo(np.int64).max
        np.minimum.at(given_by, cell[gave], rel[gave])


def _relations_with(incidence: _Incidence, cells: np.ndarray) -> np.ndarray:
    """Per relation: does it hold one of `cells` (a mask)?"""
    found = np.zeros(incidence.n_relations, dtype=bool)
    found[incidence.rel[cells[incidence.cell]]] = True
    return found


def _entries_of(
    incidence: _Incidence, relations: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rel, cell, coef) of the entries of the relations in `relations` (a mask)."""
    entries = np.flatnonzero(relations[incidence.rel])
    return incidence.rel[entries], incidence.cell[entries], incidence.coef[entries]


def _linearly_fixed(incidence: _Incidence, unknown: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Cells (a mask) that some combination of relations fixes, bounds aside: e_j in the row
    space of the relations restricted to the unknown cells (its coordinate is 0 in the null
    space). Only the groups of relations (joined by the unknown cells they share) that hold
    a wanted cell are solved: the others cannot fix one."""
    from scipy.sparse import coo_matrix, csr_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(incidence.keys)
    fixed = np.zeros(n, dtype=bool)
    entry = unknown[incidence.cell]
    rel, cell, coef = incidence.rel[entry], incidence.cell[entry], incidence.coef[entry]
    if rel.size == 0 or not np.any(wanted[cell]):
        return fixed
    if np.unique(cell).size <= SMALL_GROUP:
        # One dense solve for all: the groups' null spaces side by side are the whole one's.
        fixed[_fixed_in_small(rel, cell, coef)] = True
        return fixed
    # cells and relations as the nodes of one graph, a cell joined to its relations
    nodes = n + incidence.n_relations
    graph = coo_matrix((np.ones(rel.size), (cell, n + rel)), shape=(nodes, nodes))
    _, label = connected_components(graph, directed=False)
    by_group = np.argsort(label[cell], kind="stable")
    groups, first = np.unique(label[cell][by_group], return_index=True)
    ends = np.append(first[1:], by_group.size)
    position = np.empty(n, dtype=np.int64)
    for group in np.intersect1d(groups, label[np.flatnonzero(wanted & unknown)]):
        at = np.searchsorted(groups, group)
        mine = by_group[first[at] : ends[at]]
        row_ids, rows = np.unique(rel[mine], return_inverse=True)
        col_ids = np.unique(cell[mine])
        if col_ids.size > SMALL_GROUP:  # the random vector's coordinates in a stable order
            col_ids = col_ids[np.argsort(incidence.order[col_ids])]
        position[col_ids] = np.arange(col_ids.size)
        cols = position[cell[mine]]
        shape = (row_ids.size, col_ids.size)
        if col_ids.size <= SMALL_GROUP:  # dense: no sparse-matrix overhead on a few cells
            matrix = np.zeros(shape)
            np.add.at(matrix, (rows, cols), coef[mine])
            free_found = _free_dense(matrix)
        else:
            free_found = _free_coordinates(csr_matrix((coef[mine], (rows, cols)), shape=shape))
        fixed[col_ids[~np.asarray(free_found, dtype=bool)]] = True
    return fixed


SMALL_GROUP = 200  # up to this many unknown cells, the null space from a dense eigensolver
# (one BLAS thread: 0.4 ms at 60 cells, 12 ms at 250; lsqr 10-25 ms from 60 cells on)

# The fixed cells of each small system solved in this process, by its entries: the parts of a
# page share a few shapes, and half of their systems (the same cells unknown in the same
# relations) come again (5,199 solves, 2,735 distinct, for the quality indicators at 1M).
_SMALL_SOLVED: dict[bytes, np.ndarray] = {}
_SMALL_SOLVED_MAX = 20_000


def _fixed_in_small(rel: np.ndarray, cell: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """The cells fixed by a system of at most SMALL_GROUP unknown cells, given as its entries
    (relation, cell, coefficient): those with no freedom in the null space."""
    # three arrays of one length, as one digest (a few bytes kept per system, not its entries)
    key = hashlib.blake2b(rel.tobytes() + cell.tobytes() + coef.tobytes(), digest_size=16).digest()
    found = _SMALL_SOLVED.get(key)
    if found is None:
        col_ids, cols = np.unique(cell, return_inverse=True)
        row_ids, rows = np.unique(rel, return_inverse=True)
        matrix = np.zeros((row_ids.size, col_ids.size))
        matrix[rows, cols] = coef  # a cell is in a relation once: each entry set once
        found = col_ids[~np.asarray(_free_dense(matrix), dtype=bool)]
        found.setflags(write=False)  # one array for every caller that asks again
        if len(_SMALL_SOLVED) >= _SMALL_SOLVED_MAX:
            _SMALL_SOLVED.clear()
        _SMALL_SOLVED[key] = found
    return found


def _free_dense(matrix: np.ndarray) -> list[bool]:
    """For each column of a small dense matrix: does its null space move that coordinate?"""
    gram = matrix.T @ matrix
    eigenvalues, vectors = np.linalg.eigh(gram)
    null = vectors[:, eigenvalues < 1e-9 * max(1.0, float(eigenvalues.max(initial=0.0)))]
    if null.size == 0:
        return [False] * matrix.shape[1]
    return list(np.linalg.norm(null, axis=1) > 1e-6)


def _free_coordinates(matrix) -> list[bool]:
    """For each column of a sparse matrix: does its null space move that coordinate?"""
    rows, cols = matrix.shape
    if cols <= SMALL_GROUP:
        return _free_dense(matrix.toarray())
    # Large: project a random vector onto the null space (least squares on the relations).
    # A free coordinate of the projection is 0 with probability 0, and one that came out
    # below the threshold would be read as fixed: a cell protected once more, never one
    # left exposed. (Three vectors gave the same decisions on every table of the 1M / 30-site
    # pages, at 1.4 times the time.)
    from scipy.sparse.linalg import LinearOperator, lsqr

    z = np.random.default_rng(0).standard_normal(cols)
    transposed, matrix = matrix.T.tocsr(), matrix.tocsr()
    # Products straight on the CSR arrays: a sparse matrix handed to lsqr goes through five
    # layers of LinearOperator per product (hundreds per solve; ANC 2025 table 3.0 -> 2.8 s).
    operator = LinearOperator(
        transposed.shape,
        matvec=lambda x: transposed @ x,
        rmatvec=lambda y: matrix @ y,
        dtype=float,
    )
    y = lsqr(operator, z, atol=1e-14, btol=1e-14, iter_lim=20 * cols)[0]
    return list(np.abs(z - transposed @ y) > 1e-6)


def given_away(
    table: CountTable,
    status: Mapping[Key, Status],
    small_max: int,
    relations: list[dict[Key, int]] | None = None,
    incidence: _Incidence | None = None,
) -> list[Key]:
    """Sensitive cells a reader can work out from the shown ones, the bounds and the relations
    (`_ReaderView`: by bounds, then by any combination of relations)."""
    if incidence is None:
        incidence = _Incidence.of(table, table.relations() if relations is None else relations)
    view = _ReaderView(incidence, status, small_max)
    return view.keys(view.by_bounds | view.by_relations())


class _ReaderView:
    """What a reader can work out of a table as shown: `by_bounds`, the sensitive cells the
    bounds pin (each relation used in turn, repeated), and `by_relations()`, those also pinned by
    a combination of relations (linear algebra: the costlier test, asked for separately).

    Where zeros are suppressed (the last resort of `protect`) the reader first reads every
    "<11" as 1..k. A relation that then has no solution tells the reader a zero hides among its
    "<11" cells, which are read 0..k from then on; if the table as a whole still has none, every
    "<11" is. A cell pinned to a value it does not have is not given away."""

    def __init__(self, incidence: _Incidence, status: Mapping[Key, Status], small_max: int):
        self.incidence = incidence
        codes, values = incidence.codes(status), incidence.values
        start_low, start_high = _bounds(codes, values, small_max)
        # the relation that gave each cell its bounds (`_bounds_complement` follows them)
        self.given_by = (np.full(len(values), -1), np.full(len(values), -1))
        if not np.any((codes == _PRIMARY) & (values == 0)):
            low, high = _tightened(incidence, start_low, start_high, provenance=self.given_by)
        else:
            zero_possible = np.zeros(len(values), dtype=bool)
            zero_possible[
                incidence.cell[_no_solution(incidence, start_low, start_high)[incidence.rel]]
            ] = True
            start_low, start_high = _bounds(codes, values, small_max, zero_possible)
            # Only whether this reading has a solution is asked before the next one: a
            # contradiction can take a hundred passes to grow to its end, a step a pass.
            low, high = _tightened(
                incidence, start_low, start_high, until_contradiction=True, provenance=self.given_by
            )
            if np.any(low > high):
                everywhere = np.ones(len(values), bool)
                start_low, start_high = _bounds(codes, values, small_max, everywhere)
                self.given_by = (np.full(len(values), -1), np.full(len(values), -1))
                low, high = _tightened(incidence, start_low, start_high, provenance=self.given_by)
        self.start, self.tight = (start_low, start_high), (low, high)
        self.codes = codes.copy()  # as of this view (a tracked status's codes change live)
        self.sensitive = _sensitive(codes, values, small_max)
        self.by_bounds = (
            self.sensitive & (low == high) & (high == values) & (start_low != start_high)
        )
        self.unknown = low != high

    def by_relations(self) -> np.ndarray:
        wanted = self.unknown & self.sensitive
        return _linearly_fixed(self.incidence, self.unknown, wanted) & wanted

    @functools.cached_property
    def shown_counts(self) -> np.ndarray:
        """Cells shown with a count above zero when the view was taken (a mask)."""
        return (self.codes == _SHOWN) & (self.incidence.values > 0)

    @functools.cached_property
    def pinning_relations(self) -> dict[int, list[int]]:
        """{cell: [relation]} for each sensitive cell that one relation pins on its own, from
        what the reader knows before any relation is used, where that relation has no shown
        count above zero: no count withheld anywhere can free such a cell, only the relation's
        zeros suppressed can."""
        incidence = self.incidence
        rel, cell, coef, n = incidence.rel, incidence.cell, incidence.coef, incidence.n_relations
        if rel.size == 0:
            return {}
        low, high = self.start
        values = incidence.values
        implied_low, implied_high = _implied(rel, cell, coef, n, low, high)
        entry_low = np.maximum(implied_low, low[cell])
        entry_high = np.minimum(implied_high, high[cell])
        has_shown = np.bincount(rel, weights=self.shown_counts[cell], minlength=n) > 0
        pinned = (
            self.sensitive[cell]
            & (entry_low == entry_high)
            & (entry_high == values[cell])
            & (low[cell] != high[cell])
            & ~has_shown[rel]
        )
        found: dict[int, list[int]] = defaultdict(list)
        for c, r in zip(cell[pinned].tolist(), rel[pinned].tolist(), strict=True):
            found[c].append(r)
        return found

    def had_shown_zero(self, relations: Iterable[int]) -> bool:
        """Did one of these relations have a shown zero when the view was taken?"""
        incidence = self.incidence
        wanted = np.zeros(incidence.n_relations, dtype=bool)
        wanted[list(relations)] = True
        entries = wanted[incidence.rel]
        cells = incidence.cell[entries]
        return bool(np.any((self.codes[cells] == _SHOWN) & (incidence.values[cells] == 0)))

    def keys(self, exposed: np.ndarray) -> list[Key]:
        return sorted((self.incidence.keys[i] for i in np.flatnonzero(exposed)), key=repr)


def _tightened(
    incidence: _Incidence,
    low: np.ndarray,
    high: np.ndarray,
    *,
    until_contradiction: bool = False,
    provenance: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The reader's bounds once the relations are used (`_tighten` on copies)."""
    low, high = low.copy(), high.copy()
    _tighten(incidence, low, high, until_contradiction=until_contradiction, provenance=provenance)
    return low, high


def _no_solution(incidence: _Incidence, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per relation: sum(c * x) = 0 cannot hold with every x within its bounds."""
    rel, cell, coef = incidence.rel, incidence.cell, incidence.coef
    positive = coef > 0
    with np.errstate(invalid="ignore"):
        lowest = np.bincount(
            rel,
            weights=coef * np.where(positive, low[cell], high[cell]),
            minlength=incidence.n_relations,
        )
        highest = np.bincount(
            rel,
            weights=coef * np.where(positive, high[cell], low[cell]),
            minlength=incidence.n_relations,
        )
    return (lowest > 0) | (highest < 0)


# --------------------------------------------------------------------------- protection


@dataclass(frozen=True)
class Protected:
    """A table with the status of every cell after primary and complementary suppression."""

    table: CountTable
    status: Mapping[Key, Status]
    small_max: int
    # cells a reader can still work out, with no shown count left to withhold (see protect)
    exposed: frozenset = frozenset()

    def cell(self, key: Key) -> PublishedCount:
        """What may be shown for a cell (a key the table does not have counts as 0)."""
        if key not in self.table.values:
            return PublishedCount(0, "0", Status.SHOWN)
        value, status = self.table.values[key], self.status[key]
        if status is Status.SHOWN:
            return PublishedCount(value, f"{value:,}", status)
        if status is Status.PRIMARY:
            return PublishedCount(None, small_label(self.small_max), status)
        if status is Status.SECONDARY:
            return PublishedCount(None, WITHHELD, status)
        raise KeyError(f"{self.table.name}: {key} is never published")

    def shown(self, *keys: Key) -> bool:
        return all(not self.cell(k).suppressed for k in keys)

    def suppressed_keys(self) -> list[Key]:
        return [k for k, s in self.status.items() if s in (Status.PRIMARY, Status.SECONDARY)]

    def status_codes(self) -> np.ndarray | None:
        """Each cell's status code (`layouts.SHOWN_CODE`, ...) in the order of the table's
        values, read-only, where `protect` kept them as an array beside the statuses (a table
        it solved); None otherwise."""
        status = self.status
        if not isinstance(status, _TrackedStatus):
            return None
        if status.incidence.keys != list(self.table.values):
            return None
        return status.codes_view()


def _is_total(table: CountTable) -> set[Key]:
    return {total for total, _ in table.sums}


def _complement(
    table: CountTable,
    status: dict[Key, Status],
    key: Key,
    relations_of: Mapping[Key, list[int]],
    relations: list[dict[Key, int]],
    totals: set[Key],
) -> Key | None:
    """A shown cell whose suppression protects `key`: from its relation with the fewest
    suppressed cells, a non-total before a total, the smallest count first."""
    best = None
    for i in sorted(
        relations_of.get(key, []),
        key=lambda i: sum(1 for k in relations[i] if status[k] is not Status.SHOWN),
    ):
        candidates = [
            k
            for k in relations[i]
            if k != key and status[k] is Status.SHOWN and table.values[k] > 0
        ]
        if candidates:
            best = min(candidates, key=lambda k: (k in totals, table.values[k], repr(k)))
            return best
    return best


_ONE_BLAS_THREAD: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "one_blas_thread", default=False
)


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Linear algebra on one thread while suppression runs. The matrices are small (one
    part of a table each): on 2 busy cores OpenBLAS threads cost 10 to 100 times the solve
    itself (0.4 ms -> 60 ms for a 30 x 60 eigensolve at load 9). Entering costs ~0.4 ms, so
    callers that protect many tables (the page writer) enter it once around all of them."""
    if _ONE_BLAS_THREAD.get():
        yield
        return
    from threadpoolctl import threadpool_limits

    token = _ONE_BLAS_THREAD.set(True)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        _ONE_BLAS_THREAD.reset(token)


def protect(table: CountTable, small_max: int, *, report: bool = True) -> Protected:
    """Primary suppression of counts 1..small_max, then complementary suppression until no
    suppressed (or small hidden) cell can be worked out. small_max 0: nothing is suppressed.

    Where a cell can still be worked out and no shown count withheld could free it (small
    counts alone pin it: ten "<11" parts of a "<11" total are 1 each), the zeros of the
    relations that pin it are suppressed too (see the module's notes on the order).
    A cell still pinned after that (its relations have no zero) is returned in
    `Protected.exposed` and reported to `recording_exposed`: never silently (`report=False`:
    the caller reports the table it finally publishes, with `report_exposed`)."""
    with one_blas_thread():
        protected = _protect(table, small_max)
    if report:
        report_exposed(protected)
    return protected


def report_exposed(protected: Protected) -> None:
    """Tell `recording_exposed` about a published table with cells a reader can work out."""
    record_exposed(protected.table.name, len(protected.exposed))


def record_exposed(name: str, cells: int) -> None:
    """Tell `recording_exposed` that table `name` has `cells` a reader can work out (none: nothing
    is told); for a table protected in a worker process, whose recorder is the parent's."""
    recorder = _EXPOSED.get()
    if cells and recorder is not None:
        recorder.append((name, cells))


_EXPOSED: contextvars.ContextVar[list | None] = contextvars.ContextVar("exposed", default=None)


@contextlib.contextmanager
def recording_exposed() -> Iterator[list[tuple[str, int]]]:
    """[(table name, cells)] of every table `protect` left with cells a reader can work out,
    while the block runs."""
    found: list[tuple[str, int]] = []
    token = _EXPOSED.set(found)
    try:
        yield found
    finally:
        _EXPOSED.reset(token)


def primary_statuses(table: CountTable, small_max: int) -> dict[Key, Status]:
    """Each cell's status after primary suppression alone, where `protect` starts: hidden if
    never published, "<11" for a count from 1 to small_max, shown otherwise."""
    return {
        k: (
            Status.HIDDEN
            if not table.published[k]
            else Status.PRIMARY
            if 1 <= v <= small_max
            else Status.SHOWN
        )
        for k, v in table.values.items()
    }


def _protect(table: CountTable, small_max: int) -> Protected:
    status = primary_statuses(table, small_max)
    if small_max <= 0 or not any(1 <= v <= small_max for v in table.values.values()):
        return Protected(table, status, small_max)  # no small count, shown or hidden
    relations = table.relations()
    relations_of: dict[Key, list[int]] = defaultdict(list)
    for i, relation in enumerate(relations):
        for k in relation:
            relations_of[k].append(i)
    totals = _is_total(table)
    incidence = _Incidence.of(table, relations)
    status = _TrackedStatus(status, incidence)
    reachable = _ShownByComponent(incidence, status)
    stuck: set[Key] = set()
    relations_tell_more = True  # did the last linear-algebra test find more than the bounds?
    while True:
        # The linear algebra solves a growing group afresh each round: a large table's rounds
        # (up to ~200) mostly protect what the bounds alone give away. So it is asked while it
        # keeps finding cells the bounds do not, then only once the bounds find nothing new;
        # the loop ends only after a round that asked both.
        view = _ReaderView(incidence, status, small_max)
        found = view.keys(view.by_bounds)
        asked_both = relations_tell_more or not any(k not in stuck for k in found)
        if asked_both:
            beyond_bounds = view.by_relations() & ~view.by_bounds
            relations_tell_more = bool(beyond_bounds.any())
            found = view.keys(view.by_bounds | beyond_bounds)
        exposed = [k for k in found if k not in stuck]
        added = False
        at_start = status.snapshot() if exposed else status
        reason: dict[Key, int] | None = None  # as of the round's start, once a cell needs it
        for key in exposed:
            pinned_by = view.pinning_relations.get(incidence.index[key])
            if pinned_by:  # nothing withheld frees it: only its relation's zeros can
                if _suppress_zeros_in(table, status, pinned_by, relations):
                    added = True
                elif not view.had_shown_zero(pinned_by):
                    stuck.add(key)
                continue  # (or another cell's turn this round suppressed them already)
            complement = None
            if view.by_bounds[incidence.index[key]]:
                # the relations that pin it, and the cells whose bounds they use
                complement, pinning = _bounds_complement(view, table, status, key, totals)
                if complement is _WITHHELD_THIS_ROUND:
                    continue  # the next round says whether that freed it
                if complement is None and view.had_shown_zero(pinning):
                    # pinned by "<11" cells alone: only their relations' zeros can free it
                    added = _suppress_zeros_in(table, status, pinning, relations) or added
                    continue
            if complement is None:
                complement = _complement(table, status, key, relations_of, relations, totals)
            if complement is None:
                if reason is None:
                    reason = _derivations(incidence, at_start)
                complement = _traced_complement(table, status, key, reason, relations, totals)
            if complement is None:
                complement = reachable.nearest_shown(key)
            if complement is None:
                stuck.add(key)  # nothing left to withhold around it
                continue
            status[complement] = Status.SECONDARY
            reachable.withheld(complement)
            added = True
        if not added and not asked_both:
            continue  # what the bounds found is stuck: ask the linear algebra too
        if not added:
            # The last resort, only once no complement helps any more (a complement withheld
            # for one cell often protects another): the zeros around what is still pinned.
            zeroed = [
                k
                for k in found
                if _suppress_zeros_in(table, status, relations_of.get(k, []), relations)
            ]
            if not zeroed:
                return Protected(table, status, small_max, frozenset(found))
            stuck.difference_update(zeroed)


_WITHHELD_THIS_ROUND = ("withheld this round",)  # `_bounds_complement`: wait for the next


def _bounds_complement(
    view: _ReaderView,
    table: CountTable,
    status: dict[Key, Status],
    key: Key,
    totals: set[Key],
) -> tuple[Key | None, list[int]]:
    """For a cell the bounds pin: follow how its bounds were worked out (the relation that
    gave each, then the bounds of the other cells that relation used, and so on) back to a
    relation with a shown count; that count is the complement. None where no relation on
    the way has one, with the relations followed: then only suppressed cells pin it, and
    only their zeros suppressed can free it."""
    index, keys = view.incidence.index, view.incidence.keys
    low, high = view.tight
    start_low, start_high = view.start
    by_low, by_high = view.given_by
    offsets, members = view.incidence.cells_of_relation
    pinning: list[int] = []
    seen, queue = {index[key]}, collections.deque([index[key]])
    while queue:
        i = queue.popleft()
        given = set()
        if low[i] > start_low[i] and by_low[i] >= 0:
            given.add(int(by_low[i]))
        if high[i] < start_high[i] and by_high[i] >= 0:
            given.add(int(by_high[i]))
        for r in sorted(given):
            if r in pinning:
                continue
            pinning.append(r)
            cells = [c for c in members[offsets[r] : offsets[r + 1]] if c != i]
            # shown when the round began (the bounds are of that moment)
            was_shown = [keys[c] for c in cells if view.shown_counts[c]]
            if was_shown:
                shown = [k for k in was_shown if status[k] is Status.SHOWN]
                if not shown:
                    return _WITHHELD_THIS_ROUND, []
                return min(shown, key=lambda k: (k in totals, table.values[k], repr(k))), []
            for c in cells:
                if c not in seen and (low[c] > start_low[c] or high[c] < start_high[c]):
                    seen.add(c)
                    queue.append(c)
    return None, pinning


def _suppress_zeros_in(
    table: CountTable,
    status: dict[Key, Status],
    chosen: Iterable[int],
    relations: list[dict[Key, int]],
) -> bool:
    """Every shown zero of the relations `chosen` suppressed as "<11"; False if there was none."""
    found = False
    for i in chosen:
        for k in relations[i]:
            if status[k] is Status.SHOWN and table.values[k] == 0:
                status[k] = Status.PRIMARY
                found = True
    return found


class _ShownByComponent:
    """The table as a graph (cells joined to their relations) and which cells are shown and
    non-zero: the nearest such cell to a suppressed one, breadth first, for `_protect`'s last
    search for a complement. A part with no shown cell left is known at once (no search)."""

    def __init__(self, incidence: _Incidence, status: Mapping[Key, Status]):
        self.incidence, self.status = incidence, status
        self.component: dict[Key, int] | None = None  # built on first use

    def _count(self) -> None:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        incidence = self.incidence
        self.keys, self.index = incidence.keys, incidence.index
        n, m = len(self.keys), incidence.n_relations
        # cells and relations as the nodes of one graph: a cell is joined to its relations
        rows = np.concatenate([incidence.cell, n + incidence.rel])
        cols = np.concatenate([n + incidence.rel, incidence.cell])
        ones = np.ones(rows.size)
        self.graph = coo_matrix((ones, (rows, cols)), shape=(n + m, n + m)).tocsr()
        _, label = connected_components(self.graph, directed=True, connection="weak")
        self.component = {k: int(label[i]) for k, i in self.index.items()}
        self.shown_cell = (incidence.codes(self.status) == _SHOWN) & (incidence.values > 0)
        self.shown = np.bincount(
            label[:n], weights=self.shown_cell.astype(np.int64), minlength=label.max(initial=0) + 1
        )

    def any_shown(self, key: Key) -> bool:
        if self.component is None:
            self._count()
        return self.shown[self.component[key]] > 0

    def nearest_shown(self, key: Key) -> Key | None:
        """A shown non-zero cell nearest to `key` through the relations (breadth first)."""
        from scipy.sparse.csgraph import breadth_first_order

        if self.component is None:
            self._count()
        if not self.any_shown(key):
            return None
        order = breadth_first_order(
            self.graph, self.index[key], directed=True, return_predecessors=False
        )
        cells = order[order < len(self.keys)]
        found = np.flatnonzero(self.shown_cell[cells])
        return self.keys[cells[found[0]]] if found.size else None

    def withheld(self, key: Key) -> None:
        if self.component is not None:
            self.shown[self.component[key]] -= 1
            self.shown_cell[self.index[key]] = False


def _derivations(incidence: _Incidence, status: Mapping[Key, Status]) -> dict[Key, int]:
    """For each cell a reader can compute by subtraction alone (a relation with one cell left
    unknown, repeated): the relation that gives it (cells by their position in the incidence's
    arrays: a large table asks this every round)."""
    known = _known(incidence.codes(status), incidence.values)
    unknown_entry = (~known[incidence.cell]).astype(np.int64)
    missing = np.bincount(incidence.rel, weights=unknown_entry, minlength=incidence.n_relations)
    missing = missing.astype(np.int64).tolist()
    known = known.tolist()
    rel_start, rel_cells = incidence.cells_of_relation
    cell_start, cell_rels = incidence.relations_of_cell
    reason: dict[Key, int] = {}
    queue = [i for i, m in enumerate(missing) if m == 1]
    while queue:
        i = queue.pop()
        if missing[i] != 1:
            continue
        (cell,) = [c for c in rel_cells[rel_start[i] : rel_start[i + 1]] if not known[c]]
        known[cell] = True
        reason[incidence.keys[cell]] = i
        for j in cell_rels[cell_start[cell] : cell_start[cell + 1]]:
            missing[j] -= 1
            if missing[j] == 1:
                queue.append(j)
    return reason


def _traced_complement(
    table: CountTable,
    status: dict[Key, Status],
    key: Key,
    reason: Mapping[Key, int],
    relations: list[dict[Key, int]],
    totals: set[Key],
) -> Key | None:
    """Follow the subtractions that give `key` away back to a shown cell they use."""
    seen, stack = {key}, [key]
    while stack:
        cell = stack.pop(0)
        if cell not in reason:
            continue
        relation = relations[reason[cell]]
        shown = [
            k for k in relation if status[k] is Status.SHOWN and table.values[k] > 0 and k != cell
        ]
        if shown:
            return min(shown, key=lambda k: (k in totals, table.values[k], repr(k)))
        for k in relation:
            if k not in seen:
                seen.add(k)
                stack.append(k)
    return None


# --------------------------------------------------------------------------- cubes


ALL = "*"


@dataclass(frozen=True)
class Hierarchy:
    """One dimension: each node's parent (a root's is None). Leaves carry the counts."""

    parents: Mapping[Hashable, Hashable | None]

    @property
    def nodes(self) -> list[Hashable]:
        return list(self.parents)

    def children(self, node: Hashable) -> list[Hashable]:
        return list(self.children_of.get(node, ()))

    # Worked out once per hierarchy: a page builds thousands of small cubes on a few of them.
    @functools.cached_property
    def chains(self) -> dict[Hashable, list[Hashable]]:
        """Each node and its ancestors up to its root."""
        return {n: _chain(self, n) for n in self.parents}

    @functools.cached_property
    def positions(self) -> dict[Hashable, int]:
        """Each node's position in the hierarchy's order."""
        return {node: i for i, node in enumerate(self.parents)}

    @functools.cached_property
    def shape(self) -> tuple[int, ...]:
        """Each node's parent by position (-1: a root): hierarchies of one shape give cubes
        with the same cells and relations by position (`layouts.CubeLayout`)."""
        return tuple(-1 if p is None else self.positions[p] for p in self.parents.values())

    @functools.cached_property
    def children_of(self) -> dict[Hashable, list[Hashable]]:
        """Each node with children: its children, in the hierarchy's order."""
        kids: dict[Hashable, list[Hashable]] = defaultdict(list)
        for node, parent in self.parents.items():
            if parent is not None:
                kids[parent].append(node)
        return dict(kids)

    @staticmethod
    def flat(leaves: Sequence[Hashable], root: Hashable = ALL) -> Hierarchy:
        return Hierarchy({**{leaf: root for leaf in leaves}, root: None})

    @staticmethod
    def single(node: Hashable = ALL) -> Hierarchy:
        return Hierarchy({node: None})

    @staticmethod
    def roots(nodes: Sequence[Hashable]) -> Hierarchy:
        """Nodes with no relation between them (e.g. distinct patients per year and overall)."""
        return Hierarchy(dict.fromkeys(nodes))


def _chain(hierarchy: Hierarchy, node: Hashable) -> list[Hashable]:
    """The node and its ancestors up to its root."""
    chain = [node]
    while hierarchy.parents[chain[-1]] is not None:
        chain.append(hierarchy.parents[chain[-1]])
    return chain


def cube_counts(
    leaf_counts: Mapping[Key, int],
    dimensions: Sequence[Hierarchy],
    keep: Callable[[Key], bool] | None = None,
) -> dict[Key, int]:
    """The counts of every cell of `cube` (each node the sum of the leaves under it), without
    the relations: what a table with no count from 1 to k publishes as it is."""
    combinations = itertools.product(*(h.nodes for h in dimensions))
    values: dict[Key, int] = dict.fromkeys(
        combinations if keep is None else filter(keep, combinations), 0
    )
    ancestors = [h.chains for h in dimensions]
    for leaf, count in leaf_counts.items():
        n = int(count)
        chains = [up[node] for up, node in zip(ancestors, leaf, strict=True)]
        if keep is None:  # every combination of nodes is a cell
            for key in itertools.product(*chains):
                values[key] += n
            continue
        for key in itertools.product(*chains):
            if key in values:
                values[key] += n
    return values


def cube(
    name: str,
    leaf_counts: Mapping[Key, int],
    dimensions: Sequence[Hierarchy],
    published: Callable[[Key], bool],
    keep: Callable[[Key], bool] | None = None,
) -> CountTable:
    """Every combination of nodes of the hierarchies, each internal node the sum of its
    children along every dimension; `published(key)` says which cells a page shows.

    `keep(key)` False leaves a combination out (a layer no page shows, such as months by site
    when months are only published for all sites): a relation on a left-out cell is left out
    too, which hides nothing a reader could derive, since the cell was never published."""
    values = cube_counts(leaf_counts, dimensions, keep)
    table = CountTable(name)
    # What `add` and `add_sum` would check, once for the whole cube (thousands of small
    # cubes per page): counts not negative, each total the sum of its parts.
    for key, value in values.items():
        if value < 0:
            table.add(key, value)  # raises, with the cell named
    table.values = values
    table.published = {key: published(key) for key in values}
    children = [h.children_of for h in dimensions]
    # Each total is the sum of its parts by construction, unless a count was given for a
    # total itself: only then are the sums checked.
    check = _total_as_leaf(leaf_counts, dimensions)
    for key, value in values.items():
        for d, kids_of in enumerate(children):
            kids = kids_of.get(key[d])
            if not kids:
                continue
            parts = tuple(key[:d] + (kid,) + key[d + 1 :] for kid in kids)
            if keep is None or all(p in values for p in parts):
                if check and value != sum(values[p] for p in parts):
                    raise ValueError(f"{name}: {key} is not the sum of its parts")
                table.sums.append((key, parts))
    return table


def _total_as_leaf(leaf_counts: Mapping[Key, int], dimensions: Sequence[Hierarchy]) -> bool:
    """Is a count given for a node that has children (a total) in some dimension?"""
    for d, h in enumerate(dimensions):
        totals = h.children_of
        if totals and any(key[d] in totals for key in leaf_counts):
            return True
    return False
