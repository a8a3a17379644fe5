"""One line per finished asset, to Dagster's log and to the CLI's progress printer."""

from __future__ import annotations

import logging

from dagster import AssetExecutionContext

PROGRESS = logging.getLogger("trscohort.progress")


def report(context: AssetExecutionContext, message: str) -> None:
    context.log.info(message)
    PROGRESS.info(message)
