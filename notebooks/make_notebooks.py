"""Writes the notebooks in this folder from the cell sources below (outputs are never saved).

Edit a notebook here, then `python notebooks/make_notebooks.py`: the .ipynb files stay small,
reviewable and free of patient-level output. A cell starting with "#" is markdown.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

OPEN = """\
import os

import plotly.io as pio

from trscohort.api import open_warehouse

# Figures show in JupyterLab and stay in `jupyter nbconvert --to html` exports (plotly.js inlined
# once, so the export opens offline).
pio.renderers.default = "plotly_mimetype+notebook"

# The warehouse `trscohort run` built (set TRSCOHORT_WAREHOUSE to use another file).
wh = open_warehouse(os.environ.get("TRSCOHORT_WAREHOUSE", "../warehouse/trscohort.duckdb"))"""

COHORT = [
    """# Cohort overview and the TRS funnel

What is in the warehouse, how patients classify against the TRS criteria (TRS-1 to TRS-8), and
why one patient came out as they did.""",
    OPEN,
    "wh.tables()",
    'wh.columns("marts.patient_trs_status")',
    "## TRS status",
    '''wh.sql("""
SELECT trs_status, count(*) AS patients
FROM marts.patient_trs_status GROUP BY 1 ORDER BY 2 DESC
""")''',
    'wh.figure("cohort_funnel")',
    'wh.figure("funnel_asides")',
    """## Which criterion keeps patients out of TRS?

Each reason names its rule id.""",
    '''wh.sql("""
SELECT regexp_extract(reason, '^(TRS-[0-9])', 1) AS rule, count(*) AS patients
FROM (SELECT unnest(string_split(reasons, '; ')) AS reason
      FROM marts.patient_trs_status WHERE trs_status IN ('not_trs', 'pseudo_resistant'))
WHERE reason LIKE 'TRS-%'
GROUP BY 1 ORDER BY 1
""")''',
    "## One patient, explained",
    """trs = wh.cohort(trs_status="trs")
print(f"{trs.height} patients with TRS")
print(wh.explain(trs["patient_id"][0]).to_text())""",
    'wh.timeline(trs["patient_id"][0]).head(20)',
]

CLOZAPINE = [
    """# Clozapine monitoring adherence and ANC

Clozapine status (CLZ-1 to CLZ-6), adherence to the monitoring schedule (MON-*), and ANC
categories by treatment week.""",
    OPEN,
    '''wh.sql("""
SELECT clozapine_status, count(*) AS patients
FROM marts.patient_clozapine_status GROUP BY 1 ORDER BY 2 DESC
""")''',
    "## Monitoring adherence by rule",
    '''wh.sql("""
SELECT rule_id,
       count(*) FILTER (WHERE expected_tests > 0) AS patients_due,
       round(100 * sum(observed_tests) / nullif(sum(expected_tests), 0), 1) AS pct_windows_met,
       round(100 * avg(CASE WHEN fully_adherent THEN 1 ELSE 0 END)
             FILTER (WHERE expected_tests > 0), 1) AS pct_fully_adherent
FROM marts.monitoring_adherence GROUP BY 1 ORDER BY 1
""")''',
    'wh.figure("anc_adherence_by_phase")',
    'wh.figure("anc_adherence_by_site")',
    'wh.figure("missed_windows_by_month")',
    "## ANC categories",
    '''wh.sql("""
SELECT anc_category, count(*) AS results FROM marts.anc_results GROUP BY 1 ORDER BY 2 DESC
""")''',
    'wh.figure("anc_categories_by_week")',
    "## Safety flags",
    '''wh.sql("""
SELECT flag_id, count(*) AS flags, count(DISTINCT patient_id) AS patients
FROM marts.safety_flags GROUP BY 1 ORDER BY 1
""")''',
]

ADVERSE_EVENTS = [
    """# Adverse-event rates on clozapine

Incidence per 1,000 person-years with exact Poisson intervals (AE-*), a stratified comparison
by dose band, and cumulative incidence by week since clozapine start.""",
    OPEN,
    'wh.columns("marts.ae_rates")',
    "## Overall rates",
    '''wh.sql("""
SELECT event_id, events, round(person_years, 1) AS person_years,
       round(rate_per_1000py, 2) AS rate, round(ci_low, 2) AS ci_low, round(ci_high, 2) AS ci_high,
       round(100 * proportion_with_event, 2) AS pct_patients
FROM marts.ae_rates WHERE stratifier = 'overall' ORDER BY event_id
""")''',
    'wh.figure("ae_rates")',
    """## Stratified comparison: seizures by dose band

The guideline expects seizure risk to rise with dose (1-2 % below 300 mg/day, 3-4 % at
300-600, 5 % above 600). Each band's rate ratio against the lowest band uses the log-normal
approximation.""",
    '''import math

bands = wh.sql("""
SELECT stratum, events, person_years, rate_per_1000py, ci_low, ci_high
FROM marts.ae_rates
WHERE event_id = 'AE-SEIZ' AND stratifier = 'dose_band' AND person_years > 0
ORDER BY stratum_order
""")
reference = bands.row(0, named=True)
ratios = []
for band in bands.iter_rows(named=True):
    if band["events"] and reference["events"]:
        ratio = band["rate_per_1000py"] / reference["rate_per_1000py"]
        se = math.sqrt(1 / band["events"] + 1 / reference["events"])
        low, high = ratio * math.exp(-1.96 * se), ratio * math.exp(1.96 * se)
        ratios.append((band["stratum"], round(ratio, 2), round(low, 2), round(high, 2)))
bands, ratios''',
    'wh.figure("ae_rates_by_stratum")',
    "## Cumulative incidence by week since clozapine start",
    '''wh.sql("""
SELECT event_id, max(week) AS weeks_followed,
       round(100 * max(cumulative_incidence), 2) AS pct_at_end
FROM marts.ae_cumulative_incidence GROUP BY 1 ORDER BY 1
""")''',
    'wh.figure("ae_cumulative_incidence")',
]

NOTEBOOKS = {
    "01_cohort_overview.ipynb": COHORT,
    "02_clozapine_monitoring_anc.ipynb": CLOZAPINE,
    "03_adverse_event_rates.ipynb": ADVERSE_EVENTS,
}


def build(cells: list[str]) -> nbformat.NotebookNode:
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.cells = [
        new_markdown_cell(c) if c.startswith("#") else new_code_cell(c) for c in cells
    ]
    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number:02d}"  # stable ids: regenerating leaves the files unchanged
    return notebook


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(cells), HERE / name)


if __name__ == "__main__":
    main()
