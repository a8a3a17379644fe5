{%- import '_omop.sql' as o with context -%}
-- drug_exposure rows that are not dispensings -> raw.prescriptions: prescription types
-- (omop.prescription_type_concept_ids, default 32838 "EHR prescription", and descendants) and,
-- with omop.other_drug_types_as_prescriptions (default true), every other type (EHR
-- administrations, claims ...). The drug is the ingredient (macro drug_rows); a long-acting
-- injectable gets route 'lai' (its generic name then selects the long-acting form in staging).
-- Daily dose, the first that applies:
--   1 drug_strength (CDM vocabulary) for the drug and its chosen ingredient:
--     amount (mg) x quantity / days, or numerator (mg) x quantity / days (liquids, injectables)
--   2 an ingredient-level concept with dose_unit_source_value 'mg': quantity / days
--   3 sig "N mg daily" (also "N mg once daily / per day / a day / od / nocte / at night";
--     "N mg bd / twice daily" x2, "tds / three times daily" x3, "qds / four times daily" x4)
--   4 unknown: daily_dose_mg NULL, listed in audit.unmapped_values (field daily_dose_mg)
-- days = days_supply when positive, else end - start + 1.
WITH {{ o.drug_rows('prescriptions') }},

sig_parts AS (
    SELECT
        *,
        regexp_extract(lower(TRIM(sig)),
            '^([0-9]+(\.[0-9]+)?)\s*mg\s*(/\s*day|daily|once daily|once a day|per day|a day|od|qd|nocte|at night|mane|in the morning|bd|bid|twice daily|twice a day|tds|tid|three times daily|three times a day|qds|qid|four times daily|four times a day)$',
            1) AS sig_mg,
        regexp_extract(lower(TRIM(sig)),
            '^([0-9]+(\.[0-9]+)?)\s*mg\s*(/\s*day|daily|once daily|once a day|per day|a day|od|qd|nocte|at night|mane|in the morning|bd|bid|twice daily|twice a day|tds|tid|three times daily|three times a day|qds|qid|four times daily|four times a day)$',
            3) AS sig_frequency
    FROM drug_rows
),

dosed AS (
    SELECT
        *,
        coalesce(
            CASE WHEN exposure_days > 0 THEN coalesce(amount_mg, numerator_mg) * TRY_CAST(quantity AS DOUBLE) / exposure_days END,
            CASE WHEN ingredient_level AND lower(TRIM(dose_unit_source_value)) = 'mg' AND exposure_days > 0
                 THEN TRY_CAST(quantity AS DOUBLE) / exposure_days END,
            TRY_CAST(NULLIF(sig_mg, '') AS DOUBLE) * CASE
                WHEN sig_frequency IN ('bd', 'bid', 'twice daily', 'twice a day') THEN 2
                WHEN sig_frequency IN ('tds', 'tid', 'three times daily', 'three times a day') THEN 3
                WHEN sig_frequency IN ('qds', 'qid', 'four times daily', 'four times a day') THEN 4
                ELSE 1 END
        ) AS daily_mg
    FROM sig_parts
)

SELECT
    drug_exposure_id AS _row,
    {{ o.patient_id('person_id') }} AS patient_id,
    drug_text AS drug,
    drug_exposure_start_date AS start_date,
    drug_exposure_end_date AS end_date,
    {{ o.number_text('CAST(daily_mg AS VARCHAR)') }} AS daily_dose_mg,
    route_text AS route,
    CAST(drug_exposure_id AS VARCHAR) AS prescription_id,
    CAST(NULL AS VARCHAR) AS dose_mg,
    CAST(NULL AS VARCHAR) AS interval_days
FROM dosed
