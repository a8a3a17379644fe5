-- Clozapine exposure episodes: coverage from prescriptions (the dose periods) and, where given,
-- dispensings (dispensed_date + days_supply). Coverage separated by more than
-- monitoring.interruption_gap_days days without clozapine starts a new episode (an interruption);
-- coverage ending before the as-of date is a stop. Episodes end at death at the latest.
-- CLZ-5: episodes separated by at most clozapine.course_max_gap_days (the re-titration
-- threshold: the guideline seed asks for the prescriber after more than 2 days missed) form one
-- course; a longer gap starts a new course, which must reach its own therapeutic basis.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

dose_periods AS (
    SELECT * FROM {{ ref('intermediate.clozapine_dose_periods') }}
),

dispensed AS (
    SELECT
        d.patient_id,
        d.dispensed_date AS start_date,
        least(d.dispensed_date + d.days_supply - 1, params.as_of_date) AS end_date,
        'dispensings' AS source
    FROM {{ ref('staging.dispensings') }} AS d
    CROSS JOIN params
    WHERE d.is_clozapine AND d.dispensed_date <= params.as_of_date
    {%- if not cfg.clozapine.dispensings_extend_exposure %}
        -- prescriptions, which carry the dose, win where a patient has them
        AND d.patient_id NOT IN (SELECT patient_id FROM dose_periods)
    {%- endif %}
),

coverage AS (
    SELECT patient_id, period_start AS start_date, period_end AS end_date, 'prescriptions' AS source
    FROM dose_periods
    UNION ALL
    SELECT patient_id, start_date, end_date, source FROM dispensed
),

-- Gaps and islands over possibly overlapping intervals: compare each start with the furthest
-- end covered so far.
ordered AS (
    SELECT
        *,
        max(end_date) OVER (
            PARTITION BY patient_id ORDER BY start_date, end_date
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS covered_until
    FROM coverage
),

numbered AS (
    SELECT
        *,
        sum(
            CASE
                WHEN covered_until IS NULL
                    OR date_diff('day', covered_until, start_date) - 1
                        > {{ cfg.monitoring.interruption_gap_days }} THEN 1
                ELSE 0
            END
        ) OVER (
            PARTITION BY patient_id ORDER BY start_date, end_date ROWS UNBOUNDED PRECEDING
        ) AS episode_number
    FROM ordered
),

episodes AS (
    SELECT
        n.patient_id,
        n.episode_number,
        min(n.start_date) AS episode_start,
        least(max(n.end_date), coalesce(min(pt.death_date), max(n.end_date))) AS episode_end,
        string_agg(DISTINCT n.source, ', ' ORDER BY n.source) AS source,
        min(pt.death_date) AS death_date
    FROM numbered AS n
    INNER JOIN {{ ref('staging.patients') }} AS pt ON pt.patient_id = n.patient_id
    GROUP BY n.patient_id, n.episode_number
),

-- Dose periods inside each episode, with the previous dose inside the same episode.
episode_doses AS (
    SELECT
        e.patient_id,
        e.episode_number,
        dp.period_start,
        dp.daily_dose_mg,
        -- period_number breaks a tie of two periods starting on one day (the order then
        -- decides the previous dose; found by the SQLMesh comparison's copied rows)
        lag(dp.daily_dose_mg) OVER (
            PARTITION BY e.patient_id, e.episode_number ORDER BY dp.period_start, dp.period_number
        ) AS previous_dose_mg
    FROM episodes AS e
    INNER JOIN dose_periods AS dp
        ON dp.patient_id = e.patient_id
        AND dp.period_start BETWEEN e.episode_start AND e.episode_end
),

dose_summary AS (
    SELECT
        patient_id,
        episode_number,
        arg_min(daily_dose_mg, period_start) AS start_daily_dose_mg,
        max(daily_dose_mg) AS max_daily_dose_mg,
        arg_max(daily_dose_mg, period_start) AS last_daily_dose_mg,
        count(*) FILTER (WHERE daily_dose_mg <> previous_dose_mg) AS n_dose_changes,
        count(*) FILTER (WHERE daily_dose_mg > previous_dose_mg) AS n_dose_increases,
        min(period_start) FILTER (
            WHERE daily_dose_mg >= {{ cfg.clozapine.titration_target_min_mg }}
        ) AS target_dose_date
    FROM episode_doses
    GROUP BY patient_id, episode_number
)

SELECT
    *,
    CAST(sum(CASE WHEN gap_before_days IS NULL OR gap_before_days > {{ cfg.clozapine.course_max_gap_days }}
                  THEN 1 ELSE 0 END)
        OVER (PARTITION BY patient_id ORDER BY episode_number ROWS UNBOUNDED PRECEDING) AS INTEGER)
        AS course_number
FROM (
SELECT
    e.patient_id,
    CAST(e.episode_number AS INTEGER) AS episode_number,
    e.episode_start,
    e.episode_end,
    date_diff('day', e.episode_start, e.episode_end) + 1 AS episode_days,
    date_diff('day', lag(e.episode_end) OVER w, e.episode_start) - 1 AS gap_before_days,
    e.episode_end = params.as_of_date AND (e.death_date IS NULL OR e.death_date > params.as_of_date)
        AS is_ongoing,
    CASE
        WHEN e.episode_end = e.death_date THEN 'died'
        WHEN e.episode_end = params.as_of_date THEN 'ongoing'
        ELSE 'stopped'
    END AS end_reason,
    e.source,
    ds.start_daily_dose_mg,
    ds.max_daily_dose_mg,
    ds.last_daily_dose_mg,
    coalesce(ds.n_dose_changes, 0) AS n_dose_changes,
    coalesce(ds.n_dose_increases, 0) AS n_titration_steps,
    ds.target_dose_date
FROM episodes AS e
CROSS JOIN params
LEFT JOIN dose_summary AS ds
    ON ds.patient_id = e.patient_id AND ds.episode_number = e.episode_number
WHERE e.episode_start <= e.episode_end
WINDOW w AS (PARTITION BY e.patient_id ORDER BY e.episode_number)
) AS judged_episodes
