"""DuckDB-dialect model SQL -> Spark SQL, with SQLGlot plus the few rewrites SQLGlot lacks.

The models are written once, in DuckDB's dialect. Where SQLGlot's transpilation would change a
model's meaning, the model is written in a form both engines read the same (see
docs/spark.md); what is left here is mechanical:

- `layer.name` tables become the Spark temporary views `layer__name` (one view per Parquet
  folder `<warehouse>/<layer>/<name>/`), so no Spark catalog or database is needed;
- `TRY_STRPTIME(x, ['%Y-%m-%d', ...])` (a list of strftime formats, tried in order; SQLGlot
  leaves it untranslated) becomes `coalesce(try_to_timestamp(x, 'yyyy-M-d'), ...)`, each
  format translated by `java_pattern`;
- `a / b` becomes `CAST(a AS DOUBLE) / b`: DuckDB's `/` always divides in floating point;
- an empty `generate_series`/`range` stays empty (Spark's sequence would count down);
- `quantile_cont(x, p)` becomes Spark's `percentile(x, p)` (both interpolate linearly);
- window frames are checked: a RANGE frame with an offset is refused (`window_frames`),
  because SQLGlot changes what an interval offset over dates means.

This module imports no PySpark: it is tested without Java.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

# strftime directive -> Java DateTimeFormatter letters, for the directives a site's
# date_format may use. Single letters parse one or two digits, like DuckDB's %m/%d/%H.
_DIRECTIVES = {
    "Y": "yyyy",
    "y": "yy",
    "m": "M",
    "d": "d",
    "H": "H",
    "I": "h",
    "M": "m",
    "S": "s",
    "f": "SSSSSS",  # parses 1 to 6 digits, like DuckDB's %f
    "p": "a",
    "b": "MMM",
    "B": "MMMM",
}


class NotPortable(ValueError):
    """A construct that one engine would read differently from the other."""


def java_pattern(strftime: str) -> str:
    """'%Y-%m-%dT%H:%M' -> "yyyy-M-d'T'H:m": letters outside directives are quoted."""
    out: list[str] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            text = "".join(literal)
            out.append(f"'{text}'" if re.search(r"[A-Za-z']", text) else text)
            literal.clear()

    i = 0
    while i < len(strftime):
        char = strftime[i]
        if char == "%" and i + 1 < len(strftime):
            directive = strftime[i + 1]
            if directive == "%":
                literal.append("%")
            elif directive in _DIRECTIVES:
                flush()
                out.append(_DIRECTIVES[directive])
            else:
                raise NotPortable(f"date format {strftime!r}: %{directive} has no Spark pattern")
            i += 2
            continue
        literal.append("''" if char == "'" else char)
        i += 1
    flush()
    return "".join(out)


def _try_strptime(node: exp.Expression) -> exp.Expression:
    if not (isinstance(node, exp.Anonymous) and node.name.upper() == "TRY_STRPTIME"):
        return node
    value, formats = node.expressions
    literals = formats.expressions if isinstance(formats, exp.Array) else [formats]
    if not all(isinstance(f, exp.Literal) and f.is_string for f in literals):
        raise NotPortable("TRY_STRPTIME needs literal formats to run on Spark")
    parsed = [
        exp.Anonymous(
            this="try_to_timestamp",
            expressions=[value.copy(), exp.Literal.string(java_pattern(f.this))],
        )
        for f in literals
    ]
    return parsed[0] if len(parsed) == 1 else exp.Coalesce(this=parsed[0], expressions=parsed[1:])


def _quantile_cont(node: exp.Expression) -> exp.Expression:
    """DuckDB's quantile_cont(x, p) interpolates linearly, as Spark's percentile(x, p) does;
    SQLGlot writes percentile_cont(x, p), which Spark reads only as an ordered-set aggregate."""
    if (
        isinstance(node, exp.PercentileCont)
        and node.args.get("expression") is not None
        and not isinstance(node.parent, exp.WithinGroup)
    ):
        return exp.Anonymous(
            this="percentile", expressions=[node.this.copy(), node.expression.copy()]
        )
    return node


def _float_division(node: exp.Expression) -> exp.Expression:
    """DuckDB's `/` is floating-point division whatever its operands (DECIMAL too); Spark
    divides decimals as DECIMAL, rounded to its scale (days / 365.25 -> 6 decimals). The
    dividend becomes DOUBLE, as DuckDB reads it. (`//`, integer division, is another node.)"""
    if isinstance(node, exp.Div) and not (
        isinstance(node.this, exp.Cast) and node.this.to.is_type("double")
    ):
        node = node.copy()
        node.set("this", exp.cast(node.this, exp.DataType.build("DOUBLE")))
    return node


def _empty_series(node: exp.Expression) -> exp.Expression:
    """generate_series(0, -1) (and range(0, 0)) is empty in DuckDB, but Spark's sequence(0, -1)
    counts down, [0, -1]: the series is NULL (no rows once unnested) when it would be empty."""
    if not isinstance(node, exp.GenerateSeries) or node.args.get("step") is not None:
        return node
    if isinstance(node.parent, exp.If):
        return node
    start, end = node.args["start"], node.args["end"]
    exclusive = bool(node.args.get("is_end_exclusive"))
    compare = exp.GT if exclusive else exp.GTE
    return exp.If(
        this=compare(this=end.copy(), expression=start.copy()), true=node.copy(), false=exp.null()
    )


def _view_names(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Table) and node.db and not node.catalog:
        return exp.Table(
            this=exp.to_identifier(view_name(f"{node.db}.{node.name}")),
            alias=node.args.get("alias"),
        )
    return node


def view_name(table: str) -> str:
    """`marts.anc_results` -> `marts__anc_results`, the Spark view over its Parquet folder."""
    return table.replace(".", "__")


@dataclass(frozen=True)
class Frame:
    """One window frame of a model: its kind (ROWS/RANGE), bounds, and the SQL of the window."""

    kind: str
    start: str
    end: str
    window: str


def window_frames(sql: str) -> list[Frame]:
    """Every window of the SQL that has an ORDER BY, with its frame (a window without an
    explicit frame has the SQL default, RANGE UNBOUNDED PRECEDING to CURRENT ROW, in both
    engines). A RANGE frame with an interval offset (`RANGE BETWEEN INTERVAL 30 DAY PRECEDING
    ...`) is refused: order by an integer day number instead (`date_diff('day', DATE
    '1970-01-01', d)`) with `RANGE BETWEEN 30 PRECEDING AND CURRENT ROW`."""
    frames = []
    for window in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Window):
        if not window.args.get("order"):
            continue
        spec = window.args.get("spec")
        kind = (spec.args.get("kind") or "RANGE").upper() if spec else "RANGE"
        start = _bound(spec, "start") if spec else "UNBOUNDED PRECEDING"
        end = _bound(spec, "end") if spec else "CURRENT ROW"
        offsets = [spec.args.get(side) for side in ("start", "end")] if spec else []
        if kind == "RANGE" and any(
            isinstance(o, exp.Expression) and o.find(exp.Interval) for o in offsets
        ):
            raise NotPortable(
                f"RANGE frame with an offset ({start} .. {end}) in {window.sql('duckdb')[:120]}: "
                "SQLGlot changes its meaning on Spark; use integer day numbers"
            )
        frames.append(Frame(kind, start, end, window.sql("duckdb")))
    return frames


def _bound(spec: exp.Expression, side: str) -> str:
    value = spec.args.get(side)
    text = value if isinstance(value, str) else value.sql("duckdb") if value else "CURRENT ROW"
    direction = spec.args.get(f"{side}_side") or ""
    return f"{text} {direction}".strip().upper()


def to_spark(sql: str) -> str:
    """One rendered DuckDB SELECT as Spark SQL (raises NotPortable or a SQLGlot error)."""
    window_frames(sql)
    tree = sqlglot.parse_one(sql, read="duckdb")
    for rewrite in (_try_strptime, _quantile_cont, _float_division, _empty_series, _view_names):
        tree = tree.transform(rewrite)
    return tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE, comments=False)
