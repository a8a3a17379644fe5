"""The domain core imports no Dagster: only trscohort.orchestration does (the architecture rule)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trscohort

PACKAGE = Path(trscohort.__file__).parent


def core_modules() -> list[str]:
    """Every module of the trscohort package outside trscohort.orchestration."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "orchestration" in parts:
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_core_imports_no_dagster():
    modules = core_modules()
    assert "trscohort.runner" in modules and "trscohort.models" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'dagster_duckdb')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert result.stdout.strip() == "[]"


def test_the_repository_shims_re_export_the_orchestration_package():
    from assets import all_assets
    from pipelines.definitions import defs
    from trscohort.orchestration import assets, definitions

    assert all_assets is assets.all_assets
    assert defs is definitions.defs
