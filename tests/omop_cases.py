"""A small OMOP CDM v5.4 built by hand, and the extract set that says the same thing.

DDL: written for these tests with the column names, order and types of the official v5.4 DDL
for DuckDB (OHDSI/CommonDataModel, inst/ddl/5.4/duckdb/OMOPCDM_duckdb_5.4_ddl.sql), for the
tables used here; every column of each table is declared, NOT NULL where the DDL says so.

Concept ids: the verified ones of ../shared/reference-facts.md (clozapine 800878, olanzapine
785788, risperidone 735979, ANC 3013650 / 3017501, units 9444 / 8647, schizophrenia 435783,
schizoaffective 4286201, neutropenia 320073) and the CDM conventions (8507 / 8532 gender,
32838 / 32825 drug types). Everything else a test needs (a clinical drug, a haloperidol
ingredient, a child SNOMED concept, the mg unit ...) is a TEST-ONLY id from 2,000,000,001 up:
not OMOP's ids, only a vocabulary private to this CDM.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

DDL = """
CREATE TABLE {s}.person (
    person_id integer NOT NULL, gender_concept_id integer NOT NULL,
    year_of_birth integer NOT NULL, month_of_birth integer NULL, day_of_birth integer NULL,
    birth_datetime TIMESTAMP NULL, race_concept_id integer NOT NULL,
    ethnicity_concept_id integer NOT NULL, location_id integer NULL, provider_id integer NULL,
    care_site_id integer NULL, person_source_value varchar(50) NULL,
    gender_source_value varchar(50) NULL, gender_source_concept_id integer NULL,
    race_source_value varchar(50) NULL, race_source_concept_id integer NULL,
    ethnicity_source_value varchar(50) NULL, ethnicity_source_concept_id integer NULL);
CREATE TABLE {s}.observation_period (
    observation_period_id integer NOT NULL, person_id integer NOT NULL,
    observation_period_start_date date NOT NULL, observation_period_end_date date NOT NULL,
    period_type_concept_id integer NOT NULL);
CREATE TABLE {s}.drug_exposure (
    drug_exposure_id integer NOT NULL, person_id integer NOT NULL,
    drug_concept_id integer NOT NULL, drug_exposure_start_date date NOT NULL,
    drug_exposure_start_datetime TIMESTAMP NULL, drug_exposure_end_date date NOT NULL,
    drug_exposure_end_datetime TIMESTAMP NULL, verbatim_end_date date NULL,
    drug_type_concept_id integer NOT NULL, stop_reason varchar(20) NULL, refills integer NULL,
    quantity NUMERIC NULL, days_supply integer NULL, sig TEXT NULL,
    route_concept_id integer NULL, lot_number varchar(50) NULL, provider_id integer NULL,
    visit_occurrence_id integer NULL, visit_detail_id integer NULL,
    drug_source_value varchar(50) NULL, drug_source_concept_id integer NULL,
    route_source_value varchar(50) NULL, dose_unit_source_value varchar(50) NULL);
CREATE TABLE {s}.measurement (
    measurement_id integer NOT NULL, person_id integer NOT NULL,
    measurement_concept_id integer NOT NULL, measurement_date date NOT NULL,
    measurement_datetime TIMESTAMP NULL, measurement_time varchar(10) NULL,
    measurement_type_concept_id integer NOT NULL, operator_concept_id integer NULL,
    value_as_number NUMERIC NULL, value_as_concept_id integer NULL,
    unit_concept_id integer NULL, range_low NUMERIC NULL, range_high NUMERIC NULL,
    provider_id integer NULL, visit_occurrence_id integer NULL, visit_detail_id integer NULL,
    measurement_source_value varchar(50) NULL, measurement_source_concept_id integer NULL,
    unit_source_value varchar(50) NULL, unit_source_concept_id integer NULL,
    value_source_value varchar(50) NULL, measurement_event_id integer NULL,
    meas_event_field_concept_id integer NULL);
CREATE TABLE {s}.condition_occurrence (
    condition_occurrence_id integer NOT NULL, person_id integer NOT NULL,
    condition_concept_id integer NOT NULL, condition_start_date date NOT NULL,
    condition_start_datetime TIMESTAMP NULL, condition_end_date date NULL,
    condition_end_datetime TIMESTAMP NULL, condition_type_concept_id integer NOT NULL,
    condition_status_concept_id integer NULL, stop_reason varchar(20) NULL,
    provider_id integer NULL, visit_occurrence_id integer NULL, visit_detail_id integer NULL,
    condition_source_value varchar(50) NULL, condition_source_concept_id integer NULL,
    condition_status_source_value varchar(50) NULL);
CREATE TABLE {s}.death (
    person_id integer NOT NULL, death_date date NOT NULL, death_datetime TIMESTAMP NULL,
    death_type_concept_id integer NULL, cause_concept_id integer NULL,
    cause_source_value varchar(50) NULL, cause_source_concept_id integer NULL);
CREATE TABLE {s}.observation (
    observation_id integer NOT NULL, person_id integer NOT NULL,
    observation_concept_id integer NOT NULL, observation_date date NOT NULL,
    observation_datetime TIMESTAMP NULL, observation_type_concept_id integer NOT NULL,
    value_as_number NUMERIC NULL, value_as_string varchar(60) NULL,
    value_as_concept_id Integer NULL, qualifier_concept_id integer NULL,
    unit_concept_id integer NULL, provider_id integer NULL, visit_occurrence_id integer NULL,
    visit_detail_id integer NULL, observation_source_value varchar(50) NULL,
    observation_source_concept_id integer NULL, unit_source_value varchar(50) NULL,
    qualifier_source_value varchar(50) NULL, value_source_value varchar(50) NULL,
    observation_event_id integer NULL, obs_event_field_concept_id integer NULL);
CREATE TABLE {s}.care_site (
    care_site_id integer NOT NULL, care_site_name varchar(255) NULL,
    place_of_service_concept_id integer NULL, location_id integer NULL,
    care_site_source_value varchar(50) NULL, place_of_service_source_value varchar(50) NULL);
"""

VOCABULARY_DDL = """
CREATE TABLE {s}.concept (
    concept_id integer NOT NULL, concept_name varchar(255) NOT NULL,
    domain_id varchar(20) NOT NULL, vocabulary_id varchar(20) NOT NULL,
    concept_class_id varchar(20) NOT NULL, standard_concept varchar(1) NULL,
    concept_code varchar(50) NOT NULL, valid_start_date date NOT NULL,
    valid_end_date date NOT NULL, invalid_reason varchar(1) NULL);
CREATE TABLE {s}.concept_ancestor (
    ancestor_concept_id integer NOT NULL, descendant_concept_id integer NOT NULL,
    min_levels_of_separation integer NOT NULL, max_levels_of_separation integer NOT NULL);
CREATE TABLE {s}.drug_strength (
    drug_concept_id integer NOT NULL, ingredient_concept_id integer NOT NULL,
    amount_value NUMERIC NULL, amount_unit_concept_id integer NULL,
    numerator_value NUMERIC NULL, numerator_unit_concept_id integer NULL,
    denominator_value NUMERIC NULL, denominator_unit_concept_id integer NULL,
    box_size integer NULL, valid_start_date date NOT NULL, valid_end_date date NOT NULL,
    invalid_reason varchar(1) NULL);
"""

# Test-only ids (see the module docstring).
T = 2_000_000_000
OLANZAPINE_10MG_TAB = T + 1
CLOZAPINE_100MG_TAB = T + 2
HALOPERIDOL = T + 3  # the ingredient: its OMOP id is not in reference-facts.md
HALOPERIDOL_DECANOATE_50MG_ML = T + 4
OMEPRAZOLE = T + 5
OMEPRAZOLE_20MG_CAP = T + 6
CLOZAPINE_LEVEL = T + 7  # LOINC 6896-5 (its OMOP id 3013751 is marked unverified)
CREATININE = T + 8  # LOINC 2160-0: a test the project does not use
PARANOID_SCHIZOPHRENIA = T + 9  # a SNOMED child of schizophrenia 435783
SCHIZOAFFECTIVE_BIPOLAR = T + 10  # a SNOMED child of schizoaffective 4286201
ICD10_F200 = T + 11
MG = T + 12  # UCUM mg
ML = T + 13
NG_ML = T + 14
UNKNOWN_DRUG = T + 15  # a drug concept the vocabulary has no row for
LESS_THAN = T + 16  # the '<' operator (its OMOP id is not in reference-facts.md)
ORAL = T + 17
EHR = T + 18  # a measurement / condition type

CONCEPTS = [
    # concept_id, name, domain, vocabulary, class, standard, code
    (800878, "clozapine", "Drug", "RxNorm", "Ingredient", "S", "2626"),
    (785788, "olanzapine", "Drug", "RxNorm", "Ingredient", "S", "61381"),
    (735979, "risperidone", "Drug", "RxNorm", "Ingredient", "S", "35636"),
    (HALOPERIDOL, "haloperidol", "Drug", "RxNorm", "Ingredient", "S", "T-5093"),
    (OMEPRAZOLE, "omeprazole", "Drug", "RxNorm", "Ingredient", "S", "T-7646"),
    (
        OLANZAPINE_10MG_TAB,
        "olanzapine 10 MG Oral Tablet",
        "Drug",
        "RxNorm",
        "Clinical Drug",
        "S",
        "T-1",
    ),
    (
        CLOZAPINE_100MG_TAB,
        "clozapine 100 MG Oral Tablet",
        "Drug",
        "RxNorm",
        "Clinical Drug",
        "S",
        "T-2",
    ),
    (
        HALOPERIDOL_DECANOATE_50MG_ML,
        "haloperidol decanoate 50 MG/ML Injectable Solution",
        "Drug",
        "RxNorm",
        "Clinical Drug",
        "S",
        "T-4",
    ),
    (
        OMEPRAZOLE_20MG_CAP,
        "omeprazole 20 MG Delayed Release Oral Capsule",
        "Drug",
        "RxNorm",
        "Clinical Drug",
        "S",
        "T-6",
    ),
    (
        3013650,
        "Neutrophils [#/volume] in Blood by Automated count",
        "Measurement",
        "LOINC",
        "Lab Test",
        "S",
        "751-8",
    ),
    (
        3017501,
        "Neutrophils [#/volume] in Blood by Manual count",
        "Measurement",
        "LOINC",
        "Lab Test",
        "S",
        "753-4",
    ),
    (
        CLOZAPINE_LEVEL,
        "Clozapine [Mass/volume] in Serum or Plasma",
        "Measurement",
        "LOINC",
        "Lab Test",
        "S",
        "6896-5",
    ),
    (
        CREATININE,
        "Creatinine [Mass/volume] in Serum or Plasma",
        "Measurement",
        "LOINC",
        "Lab Test",
        "S",
        "2160-0",
    ),
    (435783, "Schizophrenia", "Condition", "SNOMED", "Clinical Finding", "S", "58214004"),
    (
        PARANOID_SCHIZOPHRENIA,
        "Paranoid schizophrenia",
        "Condition",
        "SNOMED",
        "Clinical Finding",
        "S",
        "T-35252006",
    ),
    (
        4286201,
        "Schizoaffective disorder",
        "Condition",
        "SNOMED",
        "Clinical Finding",
        "S",
        "68890003",
    ),
    (
        SCHIZOAFFECTIVE_BIPOLAR,
        "Schizoaffective disorder, bipolar type",
        "Condition",
        "SNOMED",
        "Clinical Finding",
        "S",
        "T-70814008",
    ),
    (320073, "Neutropenia", "Condition", "SNOMED", "Clinical Finding", "S", "165517008"),
    (ICD10_F200, "Paranoid schizophrenia", "Condition", "ICD10", "ICD10 code", None, "F20.0"),
    (9444, "billion per liter", "Unit", "UCUM", "Unit", "S", "10*9/L"),
    (8647, "per microliter", "Unit", "UCUM", "Unit", "S", "/uL"),
    (MG, "milligram", "Unit", "UCUM", "Unit", "S", "mg"),
    (ML, "milliliter", "Unit", "UCUM", "Unit", "S", "mL"),
    (NG_ML, "nanogram per milliliter", "Unit", "UCUM", "Unit", "S", "ng/mL"),
    (8507, "MALE", "Gender", "Gender", "Gender", "S", "M"),
    (8532, "FEMALE", "Gender", "Gender", "Gender", "S", "F"),
    (LESS_THAN, "<", "Meas Value Operator", "SNOMED", "Qualifier Value", "S", "T-276139006"),
    (ORAL, "Oral", "Route", "SNOMED", "Qualifier Value", "S", "T-26643006"),
    (32838, "EHR prescription", "Type Concept", "Type Concept", "Type Concept", "S", "OMOP4976890"),
    (32825, "EHR dispensing", "Type Concept", "Type Concept", "Type Concept", "S", "OMOP4976878"),
]

# ancestor, descendant, levels (self-pairs as the OMOP vocabulary has them)
ANCESTORS = [
    *[(c[0], c[0], 0) for c in CONCEPTS if c[5] == "S"],
    (785788, OLANZAPINE_10MG_TAB, 2),
    (800878, CLOZAPINE_100MG_TAB, 2),
    (HALOPERIDOL, HALOPERIDOL_DECANOATE_50MG_ML, 2),
    (OMEPRAZOLE, OMEPRAZOLE_20MG_CAP, 2),
    (435783, PARANOID_SCHIZOPHRENIA, 1),
    (4286201, SCHIZOAFFECTIVE_BIPOLAR, 1),
]

# drug, ingredient, amount, amount unit, numerator, numerator unit, denominator unit
STRENGTHS = [
    (OLANZAPINE_10MG_TAB, 785788, 10, MG, None, None, None),
    (CLOZAPINE_100MG_TAB, 800878, 100, MG, None, None, None),
    (HALOPERIDOL_DECANOATE_50MG_ML, HALOPERIDOL, None, None, 50, MG, ML),
    (OMEPRAZOLE_20MG_CAP, OMEPRAZOLE, 20, MG, None, None, None),
]

PERSONS = [
    # person_id, gender, year, month, day, care_site, gender_source_value
    (1, 8532, 1980, 1, 2, 1, "F"),
    (2, 8507, 1975, 5, 6, 2, "M"),
    (3, 8532, 1990, None, None, 1, "F"),
]
CARE_SITES = [(1, "north"), (2, "south")]
DEATHS = [(2, "2022-06-30")]
OBSERVATION_PERIODS = [
    (11, 1, "2015-01-01", "2023-12-31"),
    (12, 2, "2019-06-01", "2022-06-30"),
    (13, 3, "2019-01-01", "2023-12-31"),
]

P, D = 32838, 32825  # prescription, dispensing
# id, person, concept, start, end, type, quantity, days_supply, sig, route concept,
# source value, route source value, dose unit source value
DRUG_EXPOSURES = [
    (
        101,
        1,
        OLANZAPINE_10MG_TAB,
        "2016-04-01",
        "2016-07-31",
        P,
        244,
        122,
        None,
        ORAL,
        "Zyprexa 10mg tab",
        None,
        None,
    ),
    (102, 1, 735979, "2016-09-01", "2016-11-30", P, 546, 91, None, ORAL, "Risperidone", None, "mg"),
    (
        103,
        1,
        CLOZAPINE_100MG_TAB,
        "2017-01-10",
        "2017-12-31",
        P,
        None,
        None,
        "400 mg daily",
        ORAL,
        "Clozaril",
        None,
        None,
    ),
    (
        104,
        1,
        CLOZAPINE_100MG_TAB,
        "2017-01-10",
        "2017-02-06",
        D,
        112,
        28,
        None,
        ORAL,
        None,
        None,
        None,
    ),
    (
        105,
        1,
        CLOZAPINE_100MG_TAB,
        "2017-02-07",
        "2017-03-06",
        D,
        112,
        28,
        None,
        ORAL,
        None,
        None,
        None,
    ),
    (
        106,
        2,
        CLOZAPINE_100MG_TAB,
        "2020-01-01",
        "2022-06-30",
        P,
        2736,
        912,
        None,
        ORAL,
        None,
        "oral",
        None,
    ),
    (
        107,
        3,
        HALOPERIDOL_DECANOATE_50MG_ML,
        "2021-01-05",
        "2021-02-01",
        P,
        2,
        28,
        None,
        None,
        "Haloperidol decanoate 50mg/ml inj",
        "IM",
        None,
    ),
    (
        108,
        3,
        OMEPRAZOLE_20MG_CAP,
        "2021-01-05",
        "2021-03-05",
        P,
        60,
        60,
        None,
        ORAL,
        None,
        None,
        None,
    ),
    (
        109,
        3,
        UNKNOWN_DRUG,
        "2021-02-01",
        "2021-02-28",
        P,
        None,
        None,
        None,
        None,
        "Mystery tabs 5mg",
        None,
        None,
    ),
    (
        110,
        3,
        0,
        "2021-03-01",
        "2021-03-31",
        P,
        None,
        None,
        "10 mg twice daily",
        None,
        "Clozapine Mylan 100mg tab",
        None,
        None,
    ),
]

# id, person, concept, date, datetime, operator, value, unit concept, range_high,
# source value, source concept, unit source value, value source value
MEASUREMENTS = [
    (
        201,
        1,
        3013650,
        "2017-01-09",
        "2017-01-09 08:30:00",
        None,
        4.1,
        9444,
        None,
        "ANC",
        None,
        "x10^9/L",
        "4.1",
    ),
    (202, 1, 3013650, "2017-01-17", None, None, 3.5, 9444, None, "ANC", None, None, None),
    (203, 1, 3017501, "2017-01-24", None, None, 2900, 8647, None, "ANC manual", None, None, None),
    (
        204,
        1,
        CLOZAPINE_LEVEL,
        "2017-02-01",
        None,
        LESS_THAN,
        50,
        NG_ML,
        None,
        "Clozapine level",
        None,
        "ng/mL",
        "<50",
    ),
    (
        205,
        1,
        CLOZAPINE_LEVEL,
        "2017-03-01",
        None,
        None,
        420,
        NG_ML,
        None,
        "Clozapine level",
        None,
        "ng/mL",
        "420",
    ),
    (206, 1, 0, "2016-11-25", None, None, 90, None, None, "PANSS total", None, None, None),
    (207, 2, 3013650, "2020-06-01", None, None, 400, 8647, None, "ANC", None, "/uL", None),
    (208, 2, 0, "2020-06-08", None, None, 1.6, None, None, "NEUT-ABS-LAB7", None, "10^9/L", None),
    (209, 3, CREATININE, "2021-01-05", None, None, 0.9, None, None, "Creat", None, "mg/dL", None),
    (210, 3, 0, "2021-01-10", None, None, 88, None, None, "PANSS-TOT-LOCAL", None, None, None),
]

# id, person, concept, date, value, source value
OBSERVATIONS = [
    (201, 1, 0, "2016-07-20", 95, "PANSS"),  # the same id as a measurement: kept apart
    (302, 1, 0, "2016-07-20", None, "Smoking status"),  # not a score: not read
]

# id, person, concept, start, source value, source concept
CONDITIONS = [
    (401, 1, PARANOID_SCHIZOPHRENIA, "2016-03-01", "F20.0", ICD10_F200),
    (402, 2, SCHIZOAFFECTIVE_BIPOLAR, "2019-07-01", None, 0),
    (403, 2, 320073, "2020-06-02", None, 0),
    (404, 3, 0, "2019-02-01", "SCZ-PARANOID", 0),
    (405, 3, PARANOID_SCHIZOPHRENIA, "2019-03-01", None, 0),
    (406, 3, T + 99, "2019-04-01", None, 0),  # a concept nobody knows: unmapped
]

SITE_MAPPING = """\
concepts:
  labs: {"NEUT-ABS-LAB7": anc}
  diagnoses: {"SCZ-PARANOID": F20.0}
  assessments: {"PANSS-TOT-LOCAL": PANSS}
"""


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: str, rows: list[tuple]) -> None:
    marks = ", ".join("?" for _ in columns.split(","))
    con.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def build_cdm(con: duckdb.DuckDBPyConnection, schema: str, vocabulary: bool = True) -> None:
    """Create and fill the CDM tables in `schema` of `con`."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for statement in DDL.format(s=schema).split(";"):
        if statement.strip():
            con.execute(statement)
    s = schema
    _insert(
        con,
        f"{s}.person",
        "person_id, gender_concept_id, year_of_birth, month_of_birth, day_of_birth, "
        "care_site_id, gender_source_value, race_concept_id, ethnicity_concept_id",
        [(*p, 0, 0) for p in PERSONS],
    )
    _insert(con, f"{s}.care_site", "care_site_id, care_site_name", CARE_SITES)
    _insert(con, f"{s}.death", "person_id, death_date", DEATHS)
    _insert(
        con,
        f"{s}.observation_period",
        "observation_period_id, person_id, observation_period_start_date, "
        "observation_period_end_date, period_type_concept_id",
        [(*o, 32817) for o in OBSERVATION_PERIODS],
    )
    _insert(
        con,
        f"{s}.drug_exposure",
        "drug_exposure_id, person_id, drug_concept_id, drug_exposure_start_date, "
        "drug_exposure_end_date, drug_type_concept_id, quantity, days_supply, sig, "
        "route_concept_id, drug_source_value, route_source_value, dose_unit_source_value",
        DRUG_EXPOSURES,
    )
    _insert(
        con,
        f"{s}.measurement",
        "measurement_id, person_id, measurement_concept_id, measurement_date, "
        "measurement_datetime, operator_concept_id, value_as_number, unit_concept_id, "
        "range_high, measurement_source_value, measurement_source_concept_id, "
        "unit_source_value, value_source_value, measurement_type_concept_id",
        [(*m, EHR) for m in MEASUREMENTS],
    )
    _insert(
        con,
        f"{s}.observation",
        "observation_id, person_id, observation_concept_id, observation_date, value_as_number, "
        "observation_source_value, observation_type_concept_id",
        [(*o, EHR) for o in OBSERVATIONS],
    )
    _insert(
        con,
        f"{s}.condition_occurrence",
        "condition_occurrence_id, person_id, condition_concept_id, condition_start_date, "
        "condition_source_value, condition_source_concept_id, condition_type_concept_id",
        [(*c, EHR) for c in CONDITIONS],
    )
    if vocabulary:
        build_vocabulary(con, schema)


def build_vocabulary(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    for statement in VOCABULARY_DDL.format(s=schema).split(";"):
        if statement.strip():
            con.execute(statement)
    _insert(
        con,
        f"{schema}.concept",
        "concept_id, concept_name, domain_id, vocabulary_id, concept_class_id, "
        "standard_concept, concept_code, valid_start_date, valid_end_date",
        [(*c, "1970-01-01", "2099-12-31") for c in CONCEPTS],
    )
    _insert(
        con,
        f"{schema}.concept_ancestor",
        "ancestor_concept_id, descendant_concept_id, min_levels_of_separation, "
        "max_levels_of_separation",
        [(a, d, n, n) for a, d, n in ANCESTORS],
    )
    _insert(
        con,
        f"{schema}.drug_strength",
        "drug_concept_id, ingredient_concept_id, amount_value, amount_unit_concept_id, "
        "numerator_value, numerator_unit_concept_id, denominator_unit_concept_id, "
        "valid_start_date, valid_end_date",
        [(*r, "1970-01-01", "2099-12-31") for r in STRENGTHS],
    )


def write_duckdb_cdm(path: Path, schema: str = "cdm", vocabulary: bool = True) -> Path:
    with duckdb.connect(str(path)) as con:
        build_cdm(con, schema, vocabulary)
    return path


def write_csv_cdm(folder: Path, vocabulary: bool = True, upper_case: bool = False) -> Path:
    """The same CDM as one CSV file per table (OHDSI export style; Athena-style upper-case file
    names with `upper_case`)."""
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        build_cdm(con, "cdm", vocabulary)
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'cdm'"
            ).fetchall()
        ]
        for table in tables:
            name = table.upper() if upper_case else table
            con.execute(f"COPY cdm.{table} TO '{folder / name}.csv' (HEADER, DELIMITER ',')")
    return folder
