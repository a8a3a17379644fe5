"""Helpers for the security tests that run `trscohort run` end to end."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import yaml

from trscohort.cli import main

ROOT = Path(__file__).resolve().parents[2]


def cli(args: list[str], capsys) -> tuple[int, str]:
    """`trscohort <args>` in this process: (exit code, stderr)."""
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().err


def run_args(folder: Path, warehouse: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--input", str(folder), "--warehouse", str(warehouse), "--out", str(out), *extra]


def config_file(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def tree_digest(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `folder` (hidden files included)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def start_run(args: list[str], log: Path) -> subprocess.Popen:
    """`trscohort run` in a child process (stdout and stderr to `log`)."""
    handle = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "trscohort.cli", *args],
        cwd=ROOT,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


def wait_for(condition, timeout: float = 120.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def child_peak_rss_mb(args: list[str], timeout: float = 600) -> tuple[int, str, float]:
    """Run `trscohort <args>` in a fresh interpreter: (exit code, stderr, peak RSS in MB).

    The peak is VmHWM of the child's own address space (getrusage's ru_maxrss would carry
    over the parent's size from before the exec)."""
    script = textwrap.dedent(
        f"""
        import re, sys
        from trscohort.cli import main
        code = main({args!r})
        status = open("/proc/self/status").read()
        peak = re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)
        print("PEAK_RSS_KB", peak, file=sys.stderr)
        sys.exit(code)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    peak = next(int(x.split()[1]) for x in lines if x.startswith("PEAK_RSS_KB"))
    err = "\n".join(x for x in lines if not x.startswith("PEAK_RSS_KB"))
    return done.returncode, err, peak / 1024
