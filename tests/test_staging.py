"""Staging: type coercion, unit conversion, code mapping and quarantine reasons, by hand."""

from __future__ import annotations

import pytest

from tests.conftest import rows

LAB_HEADER = "patient_id,collected_at,test_code,test_name,value,unit,reference_high\n"


def labs(*lines: str) -> str:
    return LAB_HEADER + "\n".join(lines)


def test_patients_are_typed_and_sex_spellings_mapped(staged):
    con = staged(
        patients="""
        patient_id,birth_date,sex,benign_ethnic_neutropenia,site,death_date
        P1,1980-01-02,Female,false,north,
        P2,1975-05-06,male,YES,south,2021-04-01
        P3,1990-03-04,x,,south,
        """
    )
    assert rows(
        con,
        "SELECT patient_id, birth_date::VARCHAR, sex, benign_ethnic_neutropenia, "
        "death_date::VARCHAR FROM staging.patients ORDER BY patient_id",
    ) == [
        ("P1", "1980-01-02", "F", False, None),
        ("P2", "1975-05-06", "M", True, "2021-04-01"),
        ("P3", "1990-03-04", "U", False, None),
    ]


def test_patient_quarantine_reasons(staged):
    con = staged(
        patients="""
        patient_id,birth_date,sex,benign_ethnic_neutropenia,site,death_date
        P1,1980-01-02,F,false,north,
        P2,1975-05-06,M,true,south,
        P3,2023-02-30,F,,,
        P4,1970-01-01,F,maybe,,
        P5,1970-01-01,F,,,1960-01-01
        P1,1981-01-02,F,false,north,
        ,1970-01-01,F,,,
        """
    )
    assert rows(con, "SELECT source_row, reason FROM quarantine.patients ORDER BY 1") == [
        (3, "unparseable birth_date '2023-02-30'"),
        (4, "unparseable benign_ethnic_neutropenia 'maybe'"),
        (5, "death_date before birth_date"),
        (6, "patient_id repeated with different values (row 1 kept)"),
        (7, "missing patient_id"),
    ]
    # The quarantined row is kept as it was read, not as typed.
    assert rows(con, "SELECT birth_date FROM quarantine.patients WHERE source_row = 3") == [
        ("2023-02-30",)
    ]


@pytest.mark.parametrize(
    ("value", "unit", "expected_per_ul"),
    [
        ("1.5", "10^9/L", 1500.0),
        ("1.5", "x10*9/L", 1500.0),
        ("1.5", "10^3/µL", 1500.0),
        ("1.5", "10E3/uL", 1500.0),
        ("1500", "cells/mm3", 1500.0),
        ("1500", "/µL", 1500.0),
        ("1499", "cells/uL", 1499.0),
        ('"0,5"', "10^9/L", 500.0),  # decimal comma
    ],
)
def test_anc_units_convert_to_per_microlitre(staged, value, unit, expected_per_ul):
    con = staged(labs=labs(f"P1,2020-01-08,751-8,ANC,{value},{unit},"))
    assert rows(con, "SELECT analyte, value, unit FROM staging.labs") == [
        ("anc", pytest.approx(expected_per_ul), "/uL")
    ]


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("350", "ng/mL", 350.0),
        ("350", "µg/L", 350.0),
        ("0.35", "mg/L", 350.0),
        ("1.071", "µmol/L", 350.0),  # CLZ-7: x 326.8
    ],
)
def test_clozapine_level_units_convert_to_ng_per_ml(staged, value, unit, expected):
    con = staged(labs=labs(f"P1,2020-01-08,6896-5,Clozapine,{value},{unit},"))
    (analyte, converted, canonical) = rows(con, "SELECT analyte, value, unit FROM staging.labs")[0]
    assert (analyte, canonical) == ("clozapine_level", "ng/mL")
    assert converted == pytest.approx(expected, abs=0.01)


def test_hba1c_percent_converts_to_mmol_per_mol(staged):
    con = staged(
        labs=labs(
            "P1,2020-01-08,4548-4,HbA1c,6.5,%,",
            "P1,2020-02-08,,HbA1c,7.0,%,",
            "P1,2020-03-08,59261-8,HbA1c,48,mmol/mol,",
        )
    )
    values = [round(v) for (v,) in rows(con, "SELECT value FROM staging.labs ORDER BY 1")]
    assert values == [48, 48, 53]


def test_tests_are_mapped_by_code_then_by_local_name(staged):
    con = staged(
        labs=labs(
            "P1,2020-01-08,751-8,whatever the lab calls it,3.1,10^9/L,",
            "P1,2020-01-08,,Absolute  Neutrophil Count,3.2,10^9/L,",
            "P1,2020-01-08,770-8,Neutrophils %,60,%,",
            "P1,2020-01-08,,Sodium,140,mmol/L,",
            "P1,2020-01-08,,Troponin I,<3,ng/L,14",
        )
    )
    assert rows(
        con,
        "SELECT test_name, analyte, value_comparator, value, reference_high "
        "FROM staging.labs ORDER BY source_row",
    ) == [
        ("whatever the lab calls it", "anc", None, pytest.approx(3100.0), None),
        ("Absolute  Neutrophil Count", "anc", None, pytest.approx(3200.0), None),
        ("Neutrophils %", None, None, None, None),  # 770-8 is a percentage, not an ANC
        ("Sodium", None, None, None, None),  # unknown test: kept, not mapped
        ("Troponin I", "troponin", "<", 3.0, 14.0),
    ]


def test_lab_quarantine_reasons(staged):
    con = staged(
        labs=labs(
            "P1,2020-01-08,751-8,ANC,3.2,foo,",
            "P1,2020-01-08,751-8,ANC,3.2,,",
            "P1,2020-01-08,,Pulse,72,,",
            "P1,2020-01-08,751-8,ANC,-5,/uL,",
            "P1,2020-01-08,751-8,ANC,high,/uL,",
            'P1,2020-01-08,751-8,ANC,"1,500",/uL,',
            "P9,2020-01-08,751-8,ANC,3.2,10^9/L,",
            "P1,2020-02-30,751-8,ANC,3.2,10^9/L,",
            "P1,1970-01-01,751-8,ANC,3.2,10^9/L,",
            "P1,2020-01-08,6896-5,Clozapine,9000,ng/mL,",
        )
    )
    assert rows(con, "SELECT source_row, reason FROM quarantine.labs ORDER BY 1") == [
        (1, "unit not recognised for anc: 'foo'"),
        (2, "missing unit for anc"),
        (4, "value outside the possible range for anc: -5.0 /uL"),
        (5, "unparseable value for anc: 'high'"),
        (6, "unparseable value for anc: '1,500'"),  # thousands or decimals? never guessed
        (7, "unknown patient_id 'P9'"),
        (8, "unparseable collected_at '2020-02-30'"),
        (9, "collected_at before birth_date"),
        (10, "value outside the possible range for clozapine_level: 9000.0 ng/mL"),
    ]
    # Pulse has an unambiguous unit, so a missing one is filled in.
    assert rows(con, "SELECT analyte, value, unit FROM staging.labs") == [("pulse", 72.0, "/min")]


def test_prescriptions_map_brands_doses_and_long_acting_forms(staged):
    con = staged(
        prescriptions="""
        patient_id,drug,start_date,end_date,daily_dose_mg,route,prescription_id
        P1,CLOZARIL 100mg tablets,2020-01-01,2020-03-01,300,,RX1
        P1,Zyprexa,2019-01-01,,20,oral,RX2
        P1,risperidone,2018-01-01,2018-06-01,"3,57",depot,RX3
        P1,Haldol Decanoate,2017-01-01,2017-06-01,5.36,,RX4
        P1,sodium valproate,2020-02-01,,1000,,RX5
        """
    )
    assert rows(
        con,
        "SELECT prescription_id, drug_concept_id, generic_name, is_antipsychotic, is_clozapine, "
        "is_lai, route, daily_dose_mg, CAST(end_date AS VARCHAR) "
        "FROM staging.prescriptions ORDER BY 1",
    ) == [
        ("RX1", "clozapine", "clozapine", True, True, False, "oral", 300.0, "2020-03-01"),
        ("RX2", "olanzapine", "olanzapine", True, False, False, "oral", 20.0, None),
        ("RX3", "risperidone_lai", "risperidone", True, False, True, "lai", 3.57, "2018-06-01"),
        (
            "RX4",
            "haloperidol_decanoate",
            "haloperidol",
            True,
            False,
            True,
            "lai",
            5.36,
            "2017-06-01",
        ),
        ("RX5", "valproate", "valproate", False, False, False, "oral", 1000.0, None),
    ]


def test_prescription_quarantine_reasons(staged):
    con = staged(
        prescriptions="""
        patient_id,drug,start_date,end_date,daily_dose_mg,route,prescription_id
        P1,paracetamol,2020-01-01,,1000,,RX1
        P1,olanzapine,2020-03-01,2020-01-01,20,,RX2
        P1,olanzapine,2020-01-01,,-10,,RX3
        P1,olanzapine,,,10,,RX4
        P1,olanzapine,2020-01-01,,ten,,RX5
        """
    )
    # Issue 12: an unknown drug is not invalid; paracetamol is staged as an "other drug".
    assert rows(con, "SELECT source_row, reason FROM quarantine.prescriptions ORDER BY 1") == [
        (2, "end_date before start_date"),
        (3, "daily_dose_mg not positive: -10.0"),
        (4, "missing start_date"),
        (5, "unparseable daily_dose_mg 'ten'"),
    ]
    assert rows(
        con,
        "SELECT drug, drug_concept_id, is_antipsychotic, mapped_by FROM staging.prescriptions "
        "WHERE source_row = 1",
    ) == [("paracetamol", None, False, None)]


def test_diagnosis_codes_are_normalised(staged):
    con = staged(
        diagnoses="""
        patient_id,code,code_system,diagnosed_at,description
        P1,F20.0,ICD10,2019-06-01,
        P1, f25.1 ,ICD-10-CM,2019-06-02,
        P1,D70,,2019-06-03,
        P1,schizophrenia,ICD10,2019-06-04,
        P1,,ICD10,2019-06-05,
        """
    )
    # Issue 12: a code that is not ICD-10 is kept with code NULL (reported as unmapped).
    assert rows(
        con,
        "SELECT code, code_system, source_code, mapped_by FROM staging.diagnoses ORDER BY source_row",
    ) == [
        ("F200", "ICD10", "F200", "reference"),
        ("F251", "ICD10CM", "F251", "reference"),
        ("D70", "ICD10", "D70", "reference"),
        (None, "ICD10", "SCHIZOPHRENIA", None),
    ]
    assert rows(con, "SELECT source_row, reason FROM quarantine.diagnoses ORDER BY 1") == [
        (5, "missing code"),
    ]


def test_assessments_map_instruments_and_check_ranges(staged):
    con = staged(
        assessments="""
        patient_id,assessed_at,instrument,score
        P1,2020-01-01,PANSS,72
        P1,2020-01-01,cgi-s,5
        P1,2020-01-01,bprs total,45
        P1,2020-01-01,PANSS,20
        P1,2020-01-01,HAM-D,20
        """
    )
    assert rows(con, "SELECT instrument, score FROM staging.assessments ORDER BY source_row") == [
        ("PANSS", 72.0),
        ("CGI-S", 5.0),
        ("BPRS", 45.0),
    ]
    assert rows(con, "SELECT source_row, reason FROM quarantine.assessments ORDER BY 1") == [
        (4, "score outside the PANSS range 30-210: 20.0"),
        (5, "unknown instrument 'HAM-D'"),
    ]


def test_exact_duplicates_are_removed_and_counted(staged):
    con = staged(
        labs=labs(
            "P1,2020-01-08,751-8,ANC,3.2,10^9/L,",
            "P1,2020-01-08,751-8,ANC,3.2,10^9/L,",
            "P1,2020-01-08,751-8,ANC,3.2,10^9/L,",
            "P1,2020-01-15,751-8,ANC,3.2,10^9/L,",
        )
    )
    assert rows(con, "SELECT source_row FROM staging.labs ORDER BY 1") == [(1,), (4,)]
    assert rows(
        con,
        "SELECT rows_read, accepted, quarantined, duplicates FROM audit.ingest_log "
        "WHERE extract = 'labs'",
    ) == [(4, 2, 0, 2)]


def test_duplicates_compare_nulls_as_equal_and_extras_as_content(staged):
    """Issue 17 prefilters by a hash of all columns; the result must stay the exact comparison:
    NULL equals NULL (empty reference_high), an extra column is content (ward differs)."""
    con = staged(
        labs="""
        patient_id,collected_at,test_code,test_name,value,unit,reference_high,ward
        P1,2020-01-08,751-8,ANC,3.2,10^9/L,,oak
        P1,2020-01-08,751-8,ANC,3.2,10^9/L,,elm
        P1,2020-01-08,751-8,ANC,3.2,10^9/L,,oak
        P1,2020-01-08,751-8,ANC,3.2,10^9/L,,
        P1,2020-01-08,751-8,ANC,3.2,10^9/L,,
        """
    )
    assert rows(con, "SELECT source_row, extras.ward FROM staging.labs ORDER BY 1") == [
        (1, "oak"),
        (2, "elm"),
        (4, None),
    ]
    assert rows(
        con, "SELECT accepted, duplicates FROM audit.ingest_log WHERE extract = 'labs'"
    ) == [(3, 2)]


def test_extra_columns_are_kept(staged):
    con = staged(
        patients="""
        patient_id,birth_date,sex,ward
        P1,1980-01-02,F,oak
        """
    )
    assert rows(con, "SELECT patient_id, extras.ward, site FROM staging.patients") == [
        ("P1", "oak", None)
    ]


def test_every_extract_reconciles(staged):
    con = staged(
        labs=labs(
            "P1,2020-01-08,751-8,ANC,3.2,10^9/L,",
            "P1,2020-01-08,751-8,ANC,3.2,10^9/L,",
            "P9,2020-01-08,751-8,ANC,3.2,10^9/L,",
        )
    )
    for extract, read, accepted, quarantined, duplicates in rows(
        con, "SELECT extract, rows_read, accepted, quarantined, duplicates FROM audit.ingest_log"
    ):
        assert read == accepted + quarantined + duplicates, extract
        staged_rows = rows(con, f"SELECT count(*) FROM staging.{extract}")[0][0]
        quarantined_rows = rows(con, f"SELECT count(*) FROM quarantine.{extract}")[0][0]
        assert (staged_rows, quarantined_rows) == (accepted, quarantined), extract
    assert rows(
        con, "SELECT accepted, quarantined, duplicates FROM audit.ingest_log WHERE extract = 'labs'"
    ) == [(1, 1, 1)]
