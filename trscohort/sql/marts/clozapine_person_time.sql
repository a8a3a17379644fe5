{%- set ae = cfg.adverse_events -%}
-- Person-time at risk on clozapine of new users per analysis, event, patient and stratum segment,
-- with the default grace period (adverse_events.grace_period_days): the rows of
-- intermediate.ae_person_time for that grace period (see there for the rules).
WITH at_default_grace AS (
    SELECT * EXCLUDE (grace_days)
    FROM {{ ref('intermediate.ae_person_time') }}
    WHERE grace_days = {{ ae.grace_period_days }}
)

-- The patient's site is added, so that reports by site need no join back to the patients.
SELECT t.*, pt.site
FROM at_default_grace AS t
LEFT JOIN {{ ref('staging.patients') }} AS pt ON pt.patient_id = t.patient_id
