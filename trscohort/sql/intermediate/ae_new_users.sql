{%- set ae = cfg.adverse_events -%}
-- New users of clozapine (issue 14, item 3), one row per patient with any clozapine record.
-- Observation starts at the patient's earliest record of any kind in any extract (prescription,
-- dispensing, lab, diagnosis, assessment); the first clozapine record is the earliest clozapine
-- prescription, dispensing, exposure day or clozapine level. A new user has at least
-- adverse_events.new_user_washout_days days of observable history without clozapine before it
-- (history_days = first_clozapine_date - observation_start). Only records up to the as-of date.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

records AS (
    SELECT patient_id, start_date AS record_date, is_clozapine FROM {{ ref('staging.prescriptions') }}
    UNION ALL
    SELECT patient_id, dispensed_date, is_clozapine FROM {{ ref('staging.dispensings') }}
    UNION ALL
    SELECT patient_id, collected_date, coalesce(analyte = 'clozapine_level', FALSE)
    FROM {{ ref('staging.labs') }}
    UNION ALL
    SELECT patient_id, diagnosed_at, FALSE FROM {{ ref('staging.diagnoses') }}
    UNION ALL
    SELECT patient_id, assessed_at, FALSE FROM {{ ref('staging.assessments') }}
    UNION ALL
    SELECT patient_id, episode_start, TRUE FROM {{ ref('intermediate.clozapine_exposure') }}
),

per_patient AS (
    SELECT
        r.patient_id,
        min(r.record_date) AS observation_start,
        min(r.record_date) FILTER (WHERE r.is_clozapine) AS first_clozapine_date
    FROM records AS r
    CROSS JOIN params
    WHERE r.record_date IS NOT NULL AND r.record_date <= params.as_of_date
    GROUP BY r.patient_id
)

SELECT
    patient_id,
    observation_start,
    first_clozapine_date,
    date_diff('day', observation_start, first_clozapine_date) AS history_days,
    date_diff('day', observation_start, first_clozapine_date) >= {{ ae.new_user_washout_days }} AS new_user
FROM per_patient
WHERE first_clozapine_date IS NOT NULL
