{%- import 'macros.sql' as m with context -%}
-- Pharmacy dispensings, typed, with the drug mapped as for prescriptions (TRS-5 adherence); a
-- name that matches nothing is staged as an "other drug" and listed in audit.unmapped_values.
WITH typed AS (
    SELECT
        src.*,
        {{ m.blank('patient_id') }} AS p_patient_id,
        {{ m.blank('drug') }} AS p_drug,
        {{ m.norm_text('drug') }} AS drug_key,
        {{ m.parse_date('dispensed_date') }} AS p_dispensed_date,
        {{ m.parse_number('days_supply') }} AS p_days_supply
    FROM raw.dispensings AS src
),

{{ m.resolve_drug('typed', has_route=False, raw='raw.dispensings') }}

SELECT
    _row,
    p_patient_id AS patient_id,
    p_drug AS drug,
    d_concept_id AS drug_concept_id,
    d_generic_name AS generic_name,
    coalesce(d_is_antipsychotic, FALSE) AS is_antipsychotic,
    coalesce(d_is_clozapine, FALSE) AS is_clozapine,
    drug_mapped_by AS mapped_by,
    p_dispensed_date AS dispensed_date,
    CAST(p_days_supply AS INTEGER) AS days_supply,
    {{ m.extras(m.drug_helper_columns) }},
    {{ m.collect([
        m.patient_reasons('dispensed_date', 'p_dispensed_date'),
        m.drug_reasons(),
        m.require('dispensed_date'),
        m.check_date('dispensed_date', 'p_dispensed_date'),
        m.require('days_supply'),
        m.check_number('days_supply', 'p_days_supply'),
        m.reason('p_days_supply <= 0 OR p_days_supply > 366 OR p_days_supply <> round(p_days_supply)',
                 "'days_supply not a whole number of days in 1..366: ' || " ~ m.shown('days_supply')),
    ] | join(',\n        ')) }} AS _reason
FROM with_drug
