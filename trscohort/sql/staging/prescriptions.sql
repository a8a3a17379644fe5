{%- import 'macros.sql' as m with context -%}
-- Prescriptions, typed, with the drug name mapped to a reference concept. A name in neither
-- reference list is quarantined rather than guessed (it could be an antipsychotic: TRS-2).
WITH typed AS (
    SELECT
        src.*,
        {{ m.blank('patient_id') }} AS p_patient_id,
        {{ m.blank('drug') }} AS p_drug,
        {{ m.norm_text('drug') }} AS drug_key,
        {{ m.parse_date('start_date') }} AS p_start_date,
        {{ m.parse_date('end_date') }} AS p_end_date,
        {{ m.parse_number('daily_dose_mg') }} AS p_daily_dose_mg,
        {{ m.normalise_route('route') }} AS p_route,
        {{ m.blank('prescription_id') }} AS p_prescription_id
    FROM raw.prescriptions AS src
),

{{ m.resolve_drug('typed') }}

SELECT
    _row,
    p_prescription_id AS prescription_id,
    p_patient_id AS patient_id,
    p_drug AS drug,
    d_concept_id AS drug_concept_id,
    d_generic_name AS generic_name,
    d_drug_class AS drug_class,
    coalesce(d_is_antipsychotic, FALSE) AS is_antipsychotic,
    coalesce(d_is_clozapine, FALSE) AS is_clozapine,
    coalesce(d_is_lai, FALSE) AS is_lai,
    p_start_date AS start_date,
    p_end_date AS end_date,
    p_daily_dose_mg AS daily_dose_mg,
    coalesce(p_route, CASE WHEN d_is_lai THEN 'lai' ELSE 'oral' END) AS route,
    {{ m.extras(m.drug_helper_columns) }},
    {{ m.collect([
        m.patient_reasons('start_date', 'p_start_date'),
        m.drug_reasons(),
        m.require('start_date'),
        m.check_date('start_date', 'p_start_date'),
        m.check_date('end_date', 'p_end_date'),
        m.reason('p_end_date < p_start_date', "'end_date before start_date'"),
        m.check_number('daily_dose_mg', 'p_daily_dose_mg'),
        m.reason('p_daily_dose_mg <= 0', "'daily_dose_mg not positive: ' || CAST(p_daily_dose_mg AS VARCHAR)"),
    ] | join(',\n        ')) }} AS _reason
FROM with_drug
