{%- set ae = cfg.adverse_events -%}
{%- set graces = ([ae.grace_period_days] + (ae.grace_period_sensitivity_days or [])) | map('int') | unique | sort -%}
-- Periods at risk on clozapine (issue 14, items 1-4), one per grace period and clozapine
-- exposure episode (intermediate.clozapine_exposure):
--   courses      a gap of more than adverse_events.new_course_gap_days days without clozapine
--                starts a new course (course 1 = first, later = rechallenge); day 0 is the
--                course's first clozapine day, and time since start counts from it
--   baseline     follow-up of a course starts on day adverse_events.follow_up_start_day (1)
--   grace        each episode is at risk to its last clozapine day plus the grace period
--                (adverse_events.grace_period_days, and each of grace_period_sensitivity_days:
--                one row per grace_days), cut at the day before the next episode, at death and
--                at the as-of date
--   observation  for a patient with observation periods (staging.observation_periods; OMOP
--                observation_period), also cut at the end of the period holding the episode's
--                start (end_reason observation_end, censored); an episode starting outside
--                every period has no time at risk
-- Every day counts whole (a period from day a to day b is b - a + 1 days).
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

graces AS (
    SELECT * FROM (VALUES {% for g in graces %}({{ g }}){{ ", " if not loop.last }}{% endfor %}) AS v(grace_days)
),

coursed AS (
    SELECT
        -- clozapine_exposure's own course_number is the CLZ-5 course (re-titration threshold);
        -- the adverse-event course uses adverse_events.new_course_gap_days instead.
        e.* EXCLUDE (course_number),
        sum(CASE WHEN e.gap_before_days IS NULL OR e.gap_before_days > {{ ae.new_course_gap_days }} THEN 1 ELSE 0 END)
            OVER (PARTITION BY e.patient_id ORDER BY e.episode_start ROWS UNBOUNDED PRECEDING)
            AS course_number,
        lead(e.episode_start) OVER (PARTITION BY e.patient_id ORDER BY e.episode_start) AS next_start,
        lead(e.gap_before_days) OVER (PARTITION BY e.patient_id ORDER BY e.episode_start) AS next_gap
    FROM {{ ref('intermediate.clozapine_exposure') }} AS e
),

patients_with_periods AS (
    SELECT DISTINCT patient_id FROM {{ ref('staging.observation_periods') }}
),

episode_periods AS (
    SELECT c.patient_id, c.episode_number, max(coalesce(op.end_date, params.as_of_date)) AS period_end
    FROM coursed AS c
    INNER JOIN {{ ref('staging.observation_periods') }} AS op
        ON op.patient_id = c.patient_id
        AND op.start_date <= c.episode_start
        AND (op.end_date IS NULL OR op.end_date >= c.episode_start)
    CROSS JOIN params
    GROUP BY c.patient_id, c.episode_number
),

episodes AS (
    SELECT
        c.patient_id,
        c.episode_number,
        c.course_number,
        c.episode_start,
        c.episode_end,
        c.next_start,
        coalesce(c.next_gap <= {{ ae.new_course_gap_days }}, FALSE) AS next_in_course,
        min(c.episode_start) OVER (PARTITION BY c.patient_id) AS clozapine_start,
        min(c.episode_start) OVER (PARTITION BY c.patient_id, c.course_number) AS course_start,
        pt.death_date,
        pt.birth_date,
        pt.sex,
        coalesce(nu.new_user, FALSE) AS new_user,
        CASE WHEN wp.patient_id IS NULL THEN NULL
             ELSE coalesce(ep.period_end, c.episode_start - 1) END AS observation_end
    FROM coursed AS c
    INNER JOIN {{ ref('staging.patients') }} AS pt ON pt.patient_id = c.patient_id
    LEFT JOIN {{ ref('intermediate.ae_new_users') }} AS nu ON nu.patient_id = c.patient_id
    LEFT JOIN patients_with_periods AS wp ON wp.patient_id = c.patient_id
    LEFT JOIN episode_periods AS ep
        ON ep.patient_id = c.patient_id AND ep.episode_number = c.episode_number
),

bounded AS (
    SELECT
        e.*,
        g.grace_days,
        params.as_of_date,
        CASE
            WHEN e.episode_start = e.course_start THEN e.course_start + {{ ae.follow_up_start_day }}
            ELSE e.episode_start
        END AS at_risk_start,
        least(
            e.episode_end + g.grace_days,
            coalesce(e.next_start - 1, params.as_of_date),
            coalesce(e.death_date, params.as_of_date),
            coalesce(e.observation_end, params.as_of_date),
            params.as_of_date
        ) AS at_risk_end
    FROM episodes AS e
    CROSS JOIN graces AS g
    CROSS JOIN params
)

SELECT
    grace_days,
    patient_id,
    CAST(episode_number AS INTEGER) AS exposure_episode,
    CAST(course_number AS INTEGER) AS course_number,
    CASE WHEN course_number = 1 THEN 'first' ELSE 'rechallenge' END AS course,
    clozapine_start,
    course_start,
    new_user,
    episode_start AS exposure_start,
    at_risk_start,
    episode_end AS exposure_end,
    at_risk_end,
    date_diff('day', course_start, at_risk_start) AS start_day,
    date_diff('day', course_start, at_risk_end) AS end_day,
    date_diff('day', at_risk_start, at_risk_end) + 1 AS days,
    CASE
        WHEN at_risk_end = death_date THEN 'died'
        WHEN at_risk_end = as_of_date THEN 'as_of'
        WHEN at_risk_end = observation_end THEN 'observation_end'
        WHEN next_in_course AND at_risk_end = next_start - 1 THEN 'continued'
        ELSE 'stopped'
    END AS end_reason,
    sex,
    birth_date,
    death_date
FROM bounded
WHERE at_risk_start <= at_risk_end
