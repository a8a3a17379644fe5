{%- set ae = cfg.adverse_events -%}
-- New users of clozapine (issue 14, item 3), one row per patient with any clozapine record.
-- Observation starts at the patient's earliest record of any kind in any extract (prescription,
-- dispensing, lab, diagnosis, assessment); the first clozapine record is the earliest clozapine
-- prescription, dispensing, exposure day or clozapine level. A new user has at least
-- adverse_events.new_user_washout_days days of observable history without clozapine before it
-- (history_days = first_clozapine_date - observation_start). Only records up to the as-of date.
-- Observation periods (staging.observation_periods; OMOP observation_period): for a patient who
-- has any, observation starts at the start of the period holding the first clozapine record
-- (OHDSI new-user designs count prior observation inside that period); a first clozapine record
-- outside every period leaves observation_start NULL and the patient not a new user.
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
        min(r.record_date) AS first_record_date,
        min(r.record_date) FILTER (WHERE r.is_clozapine) AS first_clozapine_date
    FROM records AS r
    CROSS JOIN params
    WHERE r.record_date IS NOT NULL AND r.record_date <= params.as_of_date
    GROUP BY r.patient_id
),

patients_with_periods AS (
    SELECT DISTINCT patient_id FROM {{ ref('staging.observation_periods') }}
),

holding_period AS (
    SELECT p.patient_id, min(op.start_date) AS period_start
    FROM per_patient AS p
    INNER JOIN {{ ref('staging.observation_periods') }} AS op
        ON op.patient_id = p.patient_id
        AND op.start_date <= p.first_clozapine_date
        AND (op.end_date IS NULL OR op.end_date >= p.first_clozapine_date)
    GROUP BY p.patient_id
),

with_periods AS (
    SELECT p.*, wp.patient_id IS NOT NULL AS has_periods, hp.period_start
    FROM per_patient AS p
    LEFT JOIN patients_with_periods AS wp ON wp.patient_id = p.patient_id
    LEFT JOIN holding_period AS hp ON hp.patient_id = p.patient_id
    WHERE p.first_clozapine_date IS NOT NULL
),

observed AS (
    SELECT
        patient_id,
        CASE WHEN has_periods THEN period_start ELSE first_record_date END AS observation_start,
        first_clozapine_date
    FROM with_periods
)

SELECT
    patient_id,
    observation_start,
    first_clozapine_date,
    date_diff('day', observation_start, first_clozapine_date) AS history_days,
    coalesce(date_diff('day', observation_start, first_clozapine_date) >= {{ ae.new_user_washout_days }}, FALSE)
        AS new_user
FROM observed
