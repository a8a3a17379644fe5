"""The notebooks run top to bottom against a warehouse built from data/sample/."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_the_three_notebooks():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, sample_warehouse, monkeypatch):
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        f"{path.name} was saved with outputs: regenerate it with notebooks/make_notebooks.py"
    )
    monkeypatch.setenv("TRSCOHORT_WAREHOUSE", str(sample_warehouse))
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute(env=dict(os.environ))
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []
    _assert_html_export_keeps_figures(notebook)


def _assert_html_export_keeps_figures(notebook) -> None:
    """`jupyter nbconvert --to html` keeps every figure (README: notebooks)."""
    figure_cells = [c for c in notebook.cells if c.cell_type == "code" and "wh.figure(" in c.source]
    html, _ = HTMLExporter().from_notebook_node(notebook)
    assert figure_cells
    assert html.count('class="plotly-graph-div"') == len(figure_cells)
    assert html.count("Plotly.newPlot(") >= len(figure_cells)  # drawn, not a placeholder
