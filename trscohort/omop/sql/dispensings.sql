{%- import '_omop.sql' as o with context -%}
-- drug_exposure rows whose drug_type_concept_id is a dispensing (omop.dispensing_type_concept_ids,
-- default 32825 "EHR dispensing", and their descendants) -> raw.dispensings; they feed
-- adherence (TRS-5, SAF-DISPENSE) exactly as a dispensings extract does. The drug is resolved
-- as for prescriptions (macro drug_rows). days_supply: days_supply, else end - start + 1.
WITH {{ o.drug_rows('dispensings') }}

SELECT
    drug_exposure_id AS _row,
    {{ o.patient_id('person_id') }} AS patient_id,
    drug_text AS drug,
    drug_exposure_start_date AS dispensed_date,
    coalesce({{ o.number_text('days_supply') }}, CAST(CAST(exposure_days AS BIGINT) AS VARCHAR)) AS days_supply
FROM drug_rows
