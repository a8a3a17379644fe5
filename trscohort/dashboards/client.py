"""Charts computed in the browser from one compact aggregate table per page (issue 16).

Precomputing a figure for every site x period combination made the pages grow with sites x
years (98 s and 3.4 MB per page at 30 sites) and offered calendar years only. A page with
`client` charts instead embeds one JSON table of already-protected counts (site x month x key),
and the browser filters it: site, calendar year, quarter, rolling 12 months, a date range, and
the same measure for the previous period of equal length.

The suppression rule in the browser (see README, "Small-count suppression"):

* Every embedded cell went through `protect` (primary + complementary suppression) in a table
  whose relations are those a reader sees: sites add up to all sites, parts (observed + missed)
  to their total, the phases to the pooled ANC line. A suppressed cell is embedded as a code,
  never as its count: -1 is "<11" (1..k; 0 where zeros had to be suppressed too), -2 is
  "withheld" (complementary).
* The browser only ever shows an embedded cell or a sum of embedded cells over months. A sum
  that takes in any suppressed cell is shown as suppressed ("<11" when it is one "<11" cell,
  "suppressed" otherwise), never as a number, so nothing can be subtracted from it. A sum of
  shown cells tells nothing a reader could not add up from the shown cells themselves, and each
  shown cell is 0 or above k, so such a sum is never a small count.
* A percentage is shown only when its numerator and denominator are both shown.

Months are independent in these tables (no relation crosses a month: month totals are sums the
browser makes), so each month is protected on its own: the same guarantee, in seconds. A part
with no count from 1 to k anywhere in its cube (none of its leaves is: a sum of counts is small
only when one of them is) is published as it is without building its relations or solving it:
`protect` would return every cell shown. On big warehouses most parts are like that. The
parts of one shape share one layout (`publication.layouts`), and a chunk's parts with a small
count are screened together with `protect`'s first question (can a reader work out anything
with only the small counts suppressed?): those where nothing can be worked out (3,350 of the
quality indicators' 4,273 at 1,000,000 patients / 30 sites) are published as `protect` would
return them, "<11" and nothing withheld, without building or solving their tables.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trscohort.publication.cores import (
    CHUNKS_PER_WORKER,
    balanced_chunks,
    map_on_cores,
    workers,
)
from trscohort.publication.layouts import (
    HIDDEN_CODE,
    PRIMARY_CODE,
    SHOWN_CODE,
    CubeCells,
    CubeLayout,
    clear_at_first_round,
    first_codes,
)
from trscohort.publication.suppression import (
    CountTable,
    Hierarchy,
    Protected,
    Status,
    cube,
    cube_counts,
    one_blas_thread,
    protect,
    record_exposed,
)

SHOWN_SMALL = -1  # "<11"
SHOWN_WITHHELD = -2  # "withheld" (complementary suppression)


@dataclass(frozen=True)
class ClientChart:
    """A chart the browser draws from the page's aggregate table (`kind` names the renderer)."""

    id: str
    kind: str
    title: str
    description: str


@dataclass(frozen=True)
class ClientPage:
    """The aggregate table of a page and the charts drawn from it."""

    build: Callable[..., dict]  # (con, config) -> JSON-able aggregate table
    charts: tuple[ClientChart, ...] = field(default_factory=tuple)
    reads: tuple[str, ...] = ()


def protect_in_parts(
    name: str,
    counts: Mapping[tuple, int],
    dimensions: Sequence[Hierarchy],
    *,
    part_of: Callable[[tuple], Hashable],
    small_max: int,
    published: Callable[[tuple], bool],
) -> dict[tuple, tuple[int, int]]:
    """{key: (count, embedded value)} for every cell of the cube over `dimensions`, protected
    part by part: `part_of(leaf key)` names an independent part (a month, a rule family), one
    whose cells no relation ties to another part's. Each part is a cube of its own leaves."""
    parts: dict[Hashable, dict[tuple, int]] = defaultdict(dict)
    for key, value in counts.items():
        parts[part_of(key)][key] = value
    order = sorted(parts, key=repr)
    to_solve = {p: not _nothing_small(parts[p], small_max) for p in order}

    # Most parts have the same nodes (every site, one month): one hierarchy each, reused.
    part_dimensions: dict[tuple[int, frozenset], Hierarchy] = {}

    def dimensions_of(present: Sequence[set | frozenset]) -> list[Hierarchy]:
        found = []
        for d, h in enumerate(dimensions):
            key = (d, frozenset(present[d]))
            if key not in part_dimensions:
                part_dimensions[key] = _part_hierarchy(h, present[d])
            found.append(part_dimensions[key])
        return found

    def built(part: Hashable) -> tuple[list[Hierarchy], CubeCells | None]:
        columns = list(zip(*parts[part], strict=True))
        dims = dimensions_of([frozenset(nodes) for nodes in columns])
        return dims, CubeLayout.of(dims).cells(parts[part], dims, columns)

    def protect_chunk(chunk: Sequence[Hashable]) -> list[tuple[dict, str, int]]:
        """(cells, table name, cells a reader can still work out) of each part of a chunk:
        the parts with a small count screened together (`clear_at_first_round`), only those
        where a reader could work something out solved with `protect`."""
        cubes = {part: built(part) for part in chunk}
        solve = [p for p in chunk if to_solve[p] and cubes[p][1] is not None]
        first = {p: first_codes(cubes[p][1], published, small_max) for p in solve}
        screened = clear_at_first_round(
            [(cubes[p][1].incidence(), first[p]) for p in solve], small_max
        )
        clear = {p for p, ok in zip(solve, screened, strict=True) if ok}
        out = []
        for part in chunk:
            dims, cells = cubes[part]
            if not to_solve[part]:
                counts = cube_counts(parts[part], dims) if cells is None else cells.counts()
                out.append((_as_published(counts, published), "", 0))
            elif part in clear:
                out.append((_coded(cells, first[part]), "", 0))
            else:
                out.append(solved(part, dims, cells))
        return out

    def solved(part: Hashable, dims: list[Hierarchy], cells: CubeCells | None):
        """A part that `protect` solves (its table from the layout where there is one)."""
        leaves, table_name = parts[part], f"{name} {part}"
        table = (
            cube(table_name, leaves, dims, published)
            if cells is None
            else cells.table(table_name, published)
        )
        protected = protect(table, small_max, report=False)
        if protected.exposed:  # pinned with nothing left to withhold: add the absent zeros
            present = _with_absent_siblings(leaves, protected.exposed, dimensions, part_of)
            dims = dimensions_of(present)
            table = cube(table_name, leaves, dims, published)
            protected = protect(table, small_max, report=False)
        return published_cells(protected), table.name, len(protected.exposed)

    # A part's work grows with its leaves; one to solve costs more than one shown as it is.
    costs = [len(parts[p]) * (4 if to_solve[p] else 1) for p in order]
    chunks = balanced_chunks(costs, workers() * CHUNKS_PER_WORKER)
    with one_blas_thread():
        done = map_on_cores(
            lambda chunk: protect_chunk([order[i] for i in chunk]),
            chunks,
            [sum(costs[i] for i in chunk) for chunk in chunks],
        )
    by_part: list = [None] * len(order)
    for chunk, results in zip(chunks, done, strict=True):
        for i, result in zip(chunk, results, strict=True):
            by_part[i] = result
    cells: dict[tuple, tuple[int, int]] = {}
    for found, table_name, exposed in by_part:
        record_exposed(table_name, exposed)
        cells.update(found)
    return cells


def _coded(cells: CubeCells, codes: np.ndarray) -> dict[tuple, tuple[int, int]]:
    """{key: (count, embedded value)} of a part published with its first codes: a count from
    1 to k as "<11", the others as they are, the hidden cells left out."""
    embedded = np.where(codes == PRIMARY_CODE, SHOWN_SMALL, cells.values).tolist()
    return {
        key: (value, code)
        for key, value, code, hidden in zip(
            cells.keys,
            cells.values.tolist(),
            embedded,
            (codes == HIDDEN_CODE).tolist(),
            strict=True,
        )
        if not hidden
    }


def _with_absent_siblings(
    leaves: Mapping[tuple, int],
    exposed: frozenset,
    dimensions: Sequence[Hierarchy],
    part_of: Callable[[tuple], Hashable],
) -> list[set]:
    """The leaves of each dimension a part's cube is built on, plus those of the siblings and
    children of the exposed cells' nodes that the part has no count for: the zeros a reader
    also knows (a site with no event that month), which `protect` may then suppress as "<11"
    (a part's cube has only the nodes with a count, so those zeros are not cells of it). A
    dimension that splits the table into parts is not widened (its other nodes are other
    parts, with counts of their own)."""
    present = [{k[d] for k in leaves} for d in range(len(dimensions))]
    sample = next(iter(leaves))
    part = part_of(sample)
    for d, h in enumerate(dimensions):
        nodes = {key[d] for key in exposed}
        near = {c for n in nodes for c in h.children(n)}
        near |= {c for n in nodes if h.parents.get(n) is not None for c in h.children(h.parents[n])}
        for node in near:
            leaf = _first_leaf(h, node)
            if part_of(sample[:d] + (leaf,) + sample[d + 1 :]) == part:
                present[d].add(leaf)
    return present


def _first_leaf(h: Hierarchy, node: Hashable) -> Hashable:
    while kids := h.children(node):
        node = kids[0]
    return node


def _nothing_small(leaves: Mapping[tuple, int], small_max: int) -> bool:
    """No count of the part's cube lies in 1..k (a sum of counts >= 0 is small only when one
    of them is): `protect` would show every cell as it is, so the part is not solved. Parts
    like this are most of them on a big warehouse (site x month cells of a few hundred)."""
    if any(v < 0 for v in leaves.values()):
        return False  # `cube` says what is wrong with the counts
    return small_max <= 0 or all(v == 0 or v > small_max for v in leaves.values())


def _as_published(
    values: Mapping[tuple, int], published: Callable[[tuple], bool]
) -> dict[tuple, tuple[int, int]]:
    """{key: (count, count)} for the published cells of a table with nothing to suppress."""
    return {k: (int(v), int(v)) for k, v in values.items() if published(k)}


def protect_table_in_parts(
    table: CountTable, part_of: Callable[[tuple], Hashable], small_max: int
) -> Protected:
    """`protect(table)` part by part, for a table whose relations never tie two parts
    (`part_of(key)` names a cell's part; a relation across parts is an error): each part is
    protected on its own and the decisions are merged (the same decisions, since the search
    for a cell that can be worked out, and its complement, only follows relations)."""
    parts: dict[Hashable, CountTable] = {}
    for key, value in table.values.items():
        part = parts.setdefault(part_of(key), CountTable(f"{table.name} {part_of(key)}"))
        part.add(key, value, published=table.published[key])
    for total, members in table.sums:
        part = part_of(total)
        if any(part_of(m) != part for m in members):
            raise ValueError(f"{table.name}: a relation ties two parts ({total})")
        parts[part].add_sum(total, members)
    status: dict = {}
    exposed: set = set()
    for name in sorted(parts, key=repr):
        protected = protect(parts[name], small_max)
        status.update(protected.status)
        exposed |= protected.exposed
    return Protected(table, status, small_max, frozenset(exposed))


def _part_hierarchy(h: Hierarchy, present: set) -> Hierarchy:
    """The nodes of `h` a part's cube has: those with one of the part's leaves under them
    (the leaves and their ancestors), in the hierarchy's order."""
    keep = set()
    for leaf in present:
        node = leaf
        while node is not None and node not in keep:
            keep.add(node)
            node = h.parents.get(node)
    return Hierarchy({n: p for n, p in h.parents.items() if n in keep})


def protect_each_on_cores(
    table_of: Callable[[Any], CountTable],
    items: Sequence[Any],
    costs: Sequence[int],
    small_max: int,
) -> list[dict[tuple, tuple[int, int]]]:
    """`published_cells` of `protect(table_of(item))` for each item, in order: independent
    tables (an ANC year, an adverse event) protected on every core, each one's cells a reader
    can still work out reported to the caller's `recording_exposed`."""

    def protect_one(item: Any) -> tuple[dict[tuple, tuple[int, int]], str, int]:
        protected = protect(table_of(item), small_max, report=False)
        return published_cells(protected), protected.table.name, len(protected.exposed)

    found = []
    for cells, name, exposed in map_on_cores(protect_one, items, costs):
        record_exposed(name, exposed)
        found.append(cells)
    return found


def published_cells(protected: Protected) -> dict[tuple, tuple[int, int]]:
    """{key: (count, embedded value)} of every published cell of a protected table."""
    codes = protected.status_codes()
    if codes is not None:  # a table `protect` solved: its statuses are an array already
        values = list(protected.table.values.values())
        embedded = np.where(
            codes == SHOWN_CODE,
            np.asarray(values, dtype=np.int64),
            np.where(codes == PRIMARY_CODE, SHOWN_SMALL, SHOWN_WITHHELD),
        )
        return {
            key: (value, code)
            for key, value, code, hidden in zip(
                protected.table.values,
                values,
                embedded.tolist(),
                (codes == HIDDEN_CODE).tolist(),
                strict=True,
            )
            if not hidden
        }
    return {
        key: (value, encode(protected, key))
        for key, value in protected.table.values.items()
        if protected.status[key] is not Status.HIDDEN
    }


def encode(protected: Protected, key: tuple) -> int:
    """The embedded value of one cell: its count, or the code of its suppression."""
    value = protected.table.values.get(key, 0)
    status = protected.status.get(key, Status.SHOWN)
    if status is Status.SHOWN:
        return int(value)
    if status is Status.PRIMARY:
        return SHOWN_SMALL
    if status is Status.SECONDARY:
        return SHOWN_WITHHELD
    raise KeyError(f"{protected.table.name}: {key} is never published")


def script_json(value: Any) -> str:
    """JSON safe inside <script type="application/json">."""
    text = json.dumps(value, separators=(",", ":"), default=str, allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")
