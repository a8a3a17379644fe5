{%- set ae = cfg.adverse_events -%}
-- Periods at risk on clozapine, one per clozapine exposure episode: from the episode start to the
-- episode end plus adverse_events.risk_window_days_after_stop, but not past the day before the
-- next episode starts, death or the as-of date. Day 0 is the patient's first clozapine start;
-- every day is counted whole (a period from day a to day b is b - a + 1 days).
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

episodes AS (
    SELECT
        e.patient_id,
        e.episode_number,
        e.episode_start,
        e.episode_end,
        min(e.episode_start) OVER (PARTITION BY e.patient_id) AS clozapine_start,
        lead(e.episode_start) OVER (PARTITION BY e.patient_id ORDER BY e.episode_start) AS next_start,
        pt.death_date,
        pt.birth_date,
        pt.sex
    FROM {{ ref('intermediate.clozapine_exposure') }} AS e
    INNER JOIN {{ ref('staging.patients') }} AS pt ON pt.patient_id = e.patient_id
),

bounded AS (
    SELECT
        e.*,
        params.as_of_date,
        least(
            e.episode_end + {{ ae.risk_window_days_after_stop }},
            coalesce(e.next_start - 1, params.as_of_date),
            coalesce(e.death_date, params.as_of_date),
            params.as_of_date
        ) AS at_risk_end
    FROM episodes AS e
    CROSS JOIN params
)

SELECT
    patient_id,
    CAST(episode_number AS INTEGER) AS exposure_episode,
    clozapine_start,
    episode_start AS at_risk_start,
    episode_end AS exposure_end,
    at_risk_end,
    date_diff('day', clozapine_start, episode_start) AS start_day,
    date_diff('day', clozapine_start, at_risk_end) AS end_day,
    date_diff('day', episode_start, at_risk_end) + 1 AS days,
    CASE
        WHEN at_risk_end = death_date THEN 'died'
        WHEN at_risk_end = as_of_date THEN 'as_of'
        ELSE 'stopped'
    END AS end_reason,
    sex,
    birth_date,
    death_date
FROM bounded
WHERE episode_start <= at_risk_end
