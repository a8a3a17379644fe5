-- Adverse events (AE-*), one row per distinct event episode (intermediate.ae_episodes), placed
-- against clozapine: on_clozapine when the onset lies in a period at risk (an exposure episode,
-- or up to adverse_events.risk_window_days_after_stop after a stop; intermediate.ae_risk_periods).
-- Day 0 is the first clozapine start; an event before it is not on clozapine (negative days).
WITH episodes AS (
    SELECT * FROM {{ ref('intermediate.ae_episodes') }}
),

periods AS (
    SELECT * FROM {{ ref('intermediate.ae_risk_periods') }}
),

firsts AS (
    SELECT DISTINCT patient_id, clozapine_start FROM periods
),

placed AS (
    SELECT
        ep.*,
        f.clozapine_start,
        p.exposure_episode,
        p.at_risk_start,
        p.exposure_end
    FROM episodes AS ep
    LEFT JOIN firsts AS f ON f.patient_id = ep.patient_id
    LEFT JOIN periods AS p
        ON p.patient_id = ep.patient_id
        AND ep.onset_date BETWEEN p.at_risk_start AND p.at_risk_end
),

-- The daily dose on the onset day; in the risk window after a stop, the last dose of the episode.
dosed AS (
    SELECT
        pl.patient_id,
        pl.event_id,
        pl.episode_number,
        arg_max(dp.daily_dose_mg, dp.period_start) AS clozapine_dose_at_onset
    FROM placed AS pl
    INNER JOIN {{ ref('intermediate.clozapine_dose_periods') }} AS dp
        ON dp.patient_id = pl.patient_id
        AND dp.period_start BETWEEN pl.at_risk_start AND pl.onset_date
    WHERE pl.exposure_episode IS NOT NULL
    GROUP BY pl.patient_id, pl.event_id, pl.episode_number
)

SELECT
    pl.patient_id,
    pl.event_id,
    pl.episode_number,
    pl.onset_date,
    pl.last_evidence_date,
    pl.source,
    pl.subtype,
    pl.exposure_episode IS NOT NULL AS on_clozapine,
    coalesce(pl.onset_date > pl.exposure_end, FALSE) AS in_risk_window,
    pl.exposure_episode,
    CASE
        WHEN pl.exposure_episode IS NOT NULL THEN
            row_number() OVER (
                PARTITION BY pl.patient_id, pl.event_id, pl.exposure_episode IS NOT NULL
                ORDER BY pl.onset_date
            ) = 1
        ELSE FALSE
    END AS first_on_clozapine,
    pl.clozapine_start,
    date_diff('day', pl.clozapine_start, pl.onset_date) AS days_since_clozapine_start,
    CAST(floor(date_diff('day', pl.clozapine_start, pl.onset_date) / 7) AS INTEGER)
        AS weeks_since_clozapine_start,
    d.clozapine_dose_at_onset,
    pl.n_evidence,
    pl.evidence
FROM placed AS pl
LEFT JOIN dosed AS d
    ON d.patient_id = pl.patient_id
    AND d.event_id = pl.event_id
    AND d.episode_number = pl.episode_number
