"""Configuration: the bundled defaults (every guideline threshold) deep-merged with a user file,
validated against the declared type and range of every key (`trscohort.config.schema`)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from trscohort.config.schema import Settings
from trscohort.errors import UsageError, read_yaml_mapping

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")


class Config(Mapping[str, Any]):
    """Nested settings: `cfg["trs"]["min_trial_days"]`, `cfg.get_path("trs.min_trial_days")`.

    `validated` is True for a config that went through the schema (`load_config`,
    `validate_config`); SQL templates are only rendered with such a config.
    """

    def __init__(self, data: Mapping[str, Any], *, validated: bool = False):
        self._data = copy.deepcopy(dict(data))
        self.validated = validated

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


_TYPE_WORDS = {
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected text",
    "date_type": "expected a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "expected a date (YYYY-MM-DD)",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "string_pattern_mismatch": "not an allowed code or name",
    "extra_forbidden": "unknown key",
    "missing": "missing",
}


def _key(loc: tuple) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("." if key else "") + str(part)
    return key


def _error_line(error: dict) -> str:
    """One line naming the key; never the value (it may be long, or an attack)."""
    key = _key(tuple(p for p in error["loc"] if p not in ("[key]",)))
    kind = error["type"]
    if kind == "value_error":  # our own validators: their message says it all
        text = str(error.get("ctx", {}).get("error", error["msg"]))
    else:
        text = _TYPE_WORDS.get(kind) or error["msg"][:1].lower() + error["msg"][1:]
    return f"config: {key}: {text}" if key else f"config: {text}"


def validate_config(data: Mapping[str, Any]) -> Config:
    """The config as the schema types it, or a UsageError naming the first bad key."""
    try:
        settings = Settings.model_validate(json.loads(json.dumps(dict(data), default=str)))
    except ValidationError as exc:
        raise UsageError(_error_line(exc.errors()[0])) from None
    return Config(settings.model_dump(), validated=True)


def _merge_known(base: dict, recorded: Mapping) -> dict:
    for key, value in recorded.items():
        if key in base and isinstance(base[key], dict) and isinstance(value, Mapping):
            _merge_known(base[key], value)
        elif key in base:
            base[key] = value
    return base


@cache
def _parsed_defaults() -> dict:
    # libyaml when built in: a run reads the config in nearly every asset
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(DEFAULTS_PATH.read_text(), Loader=loader)


def _defaults() -> dict:
    """The bundled defaults, parsed once per process; each caller gets its own copy to merge into."""
    return copy.deepcopy(_parsed_defaults())


def recorded_config(recorded: Mapping[str, Any]) -> Config:
    """A config read back from a warehouse (audit.run_parameters), validated again: keys this
    version no longer knows are dropped, keys it added take their defaults."""
    return validate_config(_merge_known(_defaults(), recorded))


def load_config(path: str | Path | None = None) -> Config:
    """Defaults, deep-merged with the YAML file at `path` (unknown keys are an error), validated."""
    data = _defaults()
    if path is not None:
        _deep_merge(data, read_yaml_mapping(path, "config"))
    return validate_config(data)
