"""Errors a user can act on: the CLI prints their message on one line and exits with code 2."""


class UsageError(Exception):
    """Bad input folder, mapping, config or argument: the run cannot go on."""


class ContractError(UsageError):
    """An extract breaks the input contract (missing file or required column, unreadable file)."""
