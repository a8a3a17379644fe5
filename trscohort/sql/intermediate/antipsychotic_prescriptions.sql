-- Antipsychotic prescriptions (clozapine included) with the end capped at the as-of date or
-- death, and each dose as chlorpromazine equivalents (TRS-4): dose x numerator / denominator of
-- the source value (reference.drugs), multiplied before dividing so that exact equivalents stay
-- exact, then rounded to 6 decimals against floating-point residue (50/14 mg/day of risperidone
-- LAI is 600). Prescriptions starting after the as-of date are not yet history.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
)

SELECT
    rx.patient_id,
    rx.source_row AS prescription_row,
    rx.prescription_id,
    rx.drug,
    rx.drug_concept_id,
    rx.generic_name,
    rx.drug_class,
    rx.is_clozapine,
    rx.is_lai,
    d.trs_relevant,
    rx.route,
    rx.start_date,
    least(coalesce(rx.end_date, params.as_of_date), params.as_of_date,
          coalesce(pt.death_date, params.as_of_date)) AS end_date,
    rx.end_date IS NULL OR rx.end_date >= params.as_of_date AS active_at_as_of,
    rx.daily_dose_mg,
    round(rx.daily_dose_mg * d.cpz_numerator_mg / d.cpz_denominator_mg, 6) AS cpz_equivalent_mg,
    d.cpz_method,
    d.label_mid_mg
FROM {{ ref('staging.prescriptions') }} AS rx
CROSS JOIN params
JOIN {{ ref('staging.patients') }} AS pt ON pt.patient_id = rx.patient_id
LEFT JOIN {{ ref('reference.drugs') }} AS d ON d.concept_id = rx.drug_concept_id
WHERE rx.is_antipsychotic
  AND rx.start_date <= params.as_of_date
  AND (pt.death_date IS NULL OR rx.start_date <= pt.death_date)
