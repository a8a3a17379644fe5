"""The quarantine counts are published twice: rows per extract on the safety page (read =
accepted + quarantined + duplicates) and rows by reason in the data-quality report (quarantined =
its reasons). A reader holds both. Built by hand so that protecting each page alone leaks: the
dashboard withholds the quarantined total as the complement of 3 duplicates, the report shows
that total beside a small reason, and together they give the 3 duplicates back."""

from __future__ import annotations

import math
import re

import duckdb
import pytest

from tests.security.attacker import feasible_ranges, recovered
from trscohort.config import load_config
from trscohort.dashboards.safety import fig_quarantine_by_extract, protected_ingest
from trscohort.publication.suppression import CountTable, protect
from trscohort.quality.report import render_report

K = 10
LOG = {"accepted": 1000, "quarantined": 105, "duplicates": 3}
SMALL_REASON = "unknown patient_id 'P0000042'"
BIG_REASON = "unparseable value for anc: 'n/a'"


@pytest.fixture
def con(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA audit")
    con.execute(
        "CREATE TABLE audit.ingest_log (extract VARCHAR, file VARCHAR, sha256 VARCHAR, "
        "rows_read BIGINT, accepted BIGINT, quarantined BIGINT, duplicates BIGINT)"
    )
    con.execute(
        "INSERT INTO audit.ingest_log VALUES ('labs', 'labs.csv', 'x', 1108, ?, ?, ?)",
        list(LOG.values()),
    )
    con.execute("CREATE SCHEMA quarantine")
    con.execute("CREATE TABLE quarantine.labs (source_row BIGINT, reason VARCHAR)")
    reasons = [SMALL_REASON] * 5 + [BIG_REASON] * 100
    con.executemany("INSERT INTO quarantine.labs VALUES (?, ?)", list(enumerate(reasons)))
    yield con
    con.close()


def label_range(label: str) -> tuple[float, float]:
    if label.startswith("<"):
        return (1, int(label[1:]) - 1)
    if label == "withheld":
        return (K + 1, math.inf)
    value = int(label.replace(",", ""))
    return (value, value)


def what_a_reader_works_out(dashboard: dict[str, str], report: dict[str, str]) -> list[str]:
    """Cells of both pages a reader can pin to one value, among those the pages suppressed."""
    ranges: dict[str, tuple[float, float]] = {}
    for page in (dashboard, report):
        for cell, label in page.items():
            low, high = label_range(label)
            known = ranges.get(cell, (0, math.inf))
            ranges[cell] = (max(low, known[0]), min(high, known[1]))
    shown = {c: low for c, (low, high) in ranges.items() if low == high}
    unknown = {c: r for c, r in ranges.items() if c not in shown}
    relations = [
        {"read": -1, "accepted": 1, "quarantined": 1, "duplicates": 1},
        {"quarantined": -1, "small reason": 1, "big reason": 1},
    ]
    return [c for c in recovered(feasible_ranges(shown, unknown, relations)) if c in unknown]


def report_labels(text: str) -> dict[str, str]:
    section = text[text.index("id='quarantine'") : text.index("id='all'")]
    cells = dict(re.findall(r"<tr><td>labs</td><td>(.*?)</td><td>(.*?)</td></tr>", section))
    labels = {k.replace("&#x27;", "'"): v.replace("&lt;", "<") for k, v in cells.items()}
    return {
        "small reason": labels["unknown patient_id 'A9999999'"],
        "big reason": labels[BIG_REASON],
        "quarantined": re.sub("</?strong>", "", labels["<strong>all reasons</strong>"]),
    }


def dashboard_labels(con) -> dict[str, str]:
    config = load_config()
    fig = fig_quarantine_by_extract(con, config=config)
    labels = {trace.name: trace.customdata[0] for trace in fig.data if trace.customdata}
    labels["read"] = protected_ingest(con, config).cell(("labs", "read")).label
    return labels


def test_report_and_dashboard_together_give_no_small_count_back(con):
    dashboard, report = dashboard_labels(con), report_labels(render_report(con))
    assert dashboard["duplicates"] == "<11" and report["small reason"] == "<11"
    assert what_a_reader_works_out(dashboard, report) == []
    # the quarantined total is one cell, so both pages say the same of it
    assert dashboard["quarantined"] == report["quarantined"]


def test_each_page_protected_alone_would_give_the_duplicates_back():
    """Control: the same counts protected page by page (the code before) leak, so the test above
    can fail."""
    dashboard_table = CountTable("dashboard")
    for measure, n in LOG.items():
        dashboard_table.add(measure, n)
    dashboard_table.add("read", sum(LOG.values()))
    dashboard_table.add_sum("read", list(LOG))
    report_table = CountTable("report")
    report_table.add("small reason", 5)
    report_table.add("big reason", 100)
    report_table.add("quarantined", 105)
    report_table.add_sum("quarantined", ["small reason", "big reason"])
    dashboard, report = protect(dashboard_table, K), protect(report_table, K)
    labels = {c: dashboard.cell(c).label for c in ("read", *LOG)}
    labels |= {c: report.cell(c).label for c in ("small reason", "big reason")}
    report_total = {"quarantined": report.cell("quarantined").label}
    assert "duplicates" in what_a_reader_works_out(labels, report_total)
