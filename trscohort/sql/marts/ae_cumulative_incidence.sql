{%- set ae = cfg.adverse_events -%}
{%- set z = {0.9: 1.6448536269514722, 0.95: 1.959963984540054, 0.99: 2.5758293035489004}[ae.ci_level] -%}
-- Kaplan-Meier cumulative incidence (1 - S) of each event by week since the first clozapine
-- start, with a Greenwood log-log confidence band (adverse_events.ci_level). Time is in whole
-- days from the first dose (day 0); each patient is followed through the first period at risk
-- (the first exposure episode plus the risk window) to the first on-clozapine event, or censored
-- at the stop, death or the as-of date (marts.clozapine_person_time, analysis first_event).
-- An event and a censoring on the same day: the event comes first (the censored patient is still
-- at risk that day). Week w is days 7w..7w+6; its row gives 1 - S at the end of the week.
WITH first_periods AS (
    SELECT patient_id, exposure_episode
    FROM {{ ref('intermediate.ae_risk_periods') }}
    WHERE start_day = 0
),

subjects AS (
    SELECT
        pt.event_id,
        pt.patient_id,
        max(pt.end_day) AS exit_day,
        CASE WHEN sum(pt.events) > 0 THEN 1 ELSE 0 END AS had_event
    FROM {{ ref('marts.clozapine_person_time') }} AS pt
    INNER JOIN first_periods AS fp
        ON fp.patient_id = pt.patient_id AND fp.exposure_episode = pt.exposure_episode
    WHERE pt.analysis = 'first_event'
    GROUP BY pt.event_id, pt.patient_id
),

by_day AS (
    SELECT
        event_id,
        exit_day AS day,
        sum(had_event) AS d,
        count(*) - sum(had_event) AS c
    FROM subjects
    GROUP BY event_id, exit_day
),

-- n = patients still followed on the day (exit on or after it).
risk_sets AS (
    SELECT
        *,
        sum(d + c) OVER (PARTITION BY event_id ORDER BY day DESC ROWS UNBOUNDED PRECEDING) AS n
    FROM by_day
),

-- Per-day Kaplan-Meier factors: log(1 - d/n) and Greenwood's d / (n (n - d)).
terms AS (
    SELECT
        event_id,
        CAST(floor(day / 7) AS INTEGER) AS week,
        d,
        c,
        n,
        CASE WHEN d > 0 AND d < n THEN ln(1 - CAST(d AS DOUBLE) / n) ELSE 0 END AS log_term,
        CASE WHEN d > 0 AND d < n THEN CAST(d AS DOUBLE) / (CAST(n AS DOUBLE) * (n - d)) ELSE 0 END
            AS greenwood_term,
        CASE WHEN d > 0 AND d = n THEN 1 ELSE 0 END AS reaches_zero
    FROM risk_sets
),

weekly AS (
    SELECT
        event_id,
        week,
        sum(d) AS events,
        sum(c) AS censored,
        sum(log_term) AS log_term,
        sum(greenwood_term) AS greenwood_term,
        max(reaches_zero) AS reaches_zero
    FROM terms
    GROUP BY event_id, week
),

weeks AS (
    SELECT w.event_id, series.week
    FROM (SELECT event_id, max(week) AS last_week FROM weekly GROUP BY event_id) AS w,
        UNNEST(generate_series(0, w.last_week)) AS series(week)
),

filled AS (
    SELECT
        g.event_id,
        g.week,
        coalesce(wk.events, 0) AS events,
        coalesce(wk.censored, 0) AS censored,
        sum(coalesce(wk.events, 0) + coalesce(wk.censored, 0)) OVER (
            PARTITION BY g.event_id ORDER BY g.week DESC ROWS UNBOUNDED PRECEDING
        ) AS at_risk,
        sum(coalesce(wk.events, 0)) OVER c AS cumulative_events,
        sum(coalesce(wk.log_term, 0)) OVER c AS log_survival,
        sum(coalesce(wk.greenwood_term, 0)) OVER c AS greenwood_sum,
        max(coalesce(wk.reaches_zero, 0)) OVER c AS reached_zero
    FROM weeks AS g
    LEFT JOIN weekly AS wk ON wk.event_id = g.event_id AND wk.week = g.week
    WINDOW c AS (PARTITION BY g.event_id ORDER BY g.week ROWS UNBOUNDED PRECEDING)
),

estimated AS (
    SELECT
        *,
        CASE WHEN reached_zero = 1 THEN 0.0 ELSE exp(log_survival) END AS survival
    FROM filled
)

SELECT
    event_id,
    CAST(week AS INTEGER) AS week,
    CAST(7 * week AS INTEGER) AS first_day,
    CAST(7 * week + 6 AS INTEGER) AS last_day,
    CAST(at_risk AS BIGINT) AS at_risk,
    CAST(events AS BIGINT) AS events,
    CAST(censored AS BIGINT) AS censored,
    CAST(cumulative_events AS BIGINT) AS cumulative_events,
    survival,
    1 - survival AS cumulative_incidence,
    survival * sqrt(greenwood_sum) AS std_error,
    -- log-log band: S^exp(+-z se), se = sqrt(Greenwood sum) / |log S|
    CASE
        WHEN survival >= 1 THEN 0.0
        WHEN survival <= 0 THEN 1.0
        ELSE 1 - power(survival, exp(-{{ z }} * sqrt(greenwood_sum) / abs(ln(survival))))
    END AS ci_low,
    CASE
        WHEN survival >= 1 THEN 0.0
        WHEN survival <= 0 THEN 1.0
        ELSE 1 - power(survival, exp({{ z }} * sqrt(greenwood_sum) / abs(ln(survival))))
    END AS ci_high
FROM estimated
