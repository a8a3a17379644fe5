{%- set ae = cfg.adverse_events -%}
-- Adverse events (AE-*), one row per distinct event episode (intermediate.ae_episodes), placed
-- against clozapine with the default grace period (intermediate.ae_risk_periods): on_clozapine
-- when the onset lies between an exposure episode's first clozapine day and its last day at risk
-- (the stop plus adverse_events.grace_period_days). Day 0 is the first clozapine day of the
-- course; an onset on day 0 (baseline) is on clozapine but is not counted as an incident event.
-- counted_in_rates: the episode is an event of marts.clozapine_person_time (all_episodes).
WITH episodes AS (
    SELECT * FROM {{ ref('intermediate.ae_episodes') }}
),

periods AS (
    SELECT * FROM {{ ref('intermediate.ae_risk_periods') }}
    WHERE grace_days = {{ ae.grace_period_days }}
),

firsts AS (
    SELECT DISTINCT patient_id, clozapine_start, new_user FROM periods
),

placed AS (
    SELECT
        ep.*,
        f.clozapine_start,
        f.new_user,
        p.exposure_episode,
        p.course_number,
        p.course,
        p.course_start,
        p.exposure_start,
        p.exposure_end
    FROM episodes AS ep
    LEFT JOIN firsts AS f ON f.patient_id = ep.patient_id
    LEFT JOIN periods AS p
        ON p.patient_id = ep.patient_id
        AND ep.onset_date BETWEEN p.exposure_start AND p.at_risk_end
),

-- The daily dose on the onset day; in the grace period after a stop, the last dose of the episode.
dosed AS (
    SELECT
        pl.patient_id,
        pl.event_id,
        pl.episode_number,
        arg_max(dp.daily_dose_mg, dp.period_start) AS clozapine_dose_at_onset
    FROM placed AS pl
    INNER JOIN {{ ref('intermediate.clozapine_dose_periods') }} AS dp
        ON dp.patient_id = pl.patient_id
        AND dp.period_start BETWEEN pl.exposure_start AND pl.onset_date
    WHERE pl.exposure_episode IS NOT NULL
    GROUP BY pl.patient_id, pl.event_id, pl.episode_number
),

counted AS (
    SELECT DISTINCT pt.patient_id, pt.event_id, ep.episode_number
    FROM {{ ref('marts.clozapine_person_time') }} AS pt
    INNER JOIN episodes AS ep
        ON ep.patient_id = pt.patient_id
        AND ep.event_id = pt.event_id
        AND ep.onset_date BETWEEN pt.segment_start AND pt.segment_end
    WHERE pt.analysis = 'all_episodes' AND pt.events > 0
)

SELECT
    pl.patient_id,
    pl.event_id,
    pl.episode_number,
    pl.onset_date,
    pl.last_evidence_date,
    pl.episode_end,
    pl.end_reason,
    pl.source,
    pl.subtype,
    pl.exposure_episode IS NOT NULL AS on_clozapine,
    coalesce(pl.onset_date > pl.exposure_end, FALSE) AS in_risk_window,
    pl.exposure_episode,
    pl.course_number,
    pl.course,
    CASE
        WHEN pl.exposure_episode IS NOT NULL THEN
            row_number() OVER (
                PARTITION BY pl.patient_id, pl.event_id, pl.exposure_episode IS NOT NULL
                ORDER BY pl.onset_date
            ) = 1
        ELSE FALSE
    END AS first_on_clozapine,
    coalesce(pl.new_user, FALSE) AS new_user,
    c.patient_id IS NOT NULL AS counted_in_rates,
    pl.clozapine_start,
    date_diff('day', pl.clozapine_start, pl.onset_date) AS days_since_clozapine_start,
    CAST(floor(date_diff('day', pl.clozapine_start, pl.onset_date) / 7) AS INTEGER)
        AS weeks_since_clozapine_start,
    pl.course_start,
    date_diff('day', pl.course_start, pl.onset_date) AS days_since_course_start,
    CAST(floor(date_diff('day', pl.course_start, pl.onset_date) / 7) AS INTEGER)
        AS weeks_since_course_start,
    d.clozapine_dose_at_onset,
    pl.n_evidence,
    pl.evidence
FROM placed AS pl
LEFT JOIN dosed AS d
    ON d.patient_id = pl.patient_id
    AND d.event_id = pl.event_id
    AND d.episode_number = pl.episode_number
LEFT JOIN counted AS c
    ON c.patient_id = pl.patient_id
    AND c.event_id = pl.event_id
    AND c.episode_number = pl.episode_number
