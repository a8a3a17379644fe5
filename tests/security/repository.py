"""A snapshot of the repository's working tree, to show the test suite leaves it unchanged."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Tool caches and the virtual environment: not the user's files.
SKIPPED_DIRS = {
    ".git",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
}


def tree_snapshot(root: Path = ROOT) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime in ns)} of every file and folder under `root`."""
    found: dict[str, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        for name in [*dirs, *files]:
            path = Path(folder) / name
            try:
                stat = path.lstat()
            except FileNotFoundError:  # removed while we walked
                continue
            size = 0 if path.is_dir() else stat.st_size
            found[str(path.relative_to(root))] = (size, stat.st_mtime_ns)
    return found


def tree_changes(before: dict, after: dict) -> list[str]:
    """Human-readable differences between two snapshots."""
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    return (
        [f"added {p}" for p in added]
        + [f"removed {p}" for p in removed]
        + [f"changed {p}" for p in changed]
    )
