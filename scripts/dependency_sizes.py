"""Which dependency brings what: installed size of each requirement of trscohort with the
packages only it pulls in (shared ones listed once, under "shared").

    .venv/bin/python scripts/dependency_sizes.py [--extra dev]

Reads the installed distributions' RECORD files (importlib.metadata); no network.
"""

from __future__ import annotations

import argparse
import re
from importlib import metadata
from pathlib import Path

MB = 1 << 20


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(dist: metadata.Distribution, extras: set[str]) -> list[str]:
    """Names of the requirements of `dist` that apply without extras (or with `extras`)."""
    names = []
    for text in dist.requires or []:
        name, _, marker = text.partition(";")
        found = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
        if found and canonical(found.group(1)) not in extras:
            continue
        if marker and not found:
            try:
                from packaging.markers import Marker

                if not Marker(marker).evaluate():
                    continue
            except Exception:  # an unparseable marker counts as applying
                pass
        names.append(canonical(re.split(r"[\s<>=!~\[(]", name.strip(), maxsplit=1)[0]))
    return names


def installed() -> dict[str, metadata.Distribution]:
    return {canonical(d.metadata["Name"]): d for d in metadata.distributions()}


def size_mb(dist: metadata.Distribution) -> float:
    total = 0
    for file in dist.files or []:
        path = Path(dist.locate_file(file))
        if path.is_file():
            total += path.stat().st_size
    return total / MB


def closure(root: str, dists: dict[str, metadata.Distribution], stop: set[str]) -> set[str]:
    """`root` and what it pulls in, not walking into the other direct requirements (`stop`)."""
    seen, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name in seen or name not in dists or (name in stop and name != root):
            continue
        seen.add(name)
        todo.extend(requirement_names(dists[name], set()))
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extra", action="append", default=[])
    args = parser.parse_args()
    dists = installed()
    roots = requirement_names(dists["trscohort"], {canonical(e) for e in args.extra})
    closures = {root: closure(root, dists, set(roots)) for root in roots}
    owners: dict[str, list[str]] = {}
    for root, names in closures.items():
        for name in names:
            owners.setdefault(name, []).append(root)
    sizes = {name: size_mb(dists[name]) for name in owners}
    print("| requirement | MB: itself and what only it brings | largest of those |")
    print("|---|---:|---|")
    rows = []
    for root in roots:
        own = [n for n in closures[root] if owners[n] == [root]]
        top = sorted(own, key=sizes.get, reverse=True)[:4]
        rows.append((sum(sizes[n] for n in own), root, top))
    for total, root, top in sorted(rows, reverse=True):
        print(f"| {root} | {total:.0f} | {', '.join(f'{n} {sizes[n]:.0f}' for n in top)} |")
    shared = [n for n, o in owners.items() if len(o) > 1]
    top = sorted(shared, key=sizes.get, reverse=True)[:6]
    print(
        f"| shared by several | {sum(sizes[n] for n in shared):.0f} | "
        f"{', '.join(f'{n} {sizes[n]:.0f}' for n in top)} |"
    )
    print(f"\nTotal: {sum(sizes.values()):.0f} MB in {len(sizes)} distributions.")


if __name__ == "__main__":
    main()
