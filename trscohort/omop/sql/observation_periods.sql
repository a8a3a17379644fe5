{%- import '_omop.sql' as o -%}
-- observation_period -> raw.observation_periods (observation_period_id is the source row).
SELECT
    observation_period_id AS _row,
    {{ o.patient_id('person_id') }} AS patient_id,
    observation_period_start_date AS start_date,
    observation_period_end_date AS end_date
FROM cdm_observation_period
