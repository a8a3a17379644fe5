"""What data-quality results may show outside the warehouse.

Examples of failing values are useful and dangerous: a failed uniqueness check on patient_id
lists patient ids. Wherever a result is published or logged (the run's stderr, the HTML report
in `out/`, Dagster's event log), an example is the row it comes from (`labs.csv row 1,203`) and
a masked value: an identifier or a date keeps only its shape (`P0000042` -> `A9999999`,
`1980-01-02` -> `9999-99-99`), which is what a format problem needs; any other value (a unit, a
category, a number) is shown as it is, cut to 40 characters. The warehouse's
`audit.dq_results` keeps the raw examples and observed values: it is as confidential as the data.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

SHOWN_CHARACTERS = 40
DATE_COLUMN = re.compile(r"(^|_)(date|dob|born|birth|death)($|_)|_at$|_on$")
ID_COLUMN = re.compile(r"(^|_)(id|mrn|nhs|ssn)$")
DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


def is_sensitive(column: str | None, value: Any = None) -> bool:
    """An identifier or a date (by the column's name or the value's type or look)."""
    name = (column or "").lower()
    if ID_COLUMN.search(name) or DATE_COLUMN.search(name):
        return True
    if isinstance(value, dt.date | dt.datetime):
        return True
    return isinstance(value, str) and bool(DATE_TEXT.search(value))


# ASCII letters and digits to their shape; any other character kept.
_SHAPE = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "A" * 26 + "a" * 26 + "9" * 10
)


def shape(text: str) -> str:
    """Letters -> A/a, digits -> 9; punctuation and spaces kept (the format stays visible)."""
    return text.translate(_SHAPE)


def as_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else str(value)


def masked(value: Any, column: str | None) -> str:
    """One example value as it may be published."""
    if value is None:
        return "NULL"
    text = as_text(value)
    if is_sensitive(column, value):
        text = shape(text)
    if len(text) > SHOWN_CHARACTERS:
        text = text[: SHOWN_CHARACTERS - 1] + "…"
    return "'" + text + "'"


def masked_observed(value: Any, column: str | None) -> str | None:
    """An observed value (a min, a max, a type) as it may be published."""
    if value is None:
        return None
    return masked(value, column).strip("'") if is_sensitive(column, value) else as_text(value)


def published_examples(
    values: Sequence[Any], rows: Sequence[int | None], column: str | None, source: str | None
) -> str | None:
    """`labs.csv row 12 'A9', row 40 'A9'`, or the masked values alone without row numbers."""
    if not values and not rows:
        return None
    parts = []
    for i, value in enumerate(values or [None] * len(rows)):
        row = rows[i] if i < len(rows) else None
        shown = masked(value, column) if values else ""
        parts.append(f"row {row:,} {shown}".strip() if row is not None else shown)
    text = ", ".join(p for p in parts if p)
    return f"{source} {text}" if source and any(r is not None for r in rows) else text
