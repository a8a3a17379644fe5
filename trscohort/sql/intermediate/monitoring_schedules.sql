-- The periods over which the monitoring schedules run (MON-*): day 0 is the first clozapine dose
-- and follow-up ends at the end of clozapine (the as-of date, a stop or death). By default the
-- schedule runs from the first dose through interruptions; with
-- monitoring.restart_schedule_after_interruption every episode restarts it.
WITH episodes AS (
    SELECT * FROM {{ ref('intermediate.clozapine_exposure') }}
),

{%- if cfg.monitoring.restart_schedule_after_interruption %}

schedules AS (
    SELECT
        patient_id,
        episode_number AS schedule_number,
        episode_start AS anchor_date,
        episode_end AS follow_up_end,
        end_reason
    FROM episodes
)
{%- else %}

schedules AS (
    SELECT
        patient_id,
        1 AS schedule_number,
        min(episode_start) AS anchor_date,
        max(episode_end) AS follow_up_end,
        arg_max(end_reason, episode_number) AS end_reason
    FROM episodes
    GROUP BY patient_id
)
{%- endif %}

SELECT
    s.patient_id,
    CAST(s.schedule_number AS INTEGER) AS schedule_number,
    s.anchor_date,
    s.follow_up_end,
    date_diff('day', s.anchor_date, s.follow_up_end) AS follow_up_days,
    s.end_reason,
    pt.benign_ethnic_neutropenia
FROM schedules AS s
INNER JOIN {{ ref('staging.patients') }} AS pt ON pt.patient_id = s.patient_id
