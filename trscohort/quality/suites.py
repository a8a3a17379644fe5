"""Data-quality suites: the reviewable YAML files under `expectations/`, parsed.

One file per extract (`expectations/extracts/<extract>.yml`, on `staging.<extract>`) and per
mart (`expectations/marts/<mart>.yml`); a file with `applies_to: <schema>` instead of `table`
holds generic checks run on every table of that schema (e.g. rates non-negative in every mart).

A suite is a list of *checks*; each check is one Dagster asset check (blocking or warning) and
holds one or more Great Expectations expectations:

```yaml
suite: labs
table: staging.labs
join_patients: true           # adds dq_patient_known, dq_patient_birth_date to the rows checked
columns: {patient_id: VARCHAR, collected_at: TIMESTAMP}   # check "columns": present and typed
accounting: {max_quarantined_share: 0.05}   # checks "rows_accounted" and "quarantined_share"
checks:
  - name: anc_in_range
    severity: blocking          # or warning
    description: ANC within 0-100,000 /uL
    expect:
      - column_values_to_be_between: {column: value, min_value: 0, max_value: 100000,
                                      where: {analyte: anc}}
```

In `expect`, each item names a GX expectation without its `expect_` prefix. Two extras in the
keyword arguments: `where: {column: value}` keeps only the rows where the column equals the value
(GX's `row_condition`), and the value `$today` is the date the check runs. A table name given
to `other_table_name` (e.g. `staging.patients`) is resolved to that table.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from trscohort.errors import UsageError

SEVERITIES = ("blocking", "warning")

# GX kinds of check generated from a table's columns at run time (see `generated_expectations`).
GENERATED = ("rates_non_negative", "intervals_contain_rate")


def expectations_dir() -> Path:
    """The suites: TRSCOHORT_EXPECTATIONS if set, else the package's `expectations/` (in a
    checkout a link to the repository's top-level `expectations/`, in a wheel the suites
    themselves), else the repository's folder (a checkout without symbolic links)."""
    configured = os.environ.get("TRSCOHORT_EXPECTATIONS")
    if configured:
        return Path(configured)
    package = Path(__file__).resolve().parents[1]
    packaged = package / "expectations"
    return packaged if packaged.is_dir() else package.parent / "expectations"


@dataclass(frozen=True)
class Expect:
    """One GX expectation: its type (`expect_...`) and keyword arguments, as written."""

    type: str
    kwargs: Mapping[str, Any]
    on: str = "table"  # the batch it runs on: "table" or "ingest_log"

    def label(self) -> str:
        shown = {k: v for k, v in self.kwargs.items() if k not in ("result_format",)}
        args = ", ".join(f"{k}={_short(v)}" for k, v in shown.items())
        return f"{self.type}({args})"

    def resolved_kwargs(self, today: dt.date, tables: Mapping[str, str]) -> dict[str, Any]:
        """GX keyword arguments: `$today` -> the date, table names -> views; `where` is kept for
        the caller to turn into a GX row condition."""
        kwargs: dict[str, Any] = {}
        for key, value in self.kwargs.items():
            if value == "$today":
                value = today
            if key == "other_table_name":
                kwargs[key] = tables[value]
            else:
                kwargs[key] = value
        return kwargs


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def row_condition(where: Mapping[str, Any]) -> tuple[str, Any]:
    """`where: {column: value}` -> (column, value)."""
    if not isinstance(where, Mapping) or len(where) != 1:
        raise UsageError("'where' must map exactly one column to a value")
    ((column, value),) = where.items()
    return str(column), value


@dataclass(frozen=True)
class Check:
    """One asset check: blocking or warning, with its expectations (or a generator's name)."""

    name: str
    severity: str
    description: str
    expectations: tuple[Expect, ...] = ()
    generate: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return self.severity == "blocking"


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    checks: tuple[Check, ...]
    table: str | None = None  # schema.table; None for a generic suite
    applies_to: str | None = None  # schema whose every table the generic suite checks
    join_patients: bool = False
    description: str = ""
    accounting_extract: str | None = None
    other_tables: tuple[str, ...] = field(default=())

    def for_table(self, table: str) -> Suite:
        """A generic suite bound to one table."""
        return Suite(
            name=self.name,
            path=self.path,
            checks=self.checks,
            table=table,
            join_patients=self.join_patients,
            description=self.description,
            other_tables=self.other_tables,
        )

    @property
    def asset_path(self) -> list[str]:
        return (self.table or "").split(".")


def _fail(path: Path, message: str) -> UsageError:
    return UsageError(f"{path}: {message}")


def _expect_items(path: Path, check_name: str, items: object, on: str) -> tuple[Expect, ...]:
    if not isinstance(items, list) or not items:
        raise _fail(path, f"check '{check_name}': 'expect' must be a non-empty list")
    parsed = []
    for item in items:
        if not isinstance(item, Mapping) or len(item) != 1:
            raise _fail(path, f"check '{check_name}': each 'expect' item is one {{name: kwargs}}")
        ((kind, kwargs),) = item.items()
        if not isinstance(kwargs, Mapping):
            raise _fail(path, f"check '{check_name}': '{kind}' needs a mapping of arguments")
        if "where" in kwargs:
            try:
                row_condition(kwargs["where"])
            except UsageError as exc:
                raise _fail(path, f"check '{check_name}': {exc}") from None
        kind = kind if kind.startswith("expect_") else f"expect_{kind}"
        parsed.append(Expect(kind, dict(kwargs), on))
    return tuple(parsed)


def _check(path: Path, spec: object) -> Check:
    if not isinstance(spec, Mapping) or not spec.get("name"):
        raise _fail(path, "each check needs a 'name'")
    name = str(spec["name"])
    severity = spec.get("severity", "blocking")
    if severity not in SEVERITIES:
        raise _fail(path, f"check '{name}': severity must be 'blocking' or 'warning'")
    generate = spec.get("generate")
    if generate is not None and generate not in GENERATED:
        raise _fail(path, f"check '{name}': generate must be one of {', '.join(GENERATED)}")
    on = spec.get("on", "table")
    if on not in ("table", "ingest_log"):
        raise _fail(path, f"check '{name}': 'on' must be 'table' or 'ingest_log'")
    expectations = () if generate else _expect_items(path, name, spec.get("expect"), on)
    return Check(
        name=name,
        severity=severity,
        description=str(spec.get("description", "")).strip(),
        expectations=expectations,
        generate=generate,
        options={k: spec[k] for k in ("rates", "exclude", "bounds") if k in spec},
    )


def _columns_check(path: Path, columns: object) -> Check:
    if not isinstance(columns, Mapping) or not columns:
        raise _fail(path, "'columns' must map column names to DuckDB types")
    expectations = []
    for column, kind in columns.items():
        expectations.append(Expect("expect_column_to_exist", {"column": column}))
        expectations.append(
            Expect("expect_column_values_to_be_of_type", {"column": column, "type_": str(kind)})
        )
    return Check(
        "columns",
        "blocking",
        "every contract column is present with its type",
        tuple(expectations),
    )


def _accounting_checks(path: Path, extract: str, spec: object) -> tuple[Check, ...]:
    spec = spec if isinstance(spec, Mapping) else {}
    share = float(spec.get("max_quarantined_share", 0.05))
    return (
        Check(
            "rows_accounted",
            "blocking",
            "rows read = accepted + quarantined + duplicates (audit.ingest_log)",
            (
                Expect("expect_table_row_count_to_equal", {"value": 1}, "ingest_log"),
                Expect(
                    "expect_column_pair_values_to_be_equal",
                    {"column_A": "rows_read", "column_B": "rows_accounted"},
                    "ingest_log",
                ),
            ),
        ),
        Check(
            "quarantined_share",
            "warning",
            f"at most {share:.0%} of the rows read are quarantined (see quarantine.{extract})",
            (
                Expect(
                    "expect_column_values_to_be_between",
                    {"column": "quarantined_share", "min_value": 0, "max_value": share},
                    "ingest_log",
                ),
            ),
        ),
    )


def one_row_per_patient_check() -> Check:
    return Check(
        "one_row_per_patient",
        "blocking",
        "every patient of staging.patients is classified exactly once",
        (
            Expect("expect_column_values_to_not_be_null", {"column": "patient_id"}),
            Expect("expect_column_values_to_be_unique", {"column": "patient_id"}),
            Expect(
                "expect_column_values_to_be_in_set",
                {"column": "dq_patient_known", "value_set": [True]},
            ),
            Expect(
                "expect_table_row_count_to_equal_other_table",
                {"other_table_name": "staging.patients"},
            ),
        ),
    )


def parse_suite(path: Path) -> Suite:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise _fail(path, f"not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, Mapping):
        raise _fail(path, "expected a mapping at the top level")
    known = {
        "suite",
        "table",
        "applies_to",
        "description",
        "join_patients",
        "columns",
        "accounting",
        "one_row_per_patient",
        "checks",
    }
    unknown = set(data) - known
    if unknown:
        raise _fail(path, f"unknown key(s) {sorted(unknown)}")
    name = str(data.get("suite") or path.stem)
    table, applies_to = data.get("table"), data.get("applies_to")
    if bool(table) == bool(applies_to):
        raise _fail(path, "give exactly one of 'table' (schema.table) or 'applies_to' (schema)")
    if table and str(table).count(".") != 1:
        raise _fail(path, f"table '{table}' must be schema.table")
    checks: list[Check] = []
    if "columns" in data:
        checks.append(_columns_check(path, data["columns"]))
    join_patients = bool(data.get("join_patients", False))
    if data.get("one_row_per_patient"):
        checks.append(one_row_per_patient_check())
        join_patients = True
    accounting_extract = None
    if "accounting" in data:
        if not table or not str(table).startswith("staging."):
            raise _fail(path, "'accounting' applies to a staging table")
        accounting_extract = str(table).split(".")[1]
        checks += _accounting_checks(path, accounting_extract, data["accounting"])
    for spec in data.get("checks") or []:
        checks.append(_check(path, spec))
    names = [c.name for c in checks]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise _fail(path, f"check name(s) used twice: {', '.join(duplicated)}")
    other_tables = tuple(
        sorted(
            {
                e.kwargs["other_table_name"]
                for c in checks
                for e in c.expectations
                if "other_table_name" in e.kwargs
            }
        )
    )
    return Suite(
        name=name,
        path=path,
        checks=tuple(checks),
        table=str(table) if table else None,
        applies_to=str(applies_to) if applies_to else None,
        join_patients=join_patients,
        description=str(data.get("description", "")).strip(),
        accounting_extract=accounting_extract,
        other_tables=other_tables,
    )


@cache
def _load(directory: str) -> tuple[Suite, ...]:
    root = Path(directory)
    if not root.is_dir():
        return ()
    return tuple(parse_suite(p) for p in sorted(root.glob("*/*.yml")) + sorted(root.glob("*.yml")))


def load_suites(directory: str | Path | None = None) -> tuple[Suite, ...]:
    """Every suite file (table suites and generic ones), in file order."""
    return _load(str(directory or expectations_dir()))


def suites_for_tables(tables: Sequence[str], directory: str | Path | None = None) -> list[Suite]:
    """Suites bound to tables: each table suite whose table is listed, then every generic suite
    once per listed table of its schema. A suite whose table is not listed is left out."""
    listed = set(tables)
    bound: list[Suite] = []
    for suite in load_suites(directory):
        if suite.table:
            if suite.table in listed:
                bound.append(suite)
        else:
            bound += [suite.for_table(t) for t in tables if t.split(".")[0] == suite.applies_to]
    return bound


def _matches(column: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(column.lower(), pattern.lower())


NUMERIC_TYPES = (
    "DOUBLE",
    "FLOAT",
    "REAL",
    "DECIMAL",
    "INTEGER",
    "BIGINT",
    "SMALLINT",
    "HUGEINT",
    "TINYINT",
    "UBIGINT",
    "UINTEGER",
)


_EITHER = {"ignore_row_if": "either_value_is_missing"}


def generated_expectations(check: Check, columns: Mapping[str, str]) -> tuple[Expect, ...]:
    """Expectations for a generated check, from the table's columns {name: DuckDB type}.

    Rate columns are the numeric columns matching one of `rates` (glob patterns) and none of
    `exclude`. rates_non_negative: each is >= 0. intervals_contain_rate: for each rate column R
    and each [lower, upper] pair of `bounds` (`{rate}` stands for R's name), lower <= R <= upper
    where both columns exist; a pair without `{rate}` is used only when there is one rate column.
    """
    numeric = [c for c, kind in columns.items() if str(kind).upper().startswith(NUMERIC_TYPES)]
    options = check.options
    rates = [
        c
        for c in numeric
        if any(_matches(c, p) for p in options.get("rates", ()))
        and not any(_matches(c, p) for p in options.get("exclude", ()))
    ]
    if check.generate == "rates_non_negative":
        return tuple(
            Expect("expect_column_values_to_be_between", {"column": c, "min_value": 0})
            for c in rates
        )
    by_lower = {c.lower(): c for c in columns}
    expectations: list[Expect] = []
    for rate in rates:
        for low_pattern, high_pattern in options.get("bounds", ()):
            if "{rate}" not in low_pattern + high_pattern and len(rates) != 1:
                continue
            low = by_lower.get(low_pattern.format(rate=rate).lower())
            high = by_lower.get(high_pattern.format(rate=rate).lower())
            if low and high and rate not in (low, high):
                expectations.append(
                    Expect(
                        "expect_column_pair_values_a_to_be_greater_than_b",
                        {"column_A": rate, "column_B": low, "or_equal": True, **_EITHER},
                    )
                )
                expectations.append(
                    Expect(
                        "expect_column_pair_values_a_to_be_greater_than_b",
                        {"column_A": high, "column_B": rate, "or_equal": True, **_EITHER},
                    )
                )
                break
    return tuple(expectations)
