"""Issue 12: real site data. Every source value is mapped (site vocabulary or wider built-in
coverage), reported (audit.unmapped_values, the data-quality report, `vocab suggest`), or
deliberately ignored, and never silently lost. Hand-written extracts, answers worked out by hand.
"""

from __future__ import annotations

import textwrap

import duckdb
import pytest
import yaml

from tests.conftest import BASE_EXTRACTS, ingest_folder, rows, write_extracts
from tests.test_clozapine_helpers import LAB_HEADER, PATIENTS, RX_HEADER, d, titrated
from trscohort.config import load_config
from trscohort.contract import load_mapping
from trscohort.errors import UsageError
from trscohort.models import build_transform
from trscohort.quality.report import render_report
from trscohort.run_parameters import record_run_parameters
from trscohort.vocab.checks import raise_on_errors
from trscohort.vocab.unmapped import audit_vocabulary

DX = "patient_id,code,code_system,diagnosed_at,description\nP1,F20.0,ICD10,2019-06-01,"


def mapping_file(tmp_path, text: str):
    path = tmp_path / "mapping.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def ingest(tmp_path, extracts: dict[str, str], mapping: str | None = None):
    folder = write_extracts(tmp_path / "input", {**BASE_EXTRACTS, **extracts})
    return ingest_folder(folder, mapping_file(tmp_path, mapping) if mapping else None)


def clozapine_case(tmp_path, labs: list[str], mapping: str | None = None, as_of: int = 30):
    """P1 titrated on clozapine from DAY0; the labs given; every model built."""
    extracts = {
        "patients": PATIENTS,
        "prescriptions": "\n".join([RX_HEADER, *titrated("P1")]),
        "labs": "\n".join([LAB_HEADER, *labs]),
        "diagnoses": DX,
    }
    con = ingest(tmp_path, extracts, mapping)
    config = load_config()
    record_run_parameters(con, config, as_of=d(as_of), input_dir="x", mapping_path=None)
    build_transform(con, config)
    return con


# --- the site vocabulary ---------------------------------------------------------------------


def test_site_lab_code_mapped_through_concepts_reaches_anc_results_and_neutropenia(tmp_path):
    labs = [
        f"P1,{d(-2)},NEUT-ABS-LAB7,,3.1,x10^9/L,",
        f"P1,{d(9)},NEUT-ABS-LAB7,,0.4,x10^9/L,",  # 400 /uL: severe, AE-NEU (< 500)
    ]
    con = clozapine_case(tmp_path, labs, 'concepts:\n  labs: {"NEUT-ABS-LAB7": anc}\n')
    assert rows(con, "SELECT analyte, mapped_by, value FROM staging.labs ORDER BY 3") == [
        ("anc", "site_vocabulary", 400.0),
        ("anc", "site_vocabulary", 3100.0),
    ]
    assert rows(
        con, "SELECT anc_per_ul, anc_category FROM marts.anc_results ORDER BY collected_date"
    ) == [(3100.0, "normal"), (400.0, "severe")]
    assert rows(
        con, "SELECT event_id, onset_date FROM marts.adverse_events WHERE patient_id = 'P1'"
    ) == [("AE-NEU", d(9))]


def test_without_the_mapping_the_same_labs_are_unmapped_not_lost(tmp_path):
    labs = [f"P1,{d(9)},NEUT-ABS-LAB7,,0.4,x10^9/L,"]
    con = clozapine_case(tmp_path, labs)
    assert rows(con, "SELECT analyte, mapped_by FROM staging.labs") == [(None, None)]
    assert rows(con, "SELECT count(*) FROM quarantine.labs") == [(0,)]
    assert rows(con, "SELECT count(*) FROM marts.anc_results") == [(0,)]
    _count, checks = audit_vocabulary(con, load_config())
    with pytest.raises(UsageError) as failed:
        raise_on_errors(checks)
    assert str(failed.value) == (
        "no ANC results recognised for 1 clozapine patients; unmapped lab names: "
        "'NEUT-ABS-LAB7' (1 rows); map them under concepts.labs"
    )


def test_concepts_for_drugs_and_diagnoses_and_ignore(tmp_path):
    con = ingest(
        tmp_path,
        {
            "prescriptions": """
                patient_id,drug,start_date,end_date,daily_dose_mg,route,prescription_id
                P1,CLZ-HOUSE-BRAND,2020-01-01,,300,,RX1
                P1,Omeprazole 20mg caps,2020-01-01,,20,,RX2
                P1,Mystery syrup,2020-01-01,,5,,RX3
            """,
            "diagnoses": """
                patient_id,code,code_system,diagnosed_at,description
                P1,SCZ-PARANOID,LOCAL,2019-06-01,paranoid schizophrenia
                P1,F20.0,LOCAL,2019-06-02,not an ICD-10 system
            """,
        },
        """
        concepts:
          drugs: {"clz-house-brand": Clozapine, "omeprazole": ignore}
          diagnoses: {"SCZ-PARANOID": F20.0}
        """,
    )
    assert rows(
        con,
        "SELECT drug, drug_concept_id, is_clozapine, mapped_by FROM staging.prescriptions "
        "ORDER BY source_row",
    ) == [
        ("CLZ-HOUSE-BRAND", "clozapine", True, "site_vocabulary"),
        ("Omeprazole 20mg caps", None, False, "ignored"),  # cleaned name 'omeprazole' matched
        ("Mystery syrup", None, False, None),
    ]
    assert rows(
        con, "SELECT code, code_system, source_code, mapped_by FROM staging.diagnoses ORDER BY 3"
    ) == [(None, "LOCAL", "F200", None), ("F200", "ICD10", "SCZ-PARANOID", "site_vocabulary")]
    audit_vocabulary(con, load_config())
    assert rows(
        con, "SELECT extract, field, source_value, n_rows FROM audit.unmapped_values ORDER BY 3"
    ) == [("diagnoses", "code", "F200", 1), ("prescriptions", "drug", "Mystery syrup", 1)]


def test_concepts_csv_file_like_a_source_to_concept_map(tmp_path):
    (tmp_path / "site_concepts.csv").write_text(
        "source_value,domain,concept,note\n"
        "CLOZ LVL,labs,clozapine_level,lab scientist 2024-05\n"
        "NEUT-ABS-LAB7,labs,anc,\n"
    )
    con = ingest(
        tmp_path,
        {
            "labs": """
                patient_id,collected_at,test_code,test_name,value,unit,reference_high
                P1,2020-01-08,,cloz  lvl,420,ng/mL,
                P1,2020-01-08,neut-abs-lab7,,2.1,10^9/L,
            """
        },
        "concepts:\n  file: site_concepts.csv\n",
    )
    assert rows(con, "SELECT analyte, value FROM staging.labs ORDER BY 1") == [
        ("anc", 2100.0),
        ("clozapine_level", 420.0),
    ]


@pytest.mark.parametrize(
    ("concepts", "message"),
    [
        ("procedures: {X: Y}", "concepts: unknown domain 'procedures'"),
        ("labs: {NEUT7: neutrophil_pct}", "concepts.labs 'NEUT7': unknown lab analyte"),
        ("drugs: {Cloz: clozapinex}", "concepts.drugs 'Cloz': unknown drug 'clozapinex'"),
        ("diagnoses: {SCZ: schizophrenia}", "'SCZ': 'schizophrenia' is not an ICD-10 code"),
        ("labs: {NEUT7: ''}", "concepts.labs 'NEUT7': the concept must be a non-empty text"),
        ("labs: [anc]", "concepts.labs must map source values to concepts"),
        ("file: missing.csv", "concepts file"),
        ("labs: {ANC1: anc, anc1: wbc}", "'anc1' is mapped to wbc here and to anc"),
    ],
)
def test_bad_concepts_are_one_line_usage_errors(tmp_path, concepts, message):
    path = mapping_file(tmp_path, f"concepts:\n  {concepts}\n")
    with pytest.raises(UsageError) as failed:
        load_mapping(path)
    assert message in str(failed.value)
    assert "\n" not in str(failed.value)


def test_bad_concepts_csv_names_the_line_and_the_run_exits_2(tmp_path, capsys):
    from trscohort.cli import main

    (tmp_path / "c.csv").write_text("source_value,domain,concept\nNEUT7,labs,anc\nX,lab,anc\n")
    path = mapping_file(tmp_path, "concepts: {file: c.csv}\n")
    folder = write_extracts(tmp_path / "in", BASE_EXTRACTS)
    code = main(["run", "--input", str(folder), "--mapping", str(path),
                 "--warehouse", str(tmp_path / "w.duckdb")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert (
        err
        == "error: c.csv line 3: unknown domain 'lab' (known: labs, drugs, diagnoses, assessments)"
    )


# --- wider built-in coverage -----------------------------------------------------------------


def test_loinc_long_and_short_names_map_without_a_mapping_file(staged):
    con = staged(
        labs="""
        patient_id,collected_at,test_code,test_name,value,unit,reference_high
        P1,2020-01-08,,Clozapine [Mass/volume] in Serum or Plasma,420,ng/mL,
        P1,2020-01-08,,Neutrophils [#/volume] in Blood by Automated count,2.1,10*3/uL,
        P1,2020-01-08,,Neutrophils # Bld Auto,2.2,10^9/L,
        P1,2020-01-08,,Norclozapine [Mass/volume] in Serum or Plasma,250,ng/mL,
        P1,2020-01-08,,C reactive protein [Mass/volume] in Serum or Plasma,12,mg/L,
        P1,2020-01-08,,CRP SerPl-mCnc,13,mg/L,
        P1,2020-01-08,,Hemoglobin A1c/Hemoglobin.total in Blood,6.5,%,
        P1,2020-01-08,,WBC # Bld Auto,6.1,10^9/L,
        P1,2020-01-08,,Troponin I.cardiac [Mass/volume] in Serum or Plasma,0.02,ng/mL,
        """
    )
    assert rows(con, "SELECT analyte, round(value, 2) FROM staging.labs ORDER BY source_row") == [
        ("clozapine_level", 420.0),
        ("anc", 2100.0),
        ("anc", 2200.0),
        ("norclozapine_level", 250.0),
        ("crp", 12.0),
        ("crp", 13.0),
        ("hba1c", 47.54),  # (6.5 - 2.15) x 10.929 = 47.541
        ("wbc", 6100.0),
        ("troponin", 20.0),
    ]


def test_local_anc_spellings_and_unit_spellings(staged):
    con = staged(
        labs="""
        patient_id,collected_at,test_code,test_name,value,unit,reference_high
        P1,2020-01-08,,Neutrophils,0.4,10⁹/L,
        P1,2020-01-08,,Neut Abs,1.5,×10^9/l,
        P1,2020-01-08,,NEUT#,1.6,G/L,
        P1,2020-01-08,,ANC (auto),1.7,K/uL,
        P1,2020-01-08,,"Neutrophils, Absolute",1800,cells/mcL,
        P1,2020-01-08,,Neut,1900,/mm³,
        P1,2020-01-08,,Neutrophils,55,%,
        """
    )
    assert rows(con, "SELECT analyte, value FROM staging.labs ORDER BY source_row") == [
        ("anc", 400.0),
        ("anc", 1500.0),
        ("anc", 1600.0),
        ("anc", 1700.0),
        ("anc", 1800.0),
        ("anc", 1900.0),
        (None, None),  # "Neutrophils" in % is the differential: kept, unmapped, not quarantined
    ]
    assert rows(con, "SELECT count(*) FROM quarantine.labs") == [(0,)]


def test_timestamps_with_a_utc_offset_keep_their_clock_time(staged):
    con = staged(
        labs="""
        patient_id,collected_at,test_code,test_name,value,unit,reference_high
        P1,2020-01-08T23:30:00+01:00,751-8,ANC,3.2,10^9/L,
        P1,2020-01-08T08:15:00Z,751-8,ANC,3.3,10^9/L,
        P1,2020-01-08 08:15:00.123-0500,751-8,ANC,3.4,10^9/L,
        P1,2020-01-08 08:15 UTC,751-8,ANC,3.5,10^9/L,
        P1,2020-01-09,751-8,ANC,3.6,10^9/L,
        """
    )
    assert rows(con, "SELECT CAST(collected_at AS VARCHAR) FROM staging.labs ORDER BY 1") == [
        ("2020-01-08 08:15:00",),
        ("2020-01-08 08:15:00",),
        ("2020-01-08 08:15:00.123",),
        ("2020-01-08 23:30:00",),
        ("2020-01-09 00:00:00",),
    ]


# The omeprazole plus 20 other common non-psychiatric drugs (none in a reference list;
# statins and antidepressants joined the reference in issue 18, so other drugs replace them).
COMMON_OTHER_DRUGS = [
    "Omeprazole 20mg gastro-resistant capsules", "Hyoscine hydrobromide 300 microgram tablets",
    "Losartan 50mg tablets", "Paracetamol 500mg", "Ibuprofen 400mg", "Amlodipine 5mg",
    "Furosemide 40mg", "Cetirizine 10mg", "Ramipril 5mg", "Bisoprolol 2.5mg",
    "Levothyroxine 50 micrograms", "Salbutamol 100micrograms inhaler", "Lansoprazole 30mg",
    "Prednisolone 5mg", "Doxycycline 100mg", "Propranolol 40mg", "Metoclopramide 10mg",
    "Amoxicillin 500mg capsules", "Folic acid 5mg", "Thiamine 100mg", "Nicotine 21mg/24h patch",
]  # fmt: skip


def test_common_non_psychiatric_drugs_are_other_drugs_counted_not_quarantined(tmp_path):
    lines = [
        f"P1,{drug},2020-01-01,2020-02-01,10,,RX{i}" for i, drug in enumerate(COMMON_OTHER_DRUGS)
    ]
    con = ingest(
        tmp_path,
        {"prescriptions": "\n".join([RX_HEADER, "P1,olanzapine,2020-01-01,,20,oral,RX99", *lines])},
    )
    assert len(COMMON_OTHER_DRUGS) == 21
    assert rows(con, "SELECT count(*) FROM quarantine.prescriptions") == [(0,)]
    assert rows(
        con,
        "SELECT count(*), count(*) FILTER (WHERE NOT is_antipsychotic AND drug_concept_id IS NULL) "
        "FROM staging.prescriptions WHERE drug <> 'olanzapine'",
    ) == [(21, 21)]
    assert rows(
        con,
        "SELECT rows_read, accepted, quarantined FROM audit.ingest_log WHERE extract = 'prescriptions'",
    ) == [(22, 22, 0)]
    audit_vocabulary(con, load_config())
    assert rows(
        con,
        "SELECT count(*), sum(n_rows), count(looks_like) FROM audit.unmapped_values "
        "WHERE extract = 'prescriptions'",
    ) == [(21, 21, 0)]


@pytest.mark.parametrize(
    ("written", "concept", "route"),
    [
        ("Clozapine Mylan 100mg tab", "clozapine", ""),
        ("CLOZARIL 25MG TABLETS", "clozapine", ""),
        ("Mylan clozapine 100 mg", "clozapine", ""),
        ("ZYPREXA 10MG FILM-COATED TABLETS", "olanzapine", ""),
        ("Olanzapine 5mg orodispersible tablets (Teva)", "olanzapine", ""),
        ("Quetiapine XL 300mg prolonged-release tablets", "quetiapine", ""),
        ("Chlorpromazine hydrochloride 25mg/5ml oral solution", "chlorpromazine", ""),
        ("Haloperidol (as decanoate) 50mg/ml injection", "haloperidol_decanoate", ""),
        ("Risperdal Consta 37.5mg vial", "risperidone_lai", "lai"),
        ("Paliperidone palmitate 100mg prefilled syringe", "paliperidone_palmitate", "lai"),
        ("Sodium valproate 500mg gastro-resistant tablets", "valproate", ""),
        ("Lorazepam 1mg tab", "lorazepam", ""),
    ],
)
def test_brand_and_pack_descriptions_map_to_their_concept(staged, written, concept, route):
    con = staged(
        prescriptions=f"""
        patient_id,drug,start_date,end_date,daily_dose_mg,route,prescription_id
        P1,"{written}",2020-01-01,,2,{route},RX1
        """
    )
    assert rows(con, "SELECT drug_concept_id, mapped_by FROM staging.prescriptions") == [
        (concept, "reference")
    ]


# --- long-acting injectables -------------------------------------------------------------------

PALI_HEADER = RX_HEADER + ",dose_mg,interval_days"


def _lai(tmp_path, *lines: str):
    con = ingest(tmp_path, {"prescriptions": "\n".join([PALI_HEADER, *lines])})
    config = load_config()
    record_run_parameters(con, config, as_of=d(120), input_dir="x", mapping_path=None)
    build_transform(con, config)
    return con


def test_lai_per_injection_dose_with_interval_becomes_a_daily_dose(tmp_path):
    # paliperidone palmitate 100 mg every 28 days = 3.5714 mg/day; no G10 factor, so L16, whose
    # value is the WHO depot DDD 2.5 mg / 3 = 0.8333 mg/day = 100 mg CPZ (issue 13 keeps it
    # unrounded): 3.5714 x 100 x 3 / 2.5 = 428.57 mg CPZ-eq (TRS-4).
    con = _lai(tmp_path, f"P1,paliperidone palmitate,{d(0)},{d(90)},,lai,RX1,100,28")
    assert rows(
        con,
        "SELECT round(daily_dose_mg, 4), dose_mg, interval_days, dose_basis, is_lai "
        "FROM staging.prescriptions",
    ) == [(3.5714, 100.0, 28.0, "dose_mg / interval_days", True)]
    assert rows(
        con,
        "SELECT round(cpz_equivalent_mg, 2), cpz_method FROM intermediate.antipsychotic_prescriptions",
    ) == [(428.57, "leucht2016")]


def test_lai_per_injection_dose_written_as_daily_is_quarantined_not_12000_cpz(tmp_path):
    con = _lai(tmp_path, f"P1,paliperidone palmitate,{d(0)},{d(90)},100,lai,RX1,,")
    assert rows(con, "SELECT count(*) FROM staging.prescriptions") == [(0,)]
    assert rows(con, "SELECT count(*) FROM intermediate.antipsychotic_prescriptions") == [(0,)]
    (reason,) = rows(con, "SELECT reason FROM quarantine.prescriptions")[0]
    assert reason == (
        "daily dose 100 mg/day is implausible for the long-acting injectable "
        "paliperidone_palmitate (at most 66.9 mg/day by its label): it looks like a "
        "per-injection dose in daily_dose_mg; give dose_mg and interval_days instead (or "
        "daily_dose_mg = dose / interval)"
    )
    _count, checks = audit_vocabulary(con, load_config())
    assert [c.check_id for c in checks if c.check_id == "TRS-4-LAI"] == ["TRS-4-LAI"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # the daily equivalent written directly is fine
        ("P1,Invega Sustenna,{s},,3.57,lai,RX1,,", None),
        # both given and agreeing (3.6 vs 3.5714: 0.8 % < 5 %)
        ("P1,paliperidone palmitate,{s},,3.6,lai,RX1,100,28", None),
        ("P1,paliperidone palmitate,{s},,10,lai,RX1,100,28",
         "daily_dose_mg 10 disagrees with dose_mg / interval_days = 3.57; give one of them, or make them agree"),
        ("P1,paliperidone palmitate,{s},,,lai,RX1,100,",
         "dose_mg without interval_days: the daily dose cannot be derived; add interval_days (days between doses) or daily_dose_mg"),
        ("P1,paliperidone palmitate,{s},,,lai,RX1,100,0", "interval_days not in 1...366: 0"),
        ("P1,paliperidone palmitate,{s},,,lai,RX1,5000,182",
         "dose_mg 5000 is above the largest labelled injection of paliperidone_palmitate (1560 mg)"),
    ],
)  # fmt: skip
def test_lai_dose_checks(staged, line, expected):
    con = staged(prescriptions="\n".join([PALI_HEADER, line.format(s="2020-01-01")]))
    got = rows(con, "SELECT reason FROM quarantine.prescriptions")
    assert got == ([] if expected is None else [(expected,)])


def test_a_prescriptions_file_without_any_dose_column_is_a_contract_error(tmp_path):
    from trscohort.errors import ContractError

    with pytest.raises(ContractError, match="missing dose column"):
        ingest(
            tmp_path,
            {"prescriptions": "patient_id,drug,start_date,end_date\nP1,olanzapine,2020-01-01,"},
        )


# --- the unmapped-values report, the loud checks, `vocab suggest` ------------------------------


MESSY_LABS = [
    f"P1,{d(-2)},NEUT-ABS-LAB7,,3.1,x10^9/L,",
    f"P1,{d(9)},NEUT-ABS-LAB7,,2.9,x10^9/L,",
    f"P1,{d(10)},,Neutrophils,61,%,",
    f"P1,{d(16)},,CLOZ LVL,420,ng/mL,",
    f"P1,{d(16)},,Clozapine [Mass/volume] in Serum or Plasma,430,ng/mL,",
]


def test_unmapped_values_table_and_report_section(tmp_path):
    extracts = {
        "patients": PATIENTS,
        "prescriptions": "\n".join(
            [RX_HEADER, *titrated("P1"), f"P1,Clozapin 25mg,{d(0)},{d(3)},25,,RXT",
             f"P2,Omeprazole 20mg,{d(0)},,20,,RXO", f"P3,Omeprazole 20mg,{d(0)},,20,,RXP"]
        ),
        "labs": "\n".join([LAB_HEADER, *MESSY_LABS]),
        "diagnoses": DX,
    }  # fmt: skip
    con = ingest(tmp_path, extracts, 'concepts:\n  labs: {"NEUT-ABS-LAB7": anc}\n')
    count, checks = audit_vocabulary(con, load_config())
    got = rows(
        con,
        "SELECT rank, extract, field, source_value, unit, n_rows, n_patients, first_date, "
        "last_date, suggested_concept, looks_like FROM audit.unmapped_values ORDER BY rank",
    )
    assert count == 4
    assert got == [
        (1, "prescriptions", "drug", "Omeprazole 20mg", None, 2, 2, d(0), d(0), None, None),
        (2, "labs", "test_name", "CLOZ LVL", "ng/mL", 1, 1, d(16), d(16), None, None),
        (3, "labs", "test_name", "Neutrophils", "%", 1, 1, d(10), d(10), "anc", None),
        (4, "prescriptions", "drug", "Clozapin 25mg", None, 1, 1, d(0), d(0), "clozapine",
         "clozapine"),
    ]  # fmt: skip
    messages = [c.message for c in checks]
    assert (
        "unmapped prescriptions drug 'Clozapin 25mg' (1 rows) looks like clozapine (suggested "
        "clozapine, score 94); map it under concepts.drugs"
    ) in messages
    assert not [c for c in checks if c.severity == "error"]  # ANC and levels were recognised
    html = render_report(con)
    assert "<h2 id='unmapped'>Unmapped source values</h2>" in html
    assert "<code>Clozapin 25mg</code>" in html and "<td class='looks'>clozapine</td>" in html
    assert "<td>&lt;11</td>" in html  # small counts suppressed


def test_vocabulary_warnings_when_levels_antipsychotics_and_schizophrenia_are_absent(tmp_path):
    extracts = {
        "patients": PATIENTS,
        "prescriptions": "\n".join([RX_HEADER, f"P1,Leponex-X 100,{d(0)},,100,,RX1",
                                    f"P2,Calm-Tab,{d(0)},,5,,RX2"]),
        "labs": "\n".join([LAB_HEADER, f"P1,{d(1)},,CLOZ LVL,420,ng/mL,"]),
        "diagnoses": "patient_id,code,code_system,diagnosed_at,description\nP1,SCZ,LOCAL,2019-01-01,",
    }  # fmt: skip
    con = ingest(tmp_path, extracts, "concepts:\n  drugs: {Leponex-X 100: clozapine}\n")
    config = load_config(
        mapping_file(tmp_path, "vocabulary: {fail_on_clozapine_without_anc: false}\n")
    )
    _count, checks = audit_vocabulary(con, config)
    by_id = {c.check_id: c for c in checks}
    assert by_id["MON-ANC"].severity == "warning"  # failure turned into a warning by config
    assert by_id["MON-LVL"].message == (
        "no clozapine levels recognised for 1 clozapine patients; unmapped lab names: "
        "'CLOZ LVL' (1 rows); map them under concepts.labs"
    )
    assert by_id["TRS-1"].message.startswith(
        "no schizophrenia diagnosis (F20/F25) recognised among 1 diagnoses; unmapped codes: 'SCZ'"
    )
    assert "TRS-2" not in by_id  # clozapine is an antipsychotic
    raise_on_errors(checks)  # no error


def test_vocab_suggest_writes_a_commented_draft_that_round_trips(tmp_path, capsys):
    from trscohort.cli import main

    extracts = {
        "patients": PATIENTS,
        "prescriptions": "\n".join([RX_HEADER, *titrated("P1"),
                                    f"P1,Clozapin 25mg,{d(0)},{d(3)},25,,RXT",
                                    f"P2,Omeprazole 20mg,{d(0)},,20,,RXO"]),
        "labs": "\n".join([LAB_HEADER, *MESSY_LABS]),
        "diagnoses": DX + "\nP2,SCZ-PARANOID,LOCAL,2019-01-01,paranoid schizophrenia",
    }  # fmt: skip
    folder = write_extracts(tmp_path / "in", {**BASE_EXTRACTS, **extracts})
    assert main(["vocab", "suggest", "--input", str(folder)]) == 0
    draft = capsys.readouterr().out
    assert "# DRAFT for review by a pharmacist" in draft
    entries = [line for line in draft.splitlines() if line.startswith('    # "')]
    assert entries == [
        '    # "NEUT-ABS-LAB7": anc',
        '    # "CLOZ LVL": ignore',
        '    # "Neutrophils": anc',
        '    # "Clozapin 25mg": clozapine',  # equal row counts: alphabetical
        '    # "Omeprazole 20mg": ignore',
        '    # "SCZ-PARANOID": F20',
    ]
    assert "LOOKS LIKE CLOZAPINE" in draft and "LOOKS LIKE MONITORED ANALYTE (ANC)" in draft
    assert yaml.safe_load(draft) == {"concepts": {"labs": None, "drugs": None, "diagnoses": None}}
    # A reviewer confirms the entries by removing the '# ': the result is a valid mapping.
    confirmed = draft.replace('    # "', '    "')
    path = tmp_path / "confirmed.yaml"
    path.write_text(confirmed)
    concepts = {(c.domain, c.source_value): c.concept for c in load_mapping(path).concepts}
    assert concepts[("labs", "NEUT-ABS-LAB7")] == "anc"
    assert concepts[("drugs", "Clozapin 25mg")] == "clozapine"
    assert concepts[("diagnoses", "SCZ-PARANOID")] == "F20"


def test_run_without_recognised_anc_exits_2_and_keeps_the_previous_warehouse(tmp_path, capsys):
    from trscohort.cli import main

    warehouse = tmp_path / "wh" / "w.duckdb"
    base = {
        "patients": PATIENTS,
        "prescriptions": "\n".join([RX_HEADER, *titrated("P1")]),
        "diagnoses": DX,
    }
    good = write_extracts(
        tmp_path / "good",
        {**base, "labs": "\n".join([LAB_HEADER, f"P1,{d(1)},751-8,ANC,3.1,10^9/L,"])},
    )
    assert main(["run", "--input", str(good), "--warehouse", str(warehouse),
                 "--out", str(tmp_path / "out")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "Source values without a concept: 0 (0 rows; audit.unmapped_values" in out
    before = warehouse.read_bytes()
    labs = [f"P1,{d(day)},NEUT-ABS-LAB7,,3.1,x10^9/L," for day in (1, 8, 15)]
    labs.append(f"P1,{d(8)},,Clozapine,400,ng/mL,")
    bad = write_extracts(tmp_path / "bad", {**base, "labs": "\n".join([LAB_HEADER, *labs])})
    code = main(["run", "--input", str(bad), "--warehouse", str(warehouse),
                 "--out", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        "error: no ANC results recognised for 1 clozapine patients; unmapped lab names: "
        "'NEUT-ABS-LAB7' (3 rows); map them under concepts.labs\n"
    )
    assert warehouse.read_bytes() == before
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.anc_results").fetchone() == (1,)
