{%- import 'macros.sql' as m with context -%}
-- Source values no concept could be found for, one row per extract, field and value (grouped
-- case- and space-insensitively), biggest first: drug names staged as "other drugs", lab tests
-- staged without an analyte, diagnosis codes staged without an ICD-10 code, and units that got
-- rows of a monitored analyte quarantined, and antipsychotic prescriptions without a daily dose
-- (field daily_dose_mg: TRS-4 cannot judge them; from an OMOP CDM, a dose that neither
-- drug_strength, quantity in mg nor sig gave). Values the site vocabulary marks `ignore` are left
-- out. `match_text` is what the fuzzy suggestions compare (trscohort.vocab.unmapped fills the
-- suggestion columns afterwards, for the most frequent values only). The most frequent spelling
-- is chosen with mode() WITHIN GROUP (ORDER BY ...): ties go to the first in order, so two runs agree.
WITH drug_values AS (
    SELECT 'prescriptions' AS extract, 'drug' AS field, drug_key AS value_key, drug, patient_id,
           start_date AS event_date
    FROM (SELECT *, {{ m.norm_text('drug') }} AS drug_key FROM staging.prescriptions) AS p
    WHERE drug_concept_id IS NULL AND mapped_by IS NULL
    UNION ALL
    SELECT 'dispensings', 'drug', {{ m.norm_text('drug') }}, drug, patient_id, dispensed_date
    FROM staging.dispensings
    WHERE drug_concept_id IS NULL AND mapped_by IS NULL
),

drugs AS (
    SELECT
        extract, field, value_key,
        mode() WITHIN GROUP (ORDER BY drug) AS source_value,
        CAST(NULL AS VARCHAR) AS source_code,
        CAST(NULL AS VARCHAR) AS unit,
        CAST(NULL AS VARCHAR) AS description,
        count(*) AS n_rows,
        count(DISTINCT patient_id) AS n_patients,
        min(event_date) AS first_date,
        max(event_date) AS last_date
    FROM drug_values
    GROUP BY extract, field, value_key
),

lab_values AS (
    SELECT
        CASE WHEN test_name IS NOT NULL THEN 'test_name' ELSE 'test_code' END AS field,
        {{ m.norm_text('coalesce(test_name, test_code)') }} AS value_key,
        coalesce(test_name, test_code) AS written,
        test_code, unit_as_written, patient_id, collected_date
    FROM staging.labs
    WHERE analyte IS NULL AND mapped_by IS NULL
),

labs AS (
    SELECT
        'labs' AS extract, field, value_key,
        mode() WITHIN GROUP (ORDER BY written) AS source_value,
        mode() WITHIN GROUP (ORDER BY test_code) AS source_code,
        mode() WITHIN GROUP (ORDER BY unit_as_written) AS unit,
        CAST(NULL AS VARCHAR) AS description,
        count(*) AS n_rows,
        count(DISTINCT patient_id) AS n_patients,
        min(collected_date) AS first_date,
        max(collected_date) AS last_date
    FROM lab_values
    GROUP BY field, value_key
),

unit_values AS (
    SELECT
        regexp_extract(reason, 'unit not recognised for ([a-z_0-9]+)', 1) AS analyte,
        TRIM(unit) AS unit,
        TRIM(patient_id) AS patient_id,
        TRY_CAST(left(TRIM(collected_at), 10) AS DATE) AS collected_date
    FROM quarantine.labs
    WHERE reason LIKE '%unit not recognised for %'
),

units AS (
    SELECT
        'labs' AS extract, 'unit' AS field,
        analyte || ': ' || {{ m.norm_text('unit') }} AS value_key,
        mode() WITHIN GROUP (ORDER BY unit) AS source_value,
        CAST(NULL AS VARCHAR) AS source_code,
        analyte AS unit,
        CAST(NULL AS VARCHAR) AS description,
        count(*) AS n_rows,
        count(DISTINCT patient_id) AS n_patients,
        min(collected_date) AS first_date,
        max(collected_date) AS last_date
    FROM unit_values
    GROUP BY analyte, {{ m.norm_text('unit') }}
),

diagnoses AS (
    SELECT
        'diagnoses' AS extract, 'code' AS field, source_code AS value_key,
        mode() WITHIN GROUP (ORDER BY source_code) AS source_value,
        mode() WITHIN GROUP (ORDER BY code_system) AS source_code,
        CAST(NULL AS VARCHAR) AS unit,
        mode() WITHIN GROUP (ORDER BY description) AS description,
        count(*) AS n_rows,
        count(DISTINCT patient_id) AS n_patients,
        min(diagnosed_at) AS first_date,
        max(diagnosed_at) AS last_date
    FROM staging.diagnoses
    WHERE code IS NULL AND mapped_by IS NULL
    GROUP BY source_code
),

doses AS (
    SELECT
        'prescriptions' AS extract, 'daily_dose_mg' AS field, {{ m.norm_text('drug') }} AS value_key,
        mode() WITHIN GROUP (ORDER BY drug) AS source_value,
        mode() WITHIN GROUP (ORDER BY drug_concept_id) AS source_code,
        CAST(NULL AS VARCHAR) AS unit,
        'antipsychotic prescription without a daily dose' AS description,
        count(*) AS n_rows,
        count(DISTINCT patient_id) AS n_patients,
        min(start_date) AS first_date,
        max(start_date) AS last_date
    FROM staging.prescriptions
    WHERE is_antipsychotic AND daily_dose_mg IS NULL
    GROUP BY {{ m.norm_text('drug') }}
),

all_values AS (
    SELECT * FROM drugs
    UNION ALL SELECT * FROM labs
    UNION ALL SELECT * FROM units
    UNION ALL SELECT * FROM diagnoses
    UNION ALL SELECT * FROM doses
)

SELECT
    CAST(row_number() OVER (ORDER BY n_rows DESC, n_patients DESC, extract, field, value_key) AS INTEGER) AS rank,
    extract,
    field,
    value_key,
    source_value,
    source_code,
    unit,
    description,
    n_rows,
    n_patients,
    first_date,
    last_date,
    CASE
        WHEN field = 'drug' THEN {{ m.drug_clean('source_value') }}
        WHEN field IN ('test_name', 'test_code') THEN {{ m.lab_key('source_value') }}
        WHEN field = 'unit' THEN {{ m.norm_unit('source_value') }}
        WHEN field = 'daily_dose_mg' THEN NULL
        ELSE lower(coalesce(description, source_value))
    END AS match_text,
    CAST(NULL AS VARCHAR) AS suggested_concept,
    CAST(NULL AS DOUBLE) AS suggestion_score,
    CAST(NULL AS VARCHAR) AS suggestion_match,
    CAST(NULL AS VARCHAR) AS looks_like
FROM all_values
