"""Issue 19: an OMOP CDM v5.4 as an input.

The CDM of tests/omop_cases.py (built by hand with the v5.4 DDL's columns and types) and the
extract set below say the same thing about three patients; the pipeline must give the same
marts from either. The extract set is written as a site would write it (generic and brand
names, a per-injection LAI dose, the site's own codes), not generated from the CDM.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import duckdb
import pytest

from tests.conftest import write_extracts
from tests.omop_cases import (
    CLOZAPINE_100MG_TAB,
    SITE_MAPPING,
    build_cdm,
    write_csv_cdm,
    write_duckdb_cdm,
)
from trscohort.cli import main
from trscohort.config import load_config
from trscohort.contract import EXTRACT_ORDER, load_mapping
from trscohort.ingest import ingest_extract
from trscohort.ingest.staging import load_reference
from trscohort.omop import CdmSource, cdm_sources
from trscohort.runner import RunOptions, run_pipeline
from trscohort.vocab.unmapped import build_unmapped_values

# What the CDM holds, as extract files (rows in the CDM's order; comments give the CDM row).
EXTRACTS = {
    "patients": """
        patient_id,birth_date,sex,benign_ethnic_neutropenia,site,death_date
        person_1,1980-01-02,F,,north,
        person_2,1975-05-06,M,,south,2022-06-30
        person_3,1990-01-01,F,,north,
    """,
    # 101: 244 x 10 mg tablets over 122 days; 102: 546 mg of risperidone over 91 days;
    # 103: sig "400 mg daily"; 106: 2,736 x 100 mg over 912 days; 107: 2 mL of 50 mg/mL every
    # 28 days; 110: sig "10 mg twice daily".
    "prescriptions": """
        patient_id,drug,start_date,end_date,daily_dose_mg,dose_mg,interval_days,route,prescription_id
        person_1,Zyprexa 10mg tab,2016-04-01,2016-07-31,20,,,oral,101
        person_1,Risperidone,2016-09-01,2016-11-30,6,,,oral,102
        person_1,Clozaril,2017-01-10,2017-12-31,400,,,oral,103
        person_2,clozapine 100 mg tablets,2020-01-01,2022-06-30,300,,,oral,106
        person_3,Haloperidol decanoate 50mg/ml inj,2021-01-05,2021-02-01,,100,28,lai,107
        person_3,omeprazole,2021-01-05,2021-03-05,20,,,oral,108
        person_3,Mystery tabs 5mg,2021-02-01,2021-02-28,,,,,109
        person_3,Clozapine Mylan 100mg tab,2021-03-01,2021-03-31,20,,,,110
    """,
    "dispensings": """
        patient_id,drug,dispensed_date,days_supply
        person_1,clozapine,2017-01-10,28
        person_1,clozapine,2017-02-07,28
    """,
    "labs": """
        patient_id,collected_at,test_code,test_name,value,unit,reference_high
        person_1,2017-01-09T08:30:00,751-8,ANC,4.1,10^9/L,
        person_1,2017-01-17,751-8,ANC,3.5,10^9/L,
        person_1,2017-01-24,753-4,ANC manual,2900,/uL,
        person_1,2017-02-01,6896-5,Clozapine level,<50,ng/mL,
        person_1,2017-03-01,6896-5,Clozapine level,420,ng/mL,
        person_2,2020-06-01,751-8,ANC,400,cells/uL,
        person_2,2020-06-08,,NEUT-ABS-LAB7,1.6,10^9/L,
        person_3,2021-01-05,2160-0,Creat,0.9,mg/dL,
    """,
    "diagnoses": """
        patient_id,code,code_system,diagnosed_at,description
        person_1,F20.0,ICD10,2016-03-01,Paranoid schizophrenia
        person_2,F25.0,ICD10,2019-07-01,schizoaffective disorder
        person_2,D70,ICD10,2020-06-02,neutropenia
        person_3,SCZ-PARANOID,,2019-02-01,
        person_3,F20.0,ICD10,2019-03-01,
        person_3,X-UNKNOWN,LOCAL,2019-04-01,
    """,
    "assessments": """
        patient_id,assessed_at,instrument,score
        person_1,2016-07-20,PANSS,95
        person_1,2016-11-25,PANSS total,90
        person_3,2021-01-10,PANSS-TOT-LOCAL,88
    """,
    "observation_periods": """
        patient_id,start_date,end_date
        person_1,2015-01-01,2023-12-31
        person_2,2019-06-01,2022-06-30
        person_3,2019-01-01,2023-12-31
    """,
}

# source_row is provenance (the file's row, or the CDM row's id), so it differs by design.
PROVENANCE = {"source_row"}


def _marts(warehouse: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts' ORDER BY 1"
            ).fetchall()
        ]
        found = {}
        for table in tables:
            columns = [
                r[0]
                for r in con.execute(f"DESCRIBE marts.{table}").fetchall()
                if r[0] not in PROVENANCE
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            found[table] = sorted(
                con.execute(f"SELECT {select} FROM marts.{table}").fetchall(), key=repr
            )
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """The extract set through run_pipeline; the CDM as a DuckDB file and as a CSV folder
    through the command line. Returns the three warehouses."""
    root = tmp_path_factory.mktemp("omop")
    mapping = root / "mapping.yaml"
    mapping.write_text(SITE_MAPPING)
    extracts = write_extracts(root / "extracts", EXTRACTS)
    warehouses = {"extracts": root / "extracts.duckdb"}
    run_pipeline(
        RunOptions(
            input_dir=extracts,
            warehouse=warehouses["extracts"],
            out_dir=root / "out_extracts",
            mapping_path=mapping,
        ),
        stream=io.StringIO(),
    )
    cdm_file = write_duckdb_cdm(root / "omop54.duckdb", schema="cdm")
    cdm_folder = write_csv_cdm(root / "cdm_csv", upper_case=True)
    for name, args in {
        "duckdb": ["--omop", str(cdm_file), "--omop-schema", "cdm"],
        "folder": ["--omop", str(cdm_folder)],
    }.items():
        warehouses[name] = root / f"{name}.duckdb"
        code = main(
            [
                "run",
                *args,
                "--warehouse",
                str(warehouses[name]),
                "--out",
                str(root / f"out_{name}"),
                "--mapping",
                str(mapping),
            ]
        )
        assert code == 0
    return warehouses


def test_cdm_and_extract_set_give_identical_marts(runs):
    from_extracts = _marts(runs["extracts"])
    from_cdm = _marts(runs["duckdb"])
    assert set(from_cdm) == set(from_extracts)
    for table, rows in from_extracts.items():
        assert from_cdm[table] == rows, table
    # not a comparison of two empty sets: the three patients are in the marts
    with duckdb.connect(str(runs["duckdb"]), read_only=True) as con:
        statuses = dict(
            con.execute(
                "SELECT patient_id, trs_status FROM marts.patient_trs_status ORDER BY 1"
            ).fetchall()
        )
        assert set(statuses) == {"person_1", "person_2", "person_3"}
        anc = con.execute(
            "SELECT source_row, anc_per_ul FROM marts.anc_results ORDER BY source_row"
        ).fetchall()
    # source_row of a CDM row is its measurement_id
    assert anc == [(201, 4100.0), (202, 3500.0), (203, 2900.0), (207, 400.0), (208, 1600.0)]


def test_csv_folder_and_duckdb_file_cdm_give_identical_marts(runs):
    assert _marts(runs["folder"]) == _marts(runs["duckdb"])


def test_cli_run_records_the_cdm_and_accounts_for_every_row(runs):
    with duckdb.connect(str(runs["duckdb"]), read_only=True) as con:
        log = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT extract, file, rows_read, accepted, quarantined, duplicates "
                "FROM audit.ingest_log"
            ).fetchall()
        }
        source = con.execute("SELECT input_dir FROM audit.run_parameters").fetchone()[0]
    assert source.startswith("omop:") and source.endswith("(schema cdm)")
    assert log["labs"][0].endswith("measurement")
    for extract, (_file, read, accepted, quarantined, duplicates) in log.items():
        assert read == accepted + quarantined + duplicates, extract
    # 10 measurement rows = 8 labs + 2 scores; the observation table adds one score
    assert (log["labs"][1], log["assessments"][1]) == (8, 3)
    assert log["prescriptions"][1] + log["dispensings"][1] == 10  # drug_exposure rows


def test_unmapped_concepts_appear_in_the_unmapped_values_report(runs):
    with duckdb.connect(str(runs["duckdb"]), read_only=True) as con:
        unmapped = {
            (r[0], r[1], r[2]): r[3]
            for r in con.execute(
                "SELECT extract, field, source_value, source_code FROM audit.unmapped_values"
            ).fetchall()
        }
    assert unmapped == {
        # a drug concept the vocabulary does not know: its source value
        ("prescriptions", "drug", "Mystery tabs 5mg"): None,
        # a known concept whose ingredient is no project drug: the ingredient
        ("prescriptions", "drug", "omeprazole"): None,
        # a LOINC concept the project does not use: the source value, with its LOINC code
        ("labs", "test_name", "Creat"): "2160-0",
        # a condition concept no vocabulary row or bundled concept names
        ("diagnoses", "code", "OMOP:2000000099"): "OMOP",
    }


# --- the mapping, table by table (ingest only, no full run) -----------------------------------


def _ingest_cdm(
    tmp_path: Path, vocabulary: bool = True, config_yaml: str | None = None, edit=None
) -> duckdb.DuckDBPyConnection:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "omop54.duckdb"
    with duckdb.connect(str(path)) as cdm:
        build_cdm(cdm, "cdm", vocabulary)
        if edit:
            edit(cdm)
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text(SITE_MAPPING)
    config_path = None
    if config_yaml:
        config_path = tmp_path / "config.yaml"
        config_path.write_text(textwrap.dedent(config_yaml))
    config, mapping = load_config(config_path), load_mapping(mapping_path)
    con = duckdb.connect()
    load_reference(con, config, mapping)
    sources = cdm_sources(CdmSource(path, "cdm"))
    for extract in EXTRACT_ORDER:
        ingest_extract(con, extract, sources[extract], mapping, config)
    build_unmapped_values(con, config)
    return con


def _by_row(con, sql: str) -> dict:
    return {r[0]: r[1:] for r in con.execute(sql).fetchall()}


def test_drugs_map_by_ingredient_with_the_dose_from_strength_quantity_or_sig(tmp_path):
    con = _ingest_cdm(tmp_path)
    got = _by_row(
        con,
        "SELECT source_row, drug, drug_concept_id, daily_dose_mg, route "
        "FROM staging.prescriptions ORDER BY 1",
    )
    assert got == {
        101: ("olanzapine", "olanzapine", 20.0, "oral"),  # drug_strength 10 mg x 244 / 122 d
        102: ("risperidone", "risperidone", 6.0, "oral"),  # ingredient-level, 546 mg / 91 d
        103: ("clozapine", "clozapine", 400.0, "oral"),  # sig "400 mg daily"
        106: ("clozapine", "clozapine", 300.0, "oral"),  # 100 mg x 2,736 / 912 d
        # 50 mg/mL x 2 mL / 28 d; the decanoate name makes it long-acting
        107: ("haloperidol", "haloperidol_decanoate", pytest.approx(100 / 28), "lai"),
        108: ("omeprazole", None, 20.0, "oral"),
        109: ("Mystery tabs 5mg", None, None, "oral"),  # unknown concept: its source value
        110: ("Clozapine Mylan 100mg tab", "clozapine", 20.0, "oral"),  # concept 0; "10 mg bd"
    }
    dispensed = _by_row(con, "SELECT source_row, drug, days_supply FROM staging.dispensings")
    assert dispensed == {104: ("clozapine", 28), 105: ("clozapine", 28)}


def test_drug_types_route_rows_to_prescriptions_or_dispensings(tmp_path):
    con = _ingest_cdm(
        tmp_path,
        config_yaml="""
            omop:
              dispensing_type_concept_ids: []
        """,
    )
    rows = con.execute("SELECT count(*) FROM staging.prescriptions").fetchone()[0]
    assert rows == 10  # every exposure, the two dispensings included
    assert con.execute("SELECT count(*) FROM raw.dispensings").fetchone()[0] == 0


def test_other_drug_types_are_left_out_when_configured(tmp_path):
    def administrations(cdm):  # 108 becomes an EHR administration (a type in neither list)
        cdm.execute(
            "UPDATE cdm.drug_exposure SET drug_type_concept_id = 2000000555 "
            "WHERE drug_exposure_id = 108"
        )

    kept = _ingest_cdm(tmp_path / "a", edit=administrations)
    assert 108 in _by_row(kept, "SELECT source_row, drug FROM staging.prescriptions")
    left = _ingest_cdm(
        tmp_path / "b",
        edit=administrations,
        config_yaml="omop:\n  other_drug_types_as_prescriptions: false\n",
    )
    assert 108 not in _by_row(left, "SELECT source_row, drug FROM staging.prescriptions")


def test_unknown_dose_of_an_antipsychotic_is_reported(tmp_path):
    def no_dose(cdm):
        cdm.execute("UPDATE cdm.drug_exposure SET sig = NULL WHERE drug_exposure_id = 103")

    con = _ingest_cdm(tmp_path, edit=no_dose)
    assert _by_row(con, "SELECT source_row, daily_dose_mg FROM staging.prescriptions")[103] == (
        None,
    )
    dose = con.execute(
        "SELECT source_value, source_code, n_rows FROM audit.unmapped_values "
        "WHERE field = 'daily_dose_mg'"
    ).fetchall()
    assert dose == [("clozapine", "clozapine", 1)]


def test_labs_map_by_loinc_concept_with_operator_and_ucum_unit(tmp_path):
    con = _ingest_cdm(tmp_path)
    got = _by_row(
        con,
        "SELECT source_row, test_code, analyte, mapped_by, value_as_written, value_comparator, "
        "value, unit FROM staging.labs ORDER BY 1",
    )
    assert got[201] == ("751-8", "anc", "reference", "4.1", None, 4100.0, "/uL")  # 10*9/L
    assert got[203] == ("753-4", "anc", "reference", "2900", None, 2900.0, "/uL")  # /uL
    # operator_concept_id '<' carried into the comparator rules
    assert got[204] == ("6896-5", "clozapine_level", "reference", "<50", "<", 50.0, "ng/mL")
    # concept 0: the source value through the site vocabulary
    assert got[208] == (None, "anc", "site_vocabulary", "1.6", None, 1600.0, "/uL")
    assert got[209][:3] == ("2160-0", None, None)
    scores = _by_row(con, "SELECT source_row, instrument, score FROM staging.assessments")
    # -201: observation 201 (measurement 201 is an ANC); 210: the site's own name
    assert scores == {-201: ("PANSS", 95.0), 206: ("PANSS", 90.0), 210: ("PANSS", 88.0)}


def test_conditions_map_by_icd10_source_code_or_snomed_descendant(tmp_path):
    con = _ingest_cdm(tmp_path)
    got = _by_row(
        con,
        "SELECT source_row, code, code_system, source_code, mapped_by FROM staging.diagnoses",
    )
    assert got == {
        401: ("F200", "ICD10", "F200", "reference"),  # ICD10 source concept F20.0
        402: ("F25", "ICD10", "F25", "reference"),  # SNOMED child of schizoaffective 4286201
        403: ("D70", "ICD10", "D70", "reference"),  # neutropenia 320073
        404: ("F200", "ICD10", "SCZ-PARANOID", "site_vocabulary"),  # concept 0, site code
        405: ("F20", "ICD10", "F20", "reference"),  # SNOMED child of schizophrenia 435783
        406: (None, "OMOP", "OMOP:2000000099", None),  # unknown: unmapped
    }


def test_persons_and_observation_periods(tmp_path):
    con = _ingest_cdm(tmp_path)
    people = _by_row(
        con,
        "SELECT source_row, patient_id, birth_date, sex, site, death_date FROM staging.patients",
    )
    assert {k: (v[0], str(v[1]), v[2], v[3], v[4]) for k, v in people.items()} == {
        1: ("person_1", "1980-01-02", "F", "north", None),
        2: ("person_2", "1975-05-06", "M", "south", people[2][4]),
        3: ("person_3", "1990-01-01", "F", "north", None),  # year of birth only: 1 January
    }
    assert str(people[2][4]) == "2022-06-30"
    periods = con.execute(
        "SELECT source_row, patient_id, start_date, end_date FROM staging.observation_periods"
    ).fetchall()
    assert [(r[0], r[1], str(r[2]), str(r[3])) for r in periods] == [
        (11, "person_1", "2015-01-01", "2023-12-31"),
        (12, "person_2", "2019-06-01", "2022-06-30"),
        (13, "person_3", "2019-01-01", "2023-12-31"),
    ]


def test_without_a_vocabulary_the_bundled_concepts_and_source_values_serve(tmp_path):
    con = _ingest_cdm(tmp_path, vocabulary=False)
    drugs = _by_row(
        con, "SELECT source_row, drug, drug_concept_id, daily_dose_mg FROM staging.prescriptions"
    )
    assert drugs[102] == ("risperidone", "risperidone", 6.0)  # bundled 735979, quantity in mg
    assert drugs[101] == ("Zyprexa 10mg tab", "olanzapine", None)  # source value; no strength
    assert drugs[106] == (f"OMOP:{CLOZAPINE_100MG_TAB}", None, None)  # no name known at all
    labs = _by_row(con, "SELECT source_row, test_code, analyte, value_comparator FROM staging.labs")
    assert labs[201] == ("751-8", "anc", None)  # bundled 3013650
    # the '<' operator id is not bundled (unverified): value_source_value '<50' is used
    assert labs[204] == (f"OMOP:{2_000_000_007}", "clozapine_level", "<")  # by name
    codes = _by_row(con, "SELECT source_row, code FROM staging.diagnoses")
    assert codes[403] == ("D70",)  # bundled neutropenia 320073, exact id
    assert codes[402] == (None,)  # a SNOMED child needs concept_ancestor
    sexes = dict(con.execute("SELECT patient_id, sex FROM staging.patients").fetchall())
    assert sexes == {"person_1": "F", "person_2": "M", "person_3": "F"}  # bundled 8507 / 8532
    unmapped = {
        (r[0], r[1], r[2]): r[3]
        for r in con.execute(
            "SELECT extract, field, source_value, n_rows FROM audit.unmapped_values"
        ).fetchall()
    }
    assert unmapped[("prescriptions", "drug", f"OMOP:{CLOZAPINE_100MG_TAB}")] == 1  # 106
    assert unmapped[("dispensings", "drug", f"OMOP:{CLOZAPINE_100MG_TAB}")] == 2
    assert unmapped[("prescriptions", "daily_dose_mg", "Zyprexa 10mg tab")] == 1
    assert unmapped[("diagnoses", "code", "OMOP:2000000010")] == 1


# --- errors: one line, exit 2 -----------------------------------------------------------------


def _run_cli(tmp_path: Path, *args: str) -> int:
    return main(
        ["run", *args, "--warehouse", str(tmp_path / "w.duckdb"), "--out", str(tmp_path / "out")]
    )


def test_cdm_errors_are_one_line_and_exit_2(tmp_path, capsys):
    folder = write_csv_cdm(tmp_path / "cdm")
    (folder / "measurement.csv").unlink()
    assert _run_cli(tmp_path, "--omop", str(folder)) == 2
    assert (
        capsys.readouterr().err.strip() == f"error: {folder}: CDM table(s) not found: measurement"
    )

    assert _run_cli(tmp_path, "--omop", str(folder), "--input", "data/sample") == 2
    assert "not both" in capsys.readouterr().err

    two = tmp_path / "two.duckdb"
    with duckdb.connect(str(two)) as con:
        build_cdm(con, "cdm_a", vocabulary=False)
        build_cdm(con, "cdm_b", vocabulary=False)
    assert _run_cli(tmp_path, "--omop", str(two)) == 2
    assert "give --omop-schema (schemas holding a person table: cdm_a, cdm_b)" in (
        capsys.readouterr().err
    )


def test_repeated_primary_key_stops_the_run(tmp_path, capsys):
    path = tmp_path / "omop54.duckdb"
    with duckdb.connect(str(path)) as con:
        build_cdm(con, "cdm")
        con.execute("UPDATE cdm.measurement SET measurement_id = 201 WHERE measurement_id = 202")
    assert _run_cli(tmp_path, "--omop", str(path)) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: CDM rows for labs: measurement_id must be unique and present (1 ids repeated); "
        "a CDM's primary keys are unique"
    )


def test_parquet_tables_and_a_parquet_folder_per_table_are_read(tmp_path):
    """A CDM exported as Parquet: one file per table, or a folder of part files per table."""
    csv_folder = write_csv_cdm(tmp_path / "csv")
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    with duckdb.connect() as con:
        for path in csv_folder.glob("*.csv"):
            table = path.stem
            target = (
                f"{parquet / table}/part-0.parquet"
                if table == "measurement"
                else f"{parquet / table}.parquet"
            )
            Path(target).parent.mkdir(exist_ok=True)
            con.execute(
                f"COPY (SELECT * FROM read_csv('{path}', header = true)) TO '{target}' "
                "(FORMAT parquet)"
            )
    config, mapping = load_config(), load_mapping(None)
    con = duckdb.connect()
    load_reference(con, config, mapping)
    sources = cdm_sources(CdmSource(parquet))
    for extract in EXTRACT_ORDER:
        ingest_extract(con, extract, sources[extract], mapping, config)
    labs = _by_row(con, "SELECT source_row, analyte, value FROM staging.labs")
    # without the site vocabulary, "PANSS-TOT-LOCAL" is no score: it stays a lab, unmapped
    assert labs[201] == ("anc", 4100.0) and labs[210] == (None, None) and len(labs) == 9
    drugs = _by_row(con, "SELECT source_row, drug_concept_id FROM staging.prescriptions")
    assert drugs[107] == ("haloperidol_decanoate",)


def test_vocab_suggest_drafts_the_cdm_unmapped_values(tmp_path, capsys):
    path = write_duckdb_cdm(tmp_path / "omop54.duckdb")
    assert main(["vocab", "suggest", "--omop", str(path)]) == 0
    draft = capsys.readouterr().out
    assert draft.startswith(f"# trscohort vocab suggest: omop:{path}")
    # concept-0 values the site has not mapped yet, and unknown concepts
    assert '# "NEUT-ABS-LAB7": ' in draft and '# "OMOP:2000000099": ' in draft


def test_dagster_ui_reads_the_cdm_named_by_the_environment(tmp_path, monkeypatch):
    from trscohort.omop import CdmExtract
    from trscohort.orchestration.definitions import build_resources

    path = write_duckdb_cdm(tmp_path / "omop54.duckdb")
    monkeypatch.setenv("TRSCOHORT_OMOP", str(path))
    monkeypatch.setenv("TRSCOHORT_OMOP_SCHEMA", "cdm")
    settings = build_resources()["settings"]
    sources = settings.sources()
    assert set(sources) == set(EXTRACT_ORDER)
    assert all(
        isinstance(s, CdmExtract) and s.cdm == CdmSource(path, "cdm") for s in sources.values()
    )
    assert settings.input_label() == f"omop:{path} (schema cdm)"
