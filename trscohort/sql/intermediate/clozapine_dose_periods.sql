-- Clozapine daily dose over time (CLZ-1..4), from prescriptions: one row per period of one
-- unchanged daily dose. On a day with several active clozapine prescriptions the most recently
-- started one sets the dose (a new prescription replaces the old one even when the old end date
-- overlaps by a day); prescriptions started on the same day add up (split doses written as two
-- lines). An open end date means active at the as-of date.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

clozapine_rx AS (
    SELECT
        p.patient_id,
        p.start_date,
        least(coalesce(p.end_date, params.as_of_date), params.as_of_date) AS end_date,
        p.daily_dose_mg
    FROM {{ ref('staging.prescriptions') }} AS p
    CROSS JOIN params
    WHERE p.is_clozapine AND p.start_date <= params.as_of_date
),

-- Days on which the set of active prescriptions can change.
breakpoints AS (
    SELECT patient_id, start_date AS day FROM clozapine_rx
    UNION
    SELECT patient_id, end_date + 1 AS day FROM clozapine_rx
),

segments AS (
    SELECT
        patient_id,
        day AS segment_start,
        lead(day) OVER (PARTITION BY patient_id ORDER BY day) - 1 AS segment_end
    FROM breakpoints
),

active_on_segment AS (
    SELECT
        s.patient_id,
        s.segment_start,
        s.segment_end,
        rx.start_date,
        rx.daily_dose_mg,
        max(rx.start_date) OVER (PARTITION BY s.patient_id, s.segment_start) AS latest_start
    FROM segments AS s
    INNER JOIN clozapine_rx AS rx
        ON rx.patient_id = s.patient_id
        AND rx.start_date <= s.segment_start
        AND rx.end_date >= s.segment_start
),

segment_dose AS (
    SELECT
        patient_id,
        segment_start,
        segment_end,
        sum(daily_dose_mg) AS daily_dose_mg,
        count(*) AS n_prescriptions
    FROM active_on_segment
    WHERE start_date = latest_start
    GROUP BY patient_id, segment_start, segment_end
),

-- Gaps and islands: a new period starts after a gap or when the dose changes.
marked AS (
    SELECT
        *,
        CASE
            WHEN lag(segment_end) OVER w = segment_start - 1
                AND lag(daily_dose_mg) OVER w IS NOT DISTINCT FROM daily_dose_mg THEN 0
            ELSE 1
        END AS starts_period
    FROM segment_dose
    WINDOW w AS (PARTITION BY patient_id ORDER BY segment_start)
),

numbered AS (
    SELECT
        *,
        sum(starts_period) OVER (
            PARTITION BY patient_id ORDER BY segment_start ROWS UNBOUNDED PRECEDING
        ) AS period_number
    FROM marked
),

periods AS (
    SELECT
        patient_id,
        period_number,
        min(segment_start) AS period_start,
        max(segment_end) AS period_end,
        max(daily_dose_mg) AS daily_dose_mg,
        max(n_prescriptions) AS n_prescriptions
    FROM numbered
    GROUP BY patient_id, period_number
),

with_previous AS (
    SELECT
        *,
        lag(period_end) OVER w AS previous_period_end,
        lag(daily_dose_mg) OVER w AS previous_period_dose_mg
    FROM periods
    WINDOW w AS (PARTITION BY patient_id ORDER BY period_number)
)

SELECT
    patient_id,
    CAST(period_number AS INTEGER) AS period_number,
    period_start,
    period_end,
    date_diff('day', period_start, period_end) + 1 AS period_days,
    daily_dose_mg,
    CASE WHEN previous_period_end = period_start - 1 THEN previous_period_dose_mg END
        AS previous_daily_dose_mg,
    CASE WHEN previous_period_end = period_start - 1 THEN daily_dose_mg - previous_period_dose_mg END
        AS dose_change_mg,
    date_diff('day', previous_period_end, period_start) - 1 AS days_without_clozapine_before,
    n_prescriptions
FROM with_previous
