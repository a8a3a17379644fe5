"""Every SQL model, rendered, parses with SQLGlot and transpiles to Spark SQL without error."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from trscohort.config import load_config
from trscohort.contract import EXTRACTS, SiteMapping
from trscohort.ingest.staging import template_context
from trscohort.models import TRANSFORM_LAYERS, all_models, render, transform_context

MODELS = all_models()


def test_models_exist_for_every_layer_we_ship():
    layers = {m.layer for m in MODELS}
    assert {"reference", "staging"} <= layers
    assert {m.name for m in MODELS if m.layer == "staging"} == set(EXTRACTS)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.table)
def test_model_transpiles_to_spark(model):
    if model.layer in TRANSFORM_LAYERS:
        context = transform_context(load_config())
    else:
        extract = model.name if model.layer == "staging" else None
        context = template_context(load_config(), SiteMapping(), extract)
    sql = render(model, context)
    parsed = sqlglot.parse_one(sql, read="duckdb")
    assert parsed.find(sqlglot.exp.Select) is not None
    spark = sqlglot.transpile(
        sql, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE, comments=False
    )
    assert len(spark) == 1 and spark[0].upper().startswith(("SELECT", "WITH"))


@pytest.mark.parametrize("extract", sorted(EXTRACTS))
def test_omop_mapping_transpiles_to_spark(extract):
    """The OMOP CDM mapping of every extract (trscohort/omop/sql/) stays portable too."""
    from trscohort.omop.load import render_mapping

    sql = render_mapping(extract, load_config())
    assert sqlglot.parse_one(sql, read="duckdb").find(sqlglot.exp.Select) is not None
    spark = sqlglot.transpile(
        sql, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE, comments=False
    )
    assert len(spark) == 1 and spark[0].upper().startswith(("SELECT", "WITH"))
