"""Files of a run: private by default, published aggregates readable, swapped in whole.

Permissions: everything a run creates is private to its user (umask 077: the warehouse, its
temporary build file and WAL, DuckDB's spill files, 0600; folders 0700), because the warehouse
holds patient data. Published aggregates (dashboards, the data-quality report) are then opened
up to 0644 (folders 0755), the only files meant to be read by others.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

PRIVATE_UMASK = 0o077
PUBLISHED_FILE_MODE = 0o644
PUBLISHED_DIR_MODE = 0o755


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Files and folders created inside the block are readable by their owner only."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def make_published(root: Path) -> None:
    """Open a built output tree up for reading: files 0644, folders 0755."""
    root = Path(root)
    paths = [root, *root.rglob("*")] if root.is_dir() else [root]
    for path in paths:
        if path.is_symlink():
            continue
        path.chmod(PUBLISHED_DIR_MODE if path.is_dir() else PUBLISHED_FILE_MODE)


def remove(path: Path) -> None:
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def swap_in(new: Path, target: Path) -> None:
    """Replace `target` (file or folder) by `new` with renames on the same file system: a
    reader sees the old one or the new one, never a half-written mix."""
    new, target = Path(new), Path(target)
    if target.is_dir() and not target.is_symlink():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        remove(old)
        os.rename(target, old)
        os.rename(new, target)
        remove(old)
        return
    if new.is_dir() and target.exists():
        target.unlink()
    os.replace(new, target)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def stale_by_pid(folder: Path, prefix: str) -> list[Path]:
    """`<prefix><pid>[suffix]` entries in `folder` whose process no longer runs."""
    stale = []
    if not Path(folder).is_dir():
        return stale
    for path in Path(folder).iterdir():
        if not path.name.startswith(prefix):
            continue
        digits = ""
        for char in path.name[len(prefix) :]:
            if not char.isdigit():
                break
            digits += char
        if digits and int(digits) != os.getpid() and not pid_alive(int(digits)):
            stale.append(path)
        elif digits and int(digits) == os.getpid():
            stale.append(path)  # our own leftover from an earlier run in this process
    return sorted(stale)
