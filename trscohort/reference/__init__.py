"""Clinician-reviewable reference data (CSV files shipped inside the package)."""

from pathlib import Path

REFERENCE_DIR = Path(__file__).parent


def reference_csv_paths() -> dict[str, Path]:
    """Map each reference table name (CSV file stem) to its path."""
    return {p.stem: p for p in sorted(REFERENCE_DIR.glob("*.csv"))}
