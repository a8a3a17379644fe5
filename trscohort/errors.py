"""Errors a user can act on: the CLI prints their message on one line and exits with code 2."""

from collections.abc import Mapping
from pathlib import Path

import yaml


class UsageError(Exception):
    """Bad input folder, mapping, config or argument: the run cannot go on."""


class ContractError(UsageError):
    """An extract breaks the input contract (missing file or required column, unreadable file)."""


def read_yaml_mapping(path: str | Path, what: str) -> Mapping:
    """A user's YAML file whose top level is a mapping, or a UsageError saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: {what} file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, Mapping):
        raise UsageError(f"{path}: expected a mapping at the top level")
    return data
