"""The researcher's API: open a warehouse read-only and explore it from a notebook.

    from trscohort.api import open_warehouse
    wh = open_warehouse("warehouse/trscohort.duckdb")
    wh.tables()                      # every table with its description
    wh.columns("marts.patient_trs_status")
    wh.sql("SELECT trs_status, count(*) FROM marts.patient_trs_status GROUP BY 1")
    wh.cohort(trs_status="trs")      # the patients of a status, as a frame
    print(wh.explain("P0000042").to_text())
    wh.timeline("P0000042")

`trscohort run` writes a new file and swaps it in, so a notebook holding the warehouse open keeps
reading the previous version until it reopens; it never blocks or breaks a run, and reopening
gives the new file.

Read-only in effect, not just in name: each warehouse is attached READ_ONLY to a DuckDB instance
of its own (so a reopen never gets an old file back from DuckDB's per-process cache), with
external access off (no file, URL, COPY ... TO, EXPORT, ATTACH), extension autoload and
autoinstall off, and the configuration locked so that SQL cannot turn any of this back on.
Temporary tables in memory are allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import duckdb

from trscohort.errors import UsageError
from trscohort.explain import PatientExplanation, explain_patient
from trscohort.models import Model

Frame = Any  # polars.DataFrame or pandas.DataFrame

LAYER_DESCRIPTIONS = {
    "raw": "extract as read, every column text; _row = position in the file",
    "quarantine": "rows that could not be used, as read, with source_row and reason",
    "reference": "packaged reference data (trscohort/reference/*.csv) and lookups derived from it",
    "audit": "ingest log and run parameters",
}


class WarehouseBusy(UsageError):
    """Another process holds the warehouse for writing."""


# Set before anything runs; the last two are set after ATTACH (which needs file access).
_INSTANCE_CONFIG = {"autoload_known_extensions": False, "autoinstall_known_extensions": False}
_LOCKDOWN = ("SET enable_external_access = false", "SET lock_configuration = true")


def _busy(path: Path) -> WarehouseBusy:
    return WarehouseBusy(
        f"{path} is being written by another process (such as a `dagster dev` "
        "materialisation). Wait for it to finish and open the warehouse again; "
        "`trscohort run` never blocks readers because it swaps in a new file."
    )


def _connect_parquet(path: Path) -> duckdb.DuckDBPyConnection:
    """A Parquet warehouse (`--engine spark`): views over its tables in an in-memory catalog
    named `warehouse`, then locked down so that only the warehouse's folder can be read."""
    from trscohort.engines import parquet

    con = duckdb.connect(":memory:", config=_INSTANCE_CONFIG)
    con.execute("ATTACH ':memory:' AS warehouse")
    con.execute("USE warehouse")
    parquet.attach(con, path)
    folder = "'" + (str(path.resolve()) + "/").replace("'", "''") + "'"
    con.execute(f"SET allowed_directories = [{folder}]")
    for statement in _LOCKDOWN:
        con.execute(statement)
    return con


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB with the warehouse attached read-only, then locked down."""
    from trscohort.engines import parquet

    if parquet.is_parquet_warehouse(path):
        return _connect_parquet(path)
    if not path.is_file():
        raise UsageError(f"{path}: warehouse not found (run `trscohort run` first)")
    con = duckdb.connect(":memory:", config=_INSTANCE_CONFIG)
    try:
        literal = "'" + str(path.resolve()).replace("'", "''") + "'"
        con.execute(f"ATTACH {literal} AS warehouse (READ_ONLY)")
        con.execute("USE warehouse")
        for statement in _LOCKDOWN:
            con.execute(statement)
    except duckdb.Error as exc:
        con.close()
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "lock" in message.lower() or "already attached" in message.lower():
            raise _busy(path) from None
        raise UsageError(f"{path}: cannot be opened as a warehouse ({message})") from None
    return con


class Warehouse:
    """A read-only view of one warehouse: a DuckDB file, or the Parquet folder of a Spark run."""

    def __init__(self, path: str | Path = "warehouse/trscohort.duckdb"):
        self.path = Path(path)
        self.con = _connect(self.path)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- querying ---------------------------------------------------------------------------
    def sql(
        self, query: str, params: list | None = None, *, to: Literal["polars", "pandas"] = "polars"
    ) -> Frame:
        """Run SQL and return a Polars (default) or pandas frame."""
        # A cursor of its own: a result left half-read by other calls cannot get in the way.
        with self.con.cursor() as cursor:
            cursor.execute("USE warehouse")  # a cursor is a new session: default catalog again
            relation = cursor.sql(query, params=params or None)
            return relation.df() if to == "pandas" else relation.pl()

    def table(self, name: str, *, to: Literal["polars", "pandas"] = "polars") -> Frame:
        schema, table = self._split(name)
        return self.sql(f'SELECT * FROM "{schema}"."{table}"', to=to)

    # -- documentation ----------------------------------------------------------------------
    def tables(self) -> Frame:
        """Every table: schema, name, rows, description."""
        import polars as pl

        found = self.con.execute(
            "SELECT schema_name, table_name, estimated_size FROM duckdb_tables() "
            # a Parquet warehouse's tables are views (rows not estimated)
            "UNION ALL SELECT schema_name, view_name, NULL FROM duckdb_views() "
            "WHERE NOT internal AND database_name = 'warehouse' "
            "ORDER BY schema_name, table_name"
        ).fetchall()
        return pl.DataFrame(
            [
                {
                    "table": f"{schema}.{name}",
                    "rows": rows,
                    "description": self._description(schema, name),
                }
                for schema, name, rows in found
            ]
        )

    def columns(self, name: str) -> Frame:
        """A table's columns with their types and documentation."""
        import polars as pl

        schema, table = self._split(name)
        docs = Model(schema, table).doc()["columns"]
        described = self.con.execute(f'DESCRIBE "{schema}"."{table}"').fetchall()
        return pl.DataFrame(
            [
                {"column": column, "type": str(kind), "description": docs.get(column, "")}
                for column, kind, *_ in described
            ]
        )

    # -- patients ---------------------------------------------------------------------------
    def explain(self, patient_id: str) -> PatientExplanation:
        """The same explanation as `trscohort explain`."""
        return explain_patient(self.con, patient_id)

    def timeline(self, patient_id: str, *, to: Literal["polars", "pandas"] = "polars") -> Frame:
        """One patient's dated events (prescriptions, labs, diagnoses, assessments), in order."""
        return self.sql(_TIMELINE_SQL, [patient_id] * 4, to=to)

    def cohort(
        self,
        *,
        trs_status: str | None = None,
        clozapine_status: str | None = None,
        to: Literal["polars", "pandas"] = "polars",
    ) -> Frame:
        """Patients with their TRS (and, where built, clozapine) status, filtered by status."""
        has_clozapine = self._exists("marts", "patient_clozapine_status")
        select = "SELECT t.*"
        joins = ""
        if has_clozapine:
            select += "".join(f", {c}" for c in self._clozapine_columns())
            joins = " LEFT JOIN marts.patient_clozapine_status AS c USING (patient_id)"
        where, params = [], []
        if trs_status:
            where.append("t.trs_status = ?")
            params.append(trs_status)
        if clozapine_status:
            if not has_clozapine:
                raise UsageError("this warehouse has no marts.patient_clozapine_status")
            where.append("c.clozapine_status = ?")
            params.append(clozapine_status)
        query = f"{select} FROM marts.patient_trs_status AS t{joins}"
        if where:
            query += " WHERE " + " AND ".join(where)
        return self.sql(query + " ORDER BY t.patient_id", params, to=to)

    # -- figures ----------------------------------------------------------------------------
    @staticmethod
    def figures() -> list[str]:
        """Names of the dashboard figures `figure()` can draw."""
        return sorted(_figure_functions())

    def figure(self, name: str, **filters: Any):
        """The same Plotly figure as the published dashboard (filters: site=, period=)."""
        functions = _figure_functions()
        if name not in functions:
            raise UsageError(f"no figure '{name}'; choose from {', '.join(sorted(functions))}")
        return functions[name](self.con, **filters)

    # -- helpers ----------------------------------------------------------------------------
    def _clozapine_columns(self) -> list[str]:
        """The clozapine mart's columns; a name the TRS mart also has gets a clozapine_ prefix."""
        trs = {c for (c, *_) in self.con.execute("DESCRIBE marts.patient_trs_status").fetchall()}
        columns = []
        for name, *_ in self.con.execute("DESCRIBE marts.patient_clozapine_status").fetchall():
            if name == "patient_id":
                continue
            alias = name if name not in trs else f"clozapine_{name.removeprefix('clozapine_')}"
            if alias in trs:  # the same fact in both marts (e.g. clozapine_start_date)
                continue
            columns.append(f'c."{name}" AS "{alias}"')
        return columns

    def _split(self, name: str) -> tuple[str, str]:
        if name.count(".") != 1 or not self._exists(*name.split(".")):
            raise UsageError(f"no table '{name}' (see tables())")
        schema, table = name.split(".")
        return schema, table

    def _exists(self, schema: str, table: str) -> bool:
        return bool(
            self.con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [schema, table],
            ).fetchone()[0]
        )

    @staticmethod
    def _description(schema: str, name: str) -> str:
        documented = Model(schema, name).doc()["description"]
        return " ".join(str(documented).split()) or LAYER_DESCRIPTIONS.get(schema, "")


def _figure_functions() -> dict[str, Any]:
    from trscohort.dashboards import adverse_events, anc, funnel, monitoring, safety

    return {
        name.removeprefix("fig_"): getattr(module, name)
        for module in (funnel, monitoring, anc, adverse_events, safety)
        for name in dir(module)
        if name.startswith("fig_")
    }


def open_warehouse(path: str | Path = "warehouse/trscohort.duckdb") -> Warehouse:
    """Open a warehouse read-only (raises WarehouseBusy, with advice, if a writer holds it)."""
    return Warehouse(path)


_TIMELINE_SQL = """
SELECT start_date AS date, 'prescription' AS kind,
       drug || ' ' || coalesce(CAST(daily_dose_mg AS VARCHAR) || ' mg/day', '')
       || ' until ' || coalesce(CAST(end_date AS VARCHAR), 'ongoing') AS detail
FROM staging.prescriptions WHERE patient_id = ?
UNION ALL
SELECT collected_date, 'lab', coalesce(analyte, test_name) || ' '
       || coalesce(CAST(round(value, 2) AS VARCHAR) || ' ' || unit, value_as_written)
FROM staging.labs WHERE patient_id = ?
UNION ALL
SELECT diagnosed_at, 'diagnosis', code || coalesce(' ' || description, '')
FROM staging.diagnoses WHERE patient_id = ?
UNION ALL
SELECT assessed_at, 'assessment', instrument || ' ' || CAST(score AS VARCHAR)
FROM staging.assessments WHERE patient_id = ?
ORDER BY date, kind, detail
"""
