{%- import 'macros.sql' as m with context -%}
-- Observation periods (optional extract; OMOP observation_period), typed: spans of time in which
-- the patient's records are complete. They bound the adverse-event follow-up and set the start
-- of observable history for the new-user washout (intermediate.ae_new_users, ae_risk_periods).
-- An empty end_date means the period is open (up to the as-of date).
WITH typed AS (
    SELECT
        src.*,
        {{ m.blank('patient_id') }} AS p_patient_id,
        {{ m.parse_date('start_date') }} AS p_start_date,
        {{ m.parse_date('end_date') }} AS p_end_date
    FROM raw.observation_periods AS src
),

{{ m.join_patient('typed') }}

SELECT
    _row,
    p_patient_id AS patient_id,
    p_start_date AS start_date,
    p_end_date AS end_date,
    {{ m.extras(['pt_known', 'pt_birth_date']) }},
    {{ m.collect([
        m.patient_reasons('start_date', 'p_start_date'),
        m.require('start_date'),
        m.check_date('start_date', 'p_start_date'),
        m.check_date('end_date', 'p_end_date'),
        m.reason('p_end_date < p_start_date', "'end_date before start_date'"),
    ] | join(',\n        ')) }} AS _reason
FROM with_patient
