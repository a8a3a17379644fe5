-- The periods over which the monitoring schedules run (MON-*): day 0 is the first clozapine dose
-- of the schedule and follow-up ends at the end of its clozapine (the as-of date, a stop or
-- death). A restart after monitoring.restart_schedule_after_days_off days or more without
-- clozapine starts a new schedule from the restart (2015 US REMS: after 30 days off the patient
-- is monitored as a new patient: baseline ANC, weekly phase again); shorter interruptions keep
-- the schedule (their windows are not due, intermediate.monitoring_windows). With
-- monitoring.restart_schedule_after_interruption every interruption restarts it.
WITH episodes AS (
    SELECT * FROM {{ ref('intermediate.clozapine_exposure') }}
),

numbered AS (
    SELECT
        *,
        sum(CASE
            WHEN gap_before_days IS NULL THEN 1
            {%- if cfg.monitoring.restart_schedule_after_interruption %}
            ELSE 1
            {%- else %}
            WHEN gap_before_days >= {{ cfg.monitoring.restart_schedule_after_days_off }} THEN 1
            ELSE 0
            {%- endif %}
        END) OVER (PARTITION BY patient_id ORDER BY episode_number ROWS UNBOUNDED PRECEDING)
            AS schedule_number
    FROM episodes
),

schedules AS (
    SELECT
        patient_id,
        schedule_number,
        min(episode_start) AS anchor_date,
        max(episode_end) AS follow_up_end,
        arg_max(end_reason, episode_number) AS end_reason,
        count(*) AS n_episodes
    FROM numbered
    GROUP BY patient_id, schedule_number
)

SELECT
    s.patient_id,
    CAST(s.schedule_number AS INTEGER) AS schedule_number,
    s.anchor_date,
    s.follow_up_end,
    date_diff('day', s.anchor_date, s.follow_up_end) AS follow_up_days,
    s.end_reason,
    CAST(s.n_episodes AS INTEGER) AS n_episodes,
    pt.benign_ethnic_neutropenia,
    pt.site
FROM schedules AS s
INNER JOIN {{ ref('staging.patients') }} AS pt ON pt.patient_id = s.patient_id
