"""One line per finished asset, to Dagster's log and to the CLI's progress printer."""

from __future__ import annotations

import logging

from dagster import AssetExecutionContext

PROGRESS = logging.getLogger("trscohort.progress")


def report(context: AssetExecutionContext, message: str, ok: bool = True) -> None:
    """`ok=False` marks the line as a failure (✗ instead of ✓ on the CLI)."""
    if ok:
        context.log.info(message)
    else:
        context.log.warning(message)
    PROGRESS.info(message, extra={"mark": "✓" if ok else "✗"})
