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
from trscohort.dashboards.client import SHOWN_SMALL
from trscohort.dashboards.common import Unavailable
from trscohort.dashboards.monitoring import EXPECTED, OBSERVED
from trscohort.dashboards.privacy import WITHHELD, suppressed_label

SUPPRESSED = "suppressed"
PAGES_READ = ("funnel", "monitoring", "safety_quality")  # the pages whose tables `headlines` reads
TRS_STEP, TRS_CLOZAPINE_STEP = "TRS", "TRS and started clozapine"
ALL = -1  # the site index of a page table's all-sites rows


@dataclass(frozen=True)
class Headline:
    title: str
    value: str  # what is shown: a number, a percentage with n / N, or "suppressed"
    note: str
    link: str


def _cell_label(code: int, config) -> str:
    """What the page shows for an embedded cell: its count, "<11" or "withheld"."""
    if code >= 0:
        return f"{code:,}"
    return suppressed_label(config) if code == SHOWN_SMALL else WITHHELD


def _funnel_cells(data: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """(kind, name) -> the all-sites cell of the funnel page's table (a count or a code)."""
    keys = data["keys"]
    return {tuple(keys[k]): code for site, k, code in data["counts"]["rows"] if site == ALL}


def _clozapine(data: Mapping[str, Any] | None, config) -> list[Headline]:
    """Patients who started clozapine (every status but "not on clozapine") and TRS patients
    not started on it, from the funnel page's own table."""
    if not data:
        return []
    cells = _funnel_cells(data)
    not_started = funnel.step_label("not_on_clozapine")
    statuses = [c for (kind, name), c in cells.items() if kind == "status" and name != not_started]
    found = []
    if statuses:
        if min(statuses) >= 0:
            label = f"{sum(statuses):,}"
        else:  # a sum that takes in a suppressed cell is suppressed
            label = _cell_label(statuses[0], config) if len(statuses) == 1 else SUPPRESSED
        found.append(
            Headline(
                "Patients who started clozapine",
                label,
                "every clozapine status at the as-of date (titrating to resistant), all sites",
                "funnel.html",
            )
        )
    trs, started = cells.get(("funnel", TRS_STEP)), cells.get(("funnel", TRS_CLOZAPINE_STEP))
    if trs is not None and started is not None:
        value = f"{trs - started:,}" if min(trs, started) >= 0 else SUPPRESSED
        found.append(
            Headline(
                "TRS patients not started on clozapine",
                value,
                f"of {_cell_label(trs, config)} patients with TRS (the funnel's TRS step less "
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
    rows = [r for r in data["windows"]["rows"] if r[0] == ALL and r[2] == pooled and r[1] in recent]
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
    cells = [row[-1] for row in data["raised"]["rows"] if row[0] == ALL]
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


def headlines(config, built: Mapping[str, Mapping[str, Any]]) -> list[Headline]:
    """The index page's headline figures, from the tables the pages publish (`built`: each
    page's aggregate table by its slug)."""
    found: list[Headline] = []
    for part in (
        lambda: _clozapine(built.get("funnel"), config),
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
