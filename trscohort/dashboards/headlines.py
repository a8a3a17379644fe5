"""Headline figures of the index page (issue 16): patients who started clozapine, ANC
adherence over the last 12 months, TRS patients without clozapine, safety flags raised.

Each headline is a cell the pages already publish, or a sum or difference of such cells, so it
adds nothing a reader could not work out from the pages themselves: a sum (or a difference)
that takes in a suppressed cell is shown as suppressed, never as a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trscohort.dashboards import funnel
from trscohort.dashboards.common import ALL_SITES, Unavailable, has_table
from trscohort.dashboards.monitoring import EXPECTED, OBSERVED

SUPPRESSED = "suppressed"
PAGES_READ = ("monitoring", "safety_quality")  # the pages whose tables `headlines` reads
TRS_STEP, TRS_CLOZAPINE_STEP = "TRS", "TRS and started clozapine"


@dataclass(frozen=True)
class Headline:
    title: str
    value: str  # what is shown: a number, a percentage with n / N, or "suppressed"
    note: str
    link: str


def _total(cells: list) -> tuple[int | None, str]:
    """The sum of published cells: suppressed when any of them is."""
    if any(c.value is None for c in cells):
        label = cells[0].label if len(cells) == 1 else SUPPRESSED
        return None, label
    total = sum(c.value for c in cells)
    return total, f"{total:,}"


def _clozapine(con, config) -> list[Headline]:
    if not has_table(con, funnel.TRS_STATUS):
        return []
    protected = funnel.protected_funnel(con, config)
    keys = protected.table.values
    statuses = [
        k for k in keys if k[0] == "status" and k[2] == ALL_SITES and k[1] != "not_on_clozapine"
    ]
    found = []
    if statuses:
        _, label = _total([protected.cell(k) for k in statuses])
        found.append(
            Headline(
                "Patients who started clozapine",
                label,
                "every clozapine status at the as-of date (titrating to resistant), all sites",
                "funnel.html",
            )
        )
    trs, started = ("step", TRS_STEP, ALL_SITES), ("step", TRS_CLOZAPINE_STEP, ALL_SITES)
    if trs in keys and started in keys:
        a, b = protected.cell(trs), protected.cell(started)
        value = (
            f"{a.value - b.value:,}" if a.value is not None and b.value is not None else SUPPRESSED
        )
        found.append(
            Headline(
                "TRS patients not started on clozapine",
                value,
                f"of {a.label} patients with TRS (the funnel's TRS step less "
                "\u201cTRS and started clozapine\u201d)",
                "funnel.html",
            )
        )
    return found


def _anc_adherence(data: Mapping[str, Any] | None) -> list[Headline]:
    """All sites, ANC windows from week 1, over the 12 months to the last month with data."""
    if not data or not data.get("months"):
        return []
    months = data["months"]
    last = int(months[-1][:4]) * 12 + int(months[-1][5:7]) - 1
    recent = {
        i for i, m in enumerate(months) if last - 11 <= int(m[:4]) * 12 + int(m[5:7]) - 1 <= last
    }
    pooled = data["rules"].index(data["pooled"]) if data["pooled"] in data["rules"] else -1
    rows = [r for r in data["windows"]["rows"] if r[0] == -1 and r[2] == pooled and r[1] in recent]
    columns = data["windows"]["columns"]
    observed = [r[columns.index(OBSERVED)] for r in rows]
    expected = [r[columns.index(EXPECTED)] for r in rows]
    if any(v < 0 for v in observed + expected) or not sum(expected):
        value = SUPPRESSED if rows else "no data"
    else:
        n, d = sum(observed), sum(expected)
        value = f"{100 * n / d:.1f} % ({n:,} / {d:,})"
    return [
        Headline(
            "ANC monitoring adherence, last 12 months",
            value,
            f"observed / expected ANC windows from week 1, all sites, to {months[-1]} "
            f"(target {data.get('target', 95):g} %)",
            "monitoring.html",
        )
    ]


def _flags(data: Mapping[str, Any] | None) -> list[Headline]:
    """Safety flags raised, all sites and all months, added up from the safety page's own
    table (its all-sites cells of every month and flag). A cell that is suppressed there is
    left out and the figure reads "at least": a sum of the page's shown cells tells a reader
    nothing the page does not, where a total from a table of its own, less the page's shown
    cells, would give the suppressed ones back."""
    if not data:
        return []
    cells = [row[-1] for row in data["raised"]["rows"] if row[0] == -1]
    shown = sum(c for c in cells if c >= 0)
    suppressed = sum(1 for c in cells if c < 0)
    note = (
        "every SAF-* flag with a date, all sites, all months (the warehouse records no closing "
        "of a flag: each counts as open for review)"
    )
    if suppressed:
        note += (
            f"; {suppressed:,} month{'s' if suppressed > 1 else ''} of a flag type suppressed "
            "on the safety page left out"
        )
    value = f"at least {shown:,}" if suppressed else f"{shown:,}"
    return [Headline("Safety flags raised", value, note, "safety_quality.html")]


def headlines(con, config, built: Mapping[str, Mapping[str, Any]]) -> list[Headline]:
    """The index page's headline figures, from the tables the pages publish (`built`: each
    page's aggregate table by its slug)."""
    found: list[Headline] = []
    for part in (
        lambda: _clozapine(con, config),
        lambda: _anc_adherence(built.get("monitoring")),
        lambda: _flags(built.get("safety_quality")),
    ):
        try:
            found += part()
        except Unavailable:
            continue
    order = ["Patients who", "ANC", "TRS", "Safety"]
    return sorted(
        found, key=lambda h: next(i for i, o in enumerate(order) if h.title.startswith(o))
    )
