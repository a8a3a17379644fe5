"""Every intermediate and mart model documents itself and each of its columns, exactly."""

from __future__ import annotations

import duckdb
import pytest

from trscohort.models import transform_models

MODELS = transform_models()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.table)
def test_model_documents_exactly_its_columns(sample_warehouse, model):
    doc = model.doc()
    assert doc["description"].strip(), f"{model.doc_path} needs a description"
    with duckdb.connect(str(sample_warehouse), read_only=True) as con:
        actual = [c for (c, *_) in con.execute(f"DESCRIBE {model.table}").fetchall()]
    assert sorted(doc["columns"]) == sorted(actual), f"{model.doc_path} columns differ"
    assert all(str(text).strip() for text in doc["columns"].values())
