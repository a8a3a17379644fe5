-- QI-LAX, QI-SEIZ, QI-AUG, QI-MET-ACT: the co-medications of reference.comedications (drugs
-- that are not antipsychotics) each patient took, from prescriptions (start to end, an open end
-- = active at the as-of date) and from dispensings (dispensed_date to dispensed_date +
-- days_supply - 1), up to the as-of date. `categories` are the reference's pipe-separated
-- classes (laxative_softener, laxative_osmotic, laxative_stimulant, anticonvulsant, statin,
-- antidiabetic, antidepressant, ...). Other drugs (no concept) are not listed.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

drugs AS (
    SELECT concept_id, categories FROM {{ ref('reference.drugs') }} WHERE NOT is_antipsychotic
)

SELECT
    p.patient_id,
    p.drug_concept_id AS concept_id,
    p.generic_name,
    d.categories,
    p.start_date,
    least(coalesce(p.end_date, params.as_of_date), params.as_of_date) AS end_date,
    'prescriptions' AS source,
    p.source_row
FROM {{ ref('staging.prescriptions') }} AS p
CROSS JOIN params
INNER JOIN drugs AS d ON d.concept_id = p.drug_concept_id
WHERE p.start_date <= params.as_of_date
  AND (p.end_date IS NULL OR p.end_date >= p.start_date)
UNION ALL
SELECT
    s.patient_id,
    s.drug_concept_id AS concept_id,
    s.generic_name,
    d.categories,
    s.dispensed_date AS start_date,
    least(s.dispensed_date + s.days_supply - 1, params.as_of_date) AS end_date,
    'dispensings' AS source,
    s.source_row
FROM {{ ref('staging.dispensings') }} AS s
CROSS JOIN params
INNER JOIN drugs AS d ON d.concept_id = s.drug_concept_id
WHERE s.dispensed_date <= params.as_of_date
