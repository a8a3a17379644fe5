"""Configuration: the bundled defaults (every guideline threshold) deep-merged with a user file."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from trscohort.errors import UsageError, read_yaml_mapping

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")


class Config(Mapping[str, Any]):
    """Nested settings: `cfg["trs"]["min_trial_days"]`, `cfg.get_path("trs.min_trial_days")`."""

    def __init__(self, data: Mapping[str, Any]):
        self._data = copy.deepcopy(dict(data))

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def get_path(self, dotted: str) -> Any:
        node: Any = self._data
        for part in dotted.split("."):
            node = node[part]
        return node

    def to_json(self) -> str:
        return json.dumps(self._data, sort_keys=True, default=str)


def _deep_merge(base: dict, override: Mapping, where: str = "") -> dict:
    for key, value in override.items():
        if key not in base:
            raise UsageError(f"config: unknown key '{where}{key}'")
        if isinstance(base[key], dict) and isinstance(value, Mapping):
            _deep_merge(base[key], value, f"{where}{key}.")
        else:
            base[key] = value
    return base


def load_config(path: str | Path | None = None) -> Config:
    """Defaults, deep-merged with the YAML file at `path` (unknown keys are an error)."""
    data = yaml.safe_load(DEFAULTS_PATH.read_text())
    if path is not None:
        _deep_merge(data, read_yaml_mapping(path, "config"))
    return Config(data)
