"""Quality-improvement indicators (issue 18): the definition files, the Wilson interval against
statsmodels, the reference data the indicators need (BNF maxima, drug classes, ECT)."""

from __future__ import annotations

import csv
import datetime as dt
import re

import duckdb
import pytest
from statsmodels.stats.proportion import proportion_confint

from tests.conftest import rows
from tests.qi_cases import indicator_mart
from trscohort import qi
from trscohort.config import load_config
from trscohort.errors import UsageError
from trscohort.models import SQL_DIR
from trscohort.reference import REFERENCE_DIR, reference_csv_paths
from trscohort.vocab.site import resolve_concept

INDICATORS = [
    "QI-AUG",
    "QI-HDAT",
    "QI-LAX",
    "QI-LEVEL",
    "QI-MET-ACT",
    "QI-POLY",
    "QI-RETITRATE",
    "QI-SEIZ",
    "QI-TRS-DELAY",
    "QI-TRS-NOCLZ",
]


def read_csv(name: str) -> list[dict[str, str]]:
    with open(REFERENCE_DIR / f"{name}.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# --------------------------------------------------------------------------- definitions


def test_one_definition_file_per_indicator_beside_its_sql():
    found = qi.definitions()
    assert [d.id for d in found] == INDICATORS
    for d in found:
        layer, name = d.model.split(".")
        assert d.path == SQL_DIR / layer / f"{name}.definition.yml"
        assert (SQL_DIR / layer / f"{name}.sql").is_file()
        assert (SQL_DIR / layer / f"{name}.yml").is_file()
        sql = (SQL_DIR / layer / f"{name}.sql").read_text()
        assert f"'{d.id}' AS indicator_id" in sql, d.id
        assert d.numerator and d.denominator and d.look_back and d.source and d.month
        assert re.fullmatch(r"\d+\.\d+", d.version)


def test_every_qi_config_key_is_named_by_a_definition_and_exists():
    config = load_config()
    named = {key for d in qi.definitions() for key in d.config_keys}
    for d in qi.definitions():
        assert [k for k, _ in d.thresholds(config)] == list(d.config_keys)
    qi_keys = {f"qi.{k}" for k in config["qi"]} - {"qi.ci_level"}
    assert qi_keys <= named, qi_keys - named


def test_definition_text_shows_the_thresholds_of_the_config_used():
    config = load_config()
    text = qi.definition("QI-LAX").text(config)
    assert text.startswith("QI-LAX (version 1.0): Clozapine starters given a laxative")
    assert "qi.laxative_window_days = 28" in text
    assert "Higher is better." in text
    assert "Lower is better." in qi.definition("QI-HDAT").text()


def test_mart_carries_each_definition_version(sample_warehouse):
    with duckdb.connect(str(sample_warehouse), read_only=True) as con:
        found = dict(
            con.execute(
                "SELECT indicator_id, definition_version FROM marts.qi_indicators "
                "WHERE all_sites AND all_months AND stratum = 'all'"
            ).fetchall()
        )
        leaked = con.execute(
            "SELECT count(*) FROM marts.qi_indicator_patients WHERE in_numerator AND NOT "
            "in_denominator"
        ).fetchone()
    assert found == {d.id: d.version for d in qi.definitions()}
    assert leaked == (0,)


@pytest.mark.parametrize(
    ("key", "value"),
    [("trs_delay_bands_days", []), ("trs_delay_bands_days", [365, 90]), ("census_months", 0)],
)
def test_qi_config_values_the_sql_cannot_use_are_a_usage_error(key, value):
    config = load_config()
    with pytest.raises(UsageError, match=f"qi.{key}"):
        qi.template_context({**dict(config), "qi": {**config["qi"], key: value}})


def test_ci_level_must_be_a_probability():
    assert qi.z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(UsageError, match="qi.ci_level"):
        qi.z_value(95)


# --------------------------------------------------------------------------- Wilson interval

CELLS = [(0, 1), (1, 1), (0, 7), (3, 7), (7, 7), (1, 10), (5, 10), (11, 40), (1, 1000), (999, 1000)]


def test_python_wilson_matches_statsmodels():
    for level in (0.90, 0.95, 0.99):
        for n, d in CELLS:
            low, high = proportion_confint(n, d, alpha=1 - level, method="wilson")
            assert qi.wilson(n, d, level) == pytest.approx((low, high), abs=1e-12)
    assert qi.wilson(0, 0) is None


@pytest.mark.parametrize("level", [0.90, 0.95, 0.99])
def test_mart_wilson_interval_matches_statsmodels(level):
    """marts.qi_indicators over a hand-made patient table: one site per (numerator,
    denominator) cell, the interval compared with statsmodels for each."""
    month = dt.date(2024, 1, 1)
    con = indicator_mart(
        [("QI-LAX", "all", f"site{i}", month, n, d) for i, (n, d) in enumerate(CELLS)],
        ci_level=level,
    )
    found = {
        site: (num, den, rate, low, high)
        for site, num, den, rate, low, high in rows(
            con,
            "SELECT site, numerator, denominator, rate, ci_low, ci_high FROM marts.qi_indicators "
            "WHERE NOT all_sites AND all_months",
        )
    }
    for i, (n, d) in enumerate(CELLS):
        low, high = proportion_confint(n, d, alpha=1 - level, method="wilson")
        num, den, rate, ci_low, ci_high = found[f"site{i}"]
        assert (num, den) == (n, d)
        assert rate == pytest.approx(n / d)
        assert (ci_low, ci_high) == pytest.approx((low, high), abs=1e-12), (n, d)
    empty = rows(
        con,
        "SELECT numerator, denominator, rate, ci_low, ci_high FROM marts.qi_indicators "
        "WHERE indicator_id = 'QI-POLY'",
    )
    assert empty == [(0, 0, None, None, None)]


# --------------------------------------------------------------------------- reference data


def test_every_reference_csv_reads_in_duckdb_with_its_header():
    """load_reference lets DuckDB sniff each CSV: a stray comma or semicolon in a note can make
    it pick another delimiter (one column), so every file must read with its csv header."""
    for name, path in reference_csv_paths().items():
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
            width = {len(r) for r in csv.reader(handle)}
        assert width == {len(header)}, name
        columns = duckdb.sql(
            f"SELECT * FROM read_csv('{path}', header = true, auto_detect = true)"
        ).columns
        assert columns == header, name


def test_bnf_maxima_are_sourced_marked_unverified_and_known_drugs():
    antipsychotics = {r["concept_id"]: r for r in read_csv("antipsychotics")}
    maxima = read_csv("antipsychotic_max_doses")
    assert len(maxima) == len({r["concept_id"] for r in maxima}) == 34
    for r in maxima:
        drug = antipsychotics[r["concept_id"]]
        assert float(r["max_dose_mg"]) > 0
        assert (int(r["per_days"]) == 1) is (drug["formulation"] == "oral"), r["concept_id"]
        assert "Northwood" in r["source"] and "unverified" in r["note"]
    by_id = {r["concept_id"]: r for r in maxima}
    assert float(by_id["clozapine"]["max_dose_mg"]) == load_config()["clozapine"]["max_dose_mg"]
    assert (
        by_id["haloperidol_decanoate"]["max_dose_mg"],
        by_id["haloperidol_decanoate"]["per_days"],
    ) == ("300", "28")


def test_comedication_classes_for_the_indicators():
    rows_ = {r["concept_id"]: r for r in read_csv("comedications")}

    def categories(cid: str) -> set[str]:
        return set(rows_[cid]["categories"].split("|"))

    kinds = {"laxative_softener", "laxative_osmotic", "laxative_stimulant"}
    for r in rows_.values():
        if "laxative" in categories(r["concept_id"]):
            assert len(categories(r["concept_id"]) & kinds) == 1, r["concept_id"]
    assert "laxative_softener" in categories("docusate")
    assert {"laxative_osmotic"} <= categories("lactulose") & categories("macrogol")
    assert "laxative_stimulant" in categories("senna") & categories("bisacodyl")
    for cid in ("atorvastatin", "simvastatin", "rosuvastatin", "pravastatin"):
        assert categories(cid) == {"statin"}
    for cid in ("sertraline", "mirtazapine", "venlafaxine", "fluvoxamine"):
        assert "antidepressant" in categories(cid)
    assert "anticonvulsant" in categories("levetiracetam") & categories("lamotrigine")
    assert "antidiabetic" in categories("metformin")
    for r in rows_.values():  # a code not in reference-facts.md is left empty, never typed
        if not r["atc_code"]:
            assert "unverified" in r["note"], r["concept_id"]


def test_statins_and_antidepressants_map_to_their_concepts(staged):
    con = staged(
        prescriptions="""
        patient_id,drug,start_date,end_date,daily_dose_mg,route,prescription_id
        P1,Sertraline 50mg tablets,2020-01-01,,50,,RX1
        P1,Atorvastatin 20mg tablets,2020-01-01,,20,,RX2
        P1,Escitalopram 10mg,2020-01-01,,10,,RX3
        """
    )
    assert rows(
        con,
        "SELECT drug_concept_id, is_antipsychotic FROM staging.prescriptions ORDER BY prescription_id",
    ) == [("sertraline", False), ("atorvastatin", False), ("escitalopram", False)]


def test_ect_is_a_procedure_concept_of_the_site_vocabulary():
    assert resolve_concept("diagnoses", "ECT", "here") == "ect"
    assert resolve_concept("diagnoses", "F20.0", "here") == "F200"
    with pytest.raises(UsageError, match=r"'EEG' is not an ICD-10 code .* or a procedure \(ect\)"):
        resolve_concept("diagnoses", "EEG", "here")
