"""Checks on the clinician-reviewable reference CSVs in trscohort/reference/.

Facts checked here come from /work/shared/reference-facts.md (CPZ equivalents, ATC, LOINC,
ICD-10, unit conversions). Uses only the csv module and DuckDB.
"""

import csv
import re
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

REF = Path(__file__).resolve().parents[1] / "trscohort" / "reference"

EXPECTED_HEADERS = {
    "antipsychotics": [
        "concept_id",
        "generic_name",
        "formulation",
        "default_lai",
        "atc_code",
        "drug_class",
        "is_clozapine",
        "trs_relevant",
        "names",
        "g10_median_mg",
        "g10_interval_days",
        "in_leucht2016",
        "who_ddd_mg",
        "l20_olz_eq_mg",
        "label_min_mg",
        "label_max_mg",
        "label_source",
        "level_analyte",
        "level_min_ng_ml",
        "level_source",
        "source_note",
    ],
    "comedications": ["concept_id", "generic_name", "atc_code", "categories", "names", "note"],
    "lab_analytes": [
        "analyte",
        "description",
        "codes",
        "names",
        "canonical_unit",
        "unit_if_missing",
        "min_value",
        "max_value",
        "monitored",
    ],
    "lab_units": ["analyte", "unit", "factor", "offset", "note"],
    "icd10_groups": ["group_id", "code_system", "code_prefix", "match", "description", "source"],
    "assessment_instruments": [
        "instrument",
        "names",
        "min_score",
        "max_score",
        "higher_is_worse",
        "note",
    ],
}

ANALYTES = [
    "anc",
    "wbc",
    "clozapine_level",
    "norclozapine_level",
    "troponin",
    "crp",
    "glucose_fasting",
    "hba1c",
    "cholesterol_total",
    "ldl",
    "hdl",
    "triglycerides",
    "alt",
    "ast",
    "bilirubin",
    "weight",
    "bmi",
    "bp_systolic",
    "bp_diastolic",
    "pulse",
    "qtc",
    # TRS-5 antipsychotic levels (issue 13)
    "olanzapine_level",
    "risperidone_level",
    "haloperidol_level",
    "aripiprazole_level",
    "quetiapine_level",
    "amisulpride_level",
]

GROUPS = {
    "schizophrenia": {"F20", "-F2081", "295", "-2954", "-2955", "-2957", "=58214004"},
    "schizoaffective": {"F25", "2957", "=68890003"},
    "pregnancy": {"Z33", "Z34", "O"},
    "lactation": {"Z391"},
    "AE-NEU": {"D70"},
    "AE-MYO": {"I40", "I41", "I514"},
    "AE-CMP": {"I42"},
    "AE-SEIZ": {"G40", "G41", "R56"},
    "AE-GI-SEVERE": {"K56"},
    "AE-GI-CONSTIPATION": {"K590"},
    "AE-MET": {"E11"},
    "AE-NMS": {"G210"},
    "AE-HEP": {"K71"},
    "AE-QT": {"I4581", "R9431"},
}


def read(name: str) -> list[dict[str, str]]:
    with open(REF / f"{name}.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def split(value: str) -> list[str]:
    return value.split("|") if value else []


def normalise_unit(raw: str) -> str:
    u = raw.lower().strip()
    u = u.replace("\u00b5", "u").replace("\u03bc", "u").replace("\u00d7", "x").replace("*", "^")
    u = re.sub(r"\s+", "", u)
    if u.startswith("x10"):
        u = u[1:]
    return u


def normalise_name(raw: str) -> str:
    return " ".join(raw.lower().split())


def unit_rows() -> dict[tuple[str, str], tuple[float, float]]:
    return {
        (r["analyte"], r["unit"]): (float(r["factor"]), float(r["offset"]))
        for r in read("lab_units")
    }


def convert(analyte: str, value: float, raw_unit: str) -> float:
    factor, offset = unit_rows()[(analyte, normalise_unit(raw_unit))]
    return value * factor + offset


@pytest.mark.parametrize("name", sorted(EXPECTED_HEADERS))
def test_headers_and_pipes(name):
    with open(REF / f"{name}.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == EXPECTED_HEADERS[name]
    for row in rows[1:]:
        assert len(row) == len(rows[0]), row
        for cell in row:
            assert " |" not in cell and "| " not in cell, cell
            assert cell == cell.strip(), cell


def test_reference_csv_paths_lists_all_tables():
    from trscohort.reference import REFERENCE_DIR, reference_csv_paths

    paths = reference_csv_paths()
    assert set(EXPECTED_HEADERS) <= set(paths)
    assert all(p.parent == REFERENCE_DIR and p.exists() for p in paths.values())


def test_drug_names_map_to_one_concept_across_files():
    owner: dict[str, set[str]] = defaultdict(set)
    ids: list[str] = []
    for table in ("antipsychotics", "comedications"):
        for r in read(table):
            ids.append(r["concept_id"])
            names = split(r["names"])
            assert names, r["concept_id"]
            for n in names:
                assert n == normalise_name(n), n
                owner[n].add(r["concept_id"])
    assert len(ids) == len(set(ids))
    clashes = {n: c for n, c in owner.items() if len(c) > 1}
    assert not clashes


def test_antipsychotic_rows():
    rows = {r["concept_id"]: r for r in read("antipsychotics")}
    assert "lithium" not in rows
    for cid, r in rows.items():
        assert r["formulation"] in {"oral", "lai"}
        assert r["drug_class"] in {"FGA", "SGA", "other"}
        assert r["is_clozapine"] == ("true" if r["generic_name"] == "clozapine" else "false")
        assert r["trs_relevant"] in {"true", "false"}
        assert re.fullmatch(r"N05A[A-Z]\d\d", r["atc_code"]), cid
        assert r["generic_name"] in split(r["names"]) or r["formulation"] == "lai" or "_" in cid
        # TRS-4: a CPZ source value, or a label dose range with its source
        sources = [r[k] for k in ("g10_median_mg", "who_ddd_mg", "l20_olz_eq_mg")]
        label = r["label_min_mg"] and r["label_max_mg"]
        assert any(sources) or label, f"{cid} has no CPZ equivalent and no label range"
        assert all(float(v) > 0 for v in sources if v)
        if label:
            assert 0 < float(r["label_min_mg"]) <= float(r["label_max_mg"]) and r["label_source"]
        is_lai_with_g10 = r["formulation"] == "lai" and r["g10_median_mg"] != ""
        assert (r["g10_interval_days"] != "") == is_lai_with_g10, cid
        if r["in_leucht2016"] == "true":
            assert r["who_ddd_mg"], cid  # L16 = WHO DDD / 3
        if r["level_analyte"]:
            assert float(r["level_min_ng_ml"]) > 0 and "unverified" in r["level_source"]
        if r["formulation"] == "lai":
            assert r["default_lai"] in {"true", "false"}
        siblings = [o for o in rows.values() if o["generic_name"] == r["generic_name"]]
        assert all(o["atc_code"] == r["atc_code"] for o in siblings), cid
    defaults: dict[str, int] = defaultdict(int)
    for r in rows.values():
        defaults[r["generic_name"]] += r["default_lai"] == "true"
    assert set(defaults.values()) <= {0, 1}  # one default long-acting form per generic
    assert sum(r["is_clozapine"] == "true" for r in rows.values()) == 1


def test_cpz_source_values_from_facts():
    """Source values stored unrounded (reference-facts.md section 1): G10 median doses (== 600 mg
    CPZ), WHO DDDs (L16 = DDD / 3), L20 doses (== 1 mg olanzapine)."""
    rows = {r["concept_id"]: r for r in read("antipsychotics")}

    def g(cid: str, key: str) -> float | None:
        return float(rows[cid][key]) if rows[cid][key] else None

    assert g("chlorpromazine", "g10_median_mg") == 600
    assert g("haloperidol", "g10_median_mg") == 10 and g("haloperidol", "who_ddd_mg") == 8
    assert g("amisulpride", "g10_median_mg") == 700 and g("ziprasidone", "g10_median_mg") == 160
    assert g("olanzapine", "g10_median_mg") == 20 and g("olanzapine", "l20_olz_eq_mg") == 1
    assert g("clozapine", "g10_median_mg") == 400 and g("clozapine", "l20_olz_eq_mg") is None
    assert g("risperidone", "l20_olz_eq_mg") == 0.41
    assert g("risperidone_lai", "g10_median_mg") == 50
    assert g("risperidone_lai", "g10_interval_days") == 14
    assert g("haloperidol_decanoate", "g10_interval_days") == 28
    assert g("paliperidone_palmitate", "who_ddd_mg") == 2.5
    assert g("paliperidone_palmitate", "g10_median_mg") is None
    for cid in ("brexpiprazole", "cariprazine", "iloperidone"):  # L20 published, L16 absent
        assert rows[cid]["in_leucht2016"] == "false" and g(cid, "l20_olz_eq_mg")
    for cid in ("levomepromazine", "zotepine", "perazine", "chlorprothixene", "pipotiazine"):
        assert cid in rows  # from the peer tables


def test_brand_names_on_the_right_formulation():
    by_name = {n: r["concept_id"] for r in read("antipsychotics") for n in split(r["names"])}
    assert by_name["haldol"] == "haloperidol"
    assert by_name["haldol decanoate"] == "haloperidol_decanoate"
    assert by_name["flupenthixol"] == "flupentixol"
    assert by_name["xeplion"] == "paliperidone_palmitate"
    assert by_name["clozaril"] == "clozapine"


def test_comedication_codes_and_categories():
    rows = {r["concept_id"]: r for r in read("comedications")}
    assert rows["valproate"]["atc_code"] == "N03AG01"
    assert rows["clonazepam"]["atc_code"] == "N03AE01"
    assert rows["lithium"]["atc_code"] == "N05AN01"
    assert "cyp1a2_inducer" in split(rows["carbamazepine"]["categories"])
    assert "cyp1a2_inhibitor" in split(rows["fluvoxamine"]["categories"])
    for r in rows.values():
        if not r["atc_code"]:
            assert "unverified" in r["note"], r["concept_id"]


def test_hba1c_percent_to_ifcc():
    assert round(convert("hba1c", 6.5, "%")) == 48
    assert round(convert("hba1c", 7.0, "%")) == 53


def test_clozapine_molar_to_mass():
    assert convert("clozapine_level", 1.071, "µmol/L") == pytest.approx(350, abs=0.5)
    assert convert("clozapine_level", 350 * 3.060, "nmol/L") == pytest.approx(350, abs=0.5)
    assert convert("clozapine_level", 350, "μg/L") == 350


def test_anc_si_to_per_microlitre():
    assert convert("anc", 1.5, "x10^9/L") == pytest.approx(1500)
    assert convert("anc", 1.5, "10*9/L") == pytest.approx(1500)
    assert convert("anc", 1500, "cells/µL") == pytest.approx(1500)


def test_other_conversions_from_facts():
    assert convert("glucose_fasting", 7.0, "mmol/L") == pytest.approx(126.1, abs=0.1)
    assert convert("cholesterol_total", 5.0, "mmol/L") == pytest.approx(193.35)
    assert convert("triglycerides", 1.7, "mmol/L") == pytest.approx(150.6, abs=0.1)
    assert convert("troponin", 0.04, "ng/mL") == pytest.approx(40)
    assert convert("crp", 10, "mg/dL") == pytest.approx(100)
    assert convert("bilirubin", 17.1, "µmol/L") == pytest.approx(1.0, abs=1e-4)


def test_analytes_and_units():
    analytes = {r["analyte"]: r for r in read("lab_analytes")}
    assert list(analytes) == ANALYTES
    units = unit_rows()
    for a, r in analytes.items():
        assert r["monitored"] == "true"
        assert float(r["min_value"]) < float(r["max_value"])
        assert units[(a, normalise_unit(r["canonical_unit"]))] == (1.0, 0.0), a
        if r["unit_if_missing"]:
            assert r["unit_if_missing"] == r["canonical_unit"]
    assert {a for a, r in analytes.items() if r["unit_if_missing"]} == {
        "bmi",
        "bp_systolic",
        "bp_diastolic",
        "pulse",
        "qtc",
    }
    for a, _u in units:
        assert a in analytes, a


def test_unit_strings_are_normalised():
    for r in read("lab_units"):
        assert normalise_unit(r["unit"]) == r["unit"], r["unit"]
    assert normalise_unit("mm[Hg]") == "mm[hg]"


def test_lab_names_unique_and_normalised():
    owner: dict[str, set[str]] = defaultdict(set)
    for r in read("lab_analytes"):
        for n in split(r["names"]):
            assert n == normalise_name(n), n
            owner[n].add(r["analyte"])
    assert not {n: a for n, a in owner.items() if len(a) > 1}


def test_loinc_codes_unique():
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE a AS SELECT * FROM read_csv(?, header = true, all_varchar = true)",
        [str(REF / "lab_analytes.csv")],
    )
    dupes = con.execute(
        """
        SELECT code, count(DISTINCT analyte) AS n
        FROM (SELECT analyte, unnest(string_split(codes, '|')) AS code FROM a WHERE codes <> '')
        GROUP BY code HAVING n > 1
        """
    ).fetchall()
    assert dupes == []
    mapped = {
        c for (c,) in con.execute("SELECT unnest(string_split(codes, '|')) FROM a").fetchall()
    }
    assert "770-8" not in mapped  # neutrophil %, not an absolute count
    assert "12375-2" not in mapped  # clozapine + norclozapine total
    assert {"751-8", "6896-5", "10992-6", "4548-4", "59261-8"} <= mapped
    for code in mapped - {""}:
        assert re.fullmatch(r"\d{1,6}-\d", code), code


def test_icd10_groups():
    rows = read("icd10_groups")
    got: dict[str, set[str]] = defaultdict(set)
    mark = {"prefix": "", "exclude": "-", "exact": "="}
    for r in rows:
        assert r["code_system"] in {"ICD10", "ICD10CM", "ICD9CM", "SNOMED"}
        assert r["code_prefix"] == r["code_prefix"].upper().replace(".", "")
        assert r["source"], r
        got[r["group_id"]].add(mark[r["match"]] + r["code_prefix"])
    assert dict(got) == GROUPS
    keys = [(r["group_id"], r["code_system"], r["code_prefix"]) for r in rows]
    assert len(keys) == len(set(keys))

    def groups_of(code: str, family: str = "ICD10") -> set[str]:
        c = code.upper().replace(".", "")
        fam = [r for r in rows if r["code_system"].startswith(family)]
        found = {
            r["group_id"]
            for r in fam
            if (r["match"] == "prefix" and c.startswith(r["code_prefix"]))
            or (r["match"] == "exact" and c == r["code_prefix"])
        }
        return {
            g
            for g in found
            if not any(
                r["match"] == "exclude" and r["group_id"] == g and c.startswith(r["code_prefix"])
                for r in fam
            )
        }

    assert groups_of("D70") == {"AE-NEU"}
    assert groups_of("d70.2") == {"AE-NEU"}
    assert groups_of("F20.0") == {"schizophrenia"}
    assert groups_of("F20.81") == set()  # ICD-10-CM schizophreniform disorder
    assert groups_of("F20.89") == {"schizophrenia"}
    assert groups_of("I51.4") == {"AE-MYO"}
    assert groups_of("K59.03") == {"AE-GI-CONSTIPATION"}
    assert groups_of("O9A.1") == {"pregnancy"}
    assert groups_of("I45.8") == set()
    assert groups_of("295.30", "ICD9") == {"schizophrenia"}
    assert groups_of("295.70", "ICD9") == {"schizoaffective"}
    assert groups_of("58214004", "SNOMED") == {"schizophrenia"}


def test_assessment_instruments():
    rows = {r["instrument"]: r for r in read("assessment_instruments")}
    assert (rows["PANSS"]["min_score"], rows["PANSS"]["max_score"]) == ("30", "210")
    assert (rows["BPRS"]["min_score"], rows["BPRS"]["max_score"]) == ("18", "126")
    assert rows["GAF"]["higher_is_worse"] == rows["SOFAS"]["higher_is_worse"] == "false"
    names = [n for r in rows.values() for n in split(r["names"])]
    assert len(names) == len(set(names))


def lab_key(raw: str) -> str:
    """The SQL macro lab_key: lower case, '#'/'%' as words, other punctuation as spaces."""
    text = raw.lower().replace("#", " # ").replace("%", " % ")
    return " ".join(re.sub(r"[^a-z0-9#%]+", " ", text).split())


def test_lab_synonyms_have_known_analytes_sources_and_no_invented_codes():
    analytes = {r["analyte"]: r for r in read("lab_analytes")}
    codes = {c for r in analytes.values() for c in split(r["codes"])}
    with open(REF / "lab_synonyms.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["analyte", "name", "kind", "unit_required", "source"]
    for r in rows:
        assert r["analyte"] in analytes, r
        assert r["kind"] in {"loinc_long_common_name", "loinc_short_name", "local"}, r
        assert r["unit_required"] in {"true", "false"}, r
        assert r["source"].strip(), r
        if r["kind"] != "local":
            cited = re.findall(r"LOINC (\d{1,6}-\d)", r["source"])
            # every LOINC name cites its code, and the code is one reference-facts.md lists
            assert cited and set(cited) <= codes | {"89579-7"}, r
    owner: dict[str, set[str]] = defaultdict(set)
    for r in read("lab_analytes"):
        for n in split(r["names"]):
            owner[lab_key(n)].add(r["analyte"])
    for r in rows:
        owner[lab_key(r["name"])].add(r["analyte"])
    assert not {n: a for n, a in owner.items() if len(a) > 1}
    keys = {lab_key(r["name"]): r for r in rows}
    assert keys["neutrophils"]["unit_required"] == "true"  # also the % differential
    assert keys["clozapine mass volume in serum or plasma"]["analyte"] == "clozapine_level"


def test_lai_dosing_covers_every_lai_with_label_derived_maxima():
    lai = {r["concept_id"] for r in read("antipsychotics") if r["formulation"] == "lai"}
    with open(REF / "lai_dosing.csv", encoding="utf-8", newline="") as f:
        rows = {r["concept_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == lai
    for concept, r in rows.items():
        max_dose = float(r["max_dose_per_injection_mg"])
        shortest = float(r["shortest_interval_days"])
        max_daily = float(r["max_daily_mg"])
        assert max_dose > 0 and shortest > 0 and max_daily > 0, concept
        # at most two injections on one day (Abilify Maintena's 1-day initiation: 2 x 400 mg)
        assert max_daily <= 2 * max_dose / shortest + 0.01, concept
        assert "derived" in r["source"] and len(r["source"]) > 40, concept
    # Worked by hand from the labels quoted in the source column:
    assert float(rows["paliperidone_palmitate"]["max_daily_mg"]) == pytest.approx(234 / 7, abs=0.01)
    assert float(rows["risperidone_lai"]["max_daily_mg"]) == pytest.approx(120 / 28, abs=0.01)
    assert float(rows["zuclopenthixol_decanoate"]["max_daily_mg"]) == pytest.approx(
        600 / 7, abs=0.01
    )
    assert float(rows["aripiprazole_lai"]["max_daily_mg"]) == pytest.approx(800 / 26, abs=0.01)
