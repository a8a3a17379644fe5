"""Published dashboards (issue 6): Plotly figures over the marts, written as offline HTML.

Every figure function takes a DuckDB connection and filters and returns a Plotly figure, so
notebooks call the same code the published pages use::

    import duckdb
    from trscohort.dashboards import monitoring
    con = duckdb.connect("warehouse/trscohort.duckdb", read_only=True)
    monitoring.fig_anc_adherence_by_phase(con, site="north", period="2024").show()

A figure needing a mart the warehouse does not have raises `Unavailable`. Small counts are
suppressed inside the figure functions (`trscohort.dashboards.privacy`).
"""

from trscohort.dashboards.common import Unavailable
from trscohort.dashboards.privacy import PrivacyError, suppression_rule
from trscohort.dashboards.publish import PAGES, Published, tables_read, write_dashboards

__all__ = [
    "PAGES",
    "PrivacyError",
    "Published",
    "Unavailable",
    "suppression_rule",
    "tables_read",
    "write_dashboards",
]
