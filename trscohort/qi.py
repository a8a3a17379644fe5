"""Quality-improvement indicators (issue 18): the indicator definitions and the Wilson interval.

Each indicator QI-* has one definition file beside the SQL model that lists its patients,
`sql/intermediate/qi_<name>.definition.yml` (numerator, denominator, exclusions, look-back,
source, version, the config keys it reads). The same files are read by the mart that counts the
indicators (`marts.qi_indicators` gets each definition's version through the template context)
and by the dashboard page (`trscohort.dashboards.qi`), so one file states each definition.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from statistics import NormalDist
from typing import Any

import yaml

from trscohort.errors import UsageError

SQL_DIR = Path(__file__).with_name("sql")
DEFINITION_GLOB = "qi_*.definition.yml"
ID_PATTERN = re.compile(r"^QI-[A-Z]+(-[A-Z]+)*$")
VERSION_PATTERN = re.compile(r"^\d+\.\d+$")
REQUIRED = (
    "id",
    "title",
    "version",
    "unit",
    "numerator",
    "denominator",
    "exclusions",
    "look_back",
    "month",
    "source",
    "higher_is_better",
)


@dataclass(frozen=True)
class Definition:
    """One indicator, as written in its definition file."""

    id: str
    title: str
    version: str
    model: str
    unit: str
    numerator: str
    denominator: str
    exclusions: tuple[str, ...]
    look_back: str
    month: str
    source: str
    higher_is_better: bool
    value: str | None = None
    strata: str | None = None
    config_keys: tuple[str, ...] = ()
    path: Path | None = None

    def thresholds(self, config: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """(key, value) of every config key the indicator reads, from the given config."""
        found = []
        for key in self.config_keys:
            node: Any = config
            for part in key.split("."):
                node = node[part]
            found.append((key, node))
        return found

    def text(self, config: Mapping[str, Any] | None = None) -> str:
        """The definition in words (what the dashboard page shows beside the indicator)."""
        parts = [
            f"{self.id} (version {self.version}): {self.title}",
            f"Unit: {self.unit}",
            f"Numerator: {self.numerator}",
            f"Denominator: {self.denominator}",
            "Exclusions: " + ("; ".join(self.exclusions) if self.exclusions else "none"),
            f"Look-back: {self.look_back}",
            f"Month: {self.month}",
        ]
        if self.value:
            parts.append(f"Value (median, quartiles): {self.value}")
        if self.strata:
            parts.append(f"Strata: {self.strata}")
        if config is not None and self.config_keys:
            parts.append(
                "Thresholds: " + ", ".join(f"{k} = {v}" for k, v in self.thresholds(config))
            )
        parts.append(f"Source: {self.source}")
        parts.append("Higher is better" if self.higher_is_better else "Lower is better")
        return " ".join(part if part.endswith(".") else f"{part}." for part in parts)


def _definition(path: Path) -> Definition:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{path.name}: missing {', '.join(missing)}")
    if not ID_PATTERN.match(str(data["id"])):
        raise ValueError(f"{path.name}: id {data['id']!r} is not QI-NAME")
    if not VERSION_PATTERN.match(str(data["version"])):
        raise ValueError(f"{path.name}: version {data['version']!r} is not MAJOR.MINOR")
    exclusions = data["exclusions"] or []
    if not isinstance(exclusions, list):
        raise ValueError(f"{path.name}: exclusions must be a list")
    model = path.name.removesuffix(".definition.yml")
    if not (path.parent / f"{model}.sql").is_file():
        raise ValueError(f"{path.name}: no {model}.sql beside it")
    return Definition(
        id=str(data["id"]),
        title=str(data["title"]).strip(),
        version=str(data["version"]),
        model=f"{path.parent.name}.{model}",
        unit=str(data["unit"]).strip(),
        numerator=str(data["numerator"]).strip(),
        denominator=str(data["denominator"]).strip(),
        exclusions=tuple(str(e).strip() for e in exclusions),
        look_back=str(data["look_back"]).strip(),
        month=str(data["month"]).strip(),
        source=str(data["source"]).strip(),
        higher_is_better=bool(data["higher_is_better"]),
        value=str(data["value"]).strip() if data.get("value") else None,
        strata=str(data["strata"]).strip() if data.get("strata") else None,
        config_keys=tuple(data.get("config_keys") or ()),
        path=path,
    )


@cache
def definitions() -> tuple[Definition, ...]:
    """Every indicator definition, sorted by id."""
    found = [_definition(p) for p in sorted(SQL_DIR.glob(f"*/{DEFINITION_GLOB}"))]
    ids = [d.id for d in found]
    if len(ids) != len(set(ids)):
        raise ValueError(f"duplicate indicator ids in {DEFINITION_GLOB}: {ids}")
    return tuple(sorted(found, key=lambda d: d.id))


def definition(indicator_id: str) -> Definition:
    for d in definitions():
        if d.id == indicator_id:
            return d
    raise KeyError(indicator_id)


def z_value(level: float) -> float:
    """Two-sided standard normal quantile for a confidence level (0.95 -> 1.959964)."""
    level = float(level)
    if not 0 < level < 1:
        raise UsageError(f"config: qi.ci_level must be between 0 and 1, not {level}")
    return NormalDist().inv_cdf((1 + level) / 2)


def _check_config(section: Mapping[str, Any]) -> None:
    """What the SQL needs beyond a number: a non-empty increasing list of delay bands and at
    least one census month (the typed config schema of issue 15 will cover every key)."""
    bands = section["trs_delay_bands_days"]
    if (
        not isinstance(bands, list)
        or not bands
        or not all(isinstance(b, int) and b >= 0 for b in bands)
        or sorted(set(bands)) != bands
    ):
        raise UsageError(
            f"config: qi.trs_delay_bands_days must be increasing whole days, not {bands!r}"
        )
    if not isinstance(section["census_months"], int) or not 1 <= section["census_months"] <= 120:
        raise UsageError("config: qi.census_months must be a whole number from 1 to 120")


def template_context(config: Mapping[str, Any]) -> dict[str, Any]:
    """What the SQL templates read as `qi`: the definitions and the interval's z."""
    _check_config(config["qi"])
    return {"definitions": definitions(), "z": z_value(config["qi"]["ci_level"])}


def wilson(numerator: int, denominator: int, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of numerator / denominator (None when the denominator is 0); the
    same formula as marts.qi_indicators, for sums over months computed by the page."""
    if denominator <= 0:
        return None
    z = z_value(level)
    p = numerator / denominator
    z2n = z * z / denominator
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / denominator + z2n / (4 * denominator))
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))
