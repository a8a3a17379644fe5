"""--as-of bounds every model (issue 13, item 7): run with an early as-of date over a full
extract (data/sample/, whose evidence runs to 2025-12-31) and no model row may use a later date.

Only projections may lie after the as-of date, and they are listed here: the date a clozapine
trial in progress will become adequate (CLZ-5), in its column and in the reason that states it.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.conftest import SAMPLE_DIR, ingest_folder
from trscohort.config import load_config
from trscohort.models import build_transform, transform_models
from trscohort.run_parameters import record_run_parameters

AS_OF = dt.date(2019, 6, 30)
PROJECTED_COLUMNS = {("marts.patient_clozapine_status", "adequate_trial_date")}
PROJECTED_TEXT = re.compile(r"adequate on \d{4}-\d{2}-\d{2}")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.fixture(scope="module")
def early(tmp_path_factory):
    config = load_config()
    con = ingest_folder(SAMPLE_DIR, config=config)
    record_run_parameters(con, config, as_of=AS_OF, input_dir=str(SAMPLE_DIR), mapping_path=None)
    build_transform(con, config)
    return con


def test_the_extract_holds_evidence_after_the_as_of_date(early):
    later = {
        table: early.execute(
            f"SELECT count(*) FROM staging.{table} WHERE {column} > ?", [AS_OF]
        ).fetchone()[0]
        for table, column in [
            ("labs", "collected_date"),
            ("prescriptions", "start_date"),
            ("diagnoses", "diagnosed_at"),
            ("assessments", "assessed_at"),
            ("dispensings", "dispensed_date"),
        ]
    }
    assert all(n > 100 for n in later.values()), later


@pytest.mark.parametrize("model", transform_models(), ids=lambda m: m.table)
def test_no_model_row_uses_a_later_date(early, model):
    columns = early.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?",
        [model.layer, model.name],
    ).fetchall()
    assert columns, model.table
    later = []
    for column, data_type in columns:
        if (model.table, column) in PROJECTED_COLUMNS:
            continue
        if data_type in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"):
            (latest,) = early.execute(
                f'SELECT max(CAST("{column}" AS DATE)) FROM {model.table}'
            ).fetchone()
            if latest is not None and latest > AS_OF:
                later.append((column, latest))
        elif data_type == "VARCHAR":
            texts = early.execute(
                f'SELECT DISTINCT "{column}" FROM {model.table} '
                f"WHERE regexp_matches(\"{column}\", '\\d{{4}}-\\d{{2}}-\\d{{2}}')"
            ).fetchall()
            for (text,) in texts:
                dates = ISO_DATE.findall(PROJECTED_TEXT.sub("", text))
                if any(dt.date.fromisoformat(d) > AS_OF for d in dates if d[5:7] <= "12"):
                    later.append((column, text))
                    break
    assert later == [], f"{model.table} uses evidence after the as-of date {AS_OF}"
