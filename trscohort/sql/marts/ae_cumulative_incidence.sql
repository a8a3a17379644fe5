{%- set ae = cfg.adverse_events -%}
{%- set z = {0.9: 1.6448536269514722, 0.95: 1.959963984540054, 0.99: 2.5758293035489004}[ae.ci_level] -%}
-- Kaplan-Meier cumulative incidence (1 - S) of each event by course (first, rechallenge) and week
-- since the course start, with a Greenwood log-log confidence band (adverse_events.ci_level):
-- the risk if everyone stayed on clozapine (stops and deaths are censored; the Aalen-Johansen
-- curve with them as competing events is marts.ae_competing_risks). Subjects are the courses of
-- intermediate.ae_follow_up: followed in whole days from their entry day (day 1 of the course,
-- the day after baseline) to the first event of the course or the end of follow-up. A subject
-- entering late joins the risk set on its entry day. An event and a censoring on the same day:
-- the event comes first (the censored subject is still at risk that day). Week w is days
-- 7w..7w+6; its row gives 1 - S at the end of the week.
WITH subjects AS (
    SELECT event_id, course, entry_day, exit_day, exit_reason
    FROM {{ ref('intermediate.ae_follow_up') }}
),

marks AS (
    SELECT
        event_id,
        course,
        exit_day AS day,
        0 AS entries,
        CASE WHEN exit_reason = 'event' THEN 1 ELSE 0 END AS d,
        CASE WHEN exit_reason = 'event' THEN 0 ELSE 1 END AS c
    FROM subjects
    UNION ALL
    SELECT event_id, course, entry_day AS day, 1 AS entries, 0 AS d, 0 AS c
    FROM subjects
),

by_day AS (
    SELECT event_id, course, day, sum(entries) AS e, sum(d) AS d, sum(c) AS c
    FROM marks
    GROUP BY event_id, course, day
),

-- n = subjects followed on the day: entered on or before it, not exited before it.
risk_sets AS (
    SELECT
        *,
        sum(e) OVER (PARTITION BY event_id, course ORDER BY day ROWS UNBOUNDED PRECEDING)
            - coalesce(sum(d + c) OVER (
                PARTITION BY event_id, course ORDER BY day
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
            ), 0) AS n
    FROM by_day
),

-- Per-day Kaplan-Meier factors: log(1 - d/n) and Greenwood's d / (n (n - d)).
terms AS (
    SELECT
        event_id,
        course,
        CAST(floor(day / 7) AS INTEGER) AS week,
        e,
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
        course,
        week,
        sum(e) AS entered,
        sum(d) AS events,
        sum(c) AS censored,
        sum(log_term) AS log_term,
        sum(greenwood_term) AS greenwood_term,
        max(reaches_zero) AS reaches_zero
    FROM terms
    GROUP BY event_id, course, week
),

weeks AS (
    SELECT w.event_id, w.course, series.week
    FROM (SELECT event_id, course, max(week) AS last_week FROM weekly GROUP BY event_id, course) AS w,
        UNNEST(generate_series(0, w.last_week)) AS series(week)
),

filled AS (
    SELECT
        g.event_id,
        g.course,
        g.week,
        coalesce(wk.events, 0) AS events,
        coalesce(wk.censored, 0) AS censored,
        sum(coalesce(wk.entered, 0)) OVER c
            - coalesce(sum(coalesce(wk.events, 0) + coalesce(wk.censored, 0)) OVER (
                PARTITION BY g.event_id, g.course ORDER BY g.week
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
            ), 0) AS at_risk,
        sum(coalesce(wk.events, 0)) OVER c AS cumulative_events,
        sum(coalesce(wk.log_term, 0)) OVER c AS log_survival,
        sum(coalesce(wk.greenwood_term, 0)) OVER c AS greenwood_sum,
        max(coalesce(wk.reaches_zero, 0)) OVER c AS reached_zero
    FROM weeks AS g
    LEFT JOIN weekly AS wk ON wk.event_id = g.event_id AND wk.course = g.course AND wk.week = g.week
    WINDOW c AS (PARTITION BY g.event_id, g.course ORDER BY g.week ROWS UNBOUNDED PRECEDING)
),

estimated AS (
    SELECT
        *,
        CASE WHEN reached_zero = 1 THEN 0.0 ELSE exp(log_survival) END AS survival
    FROM filled
)

SELECT
    event_id,
    course,
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
