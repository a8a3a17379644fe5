{%- set ae = cfg.adverse_events -%}
-- The adverse-event study's flow chart (issue 14, item 8): patients left at each step, and those
-- excluded with the reason.
--   1 any clozapine record                    (intermediate.ae_new_users)
--   2 new user                                (>= new_user_washout_days of observable history)
--   3 follow-up > 0                           (>= 1 day at risk with the default grace period)
--   4 at risk of the event, per event         (not a prevalent case in every course)
--   5 with an incident event, per event       (an outcome, not an exclusion)
WITH users AS (
    SELECT * FROM {{ ref('intermediate.ae_new_users') }}
),

followed AS (
    SELECT DISTINCT patient_id
    FROM {{ ref('intermediate.ae_risk_periods') }}
    WHERE new_user AND grace_days = {{ ae.grace_period_days }} AND days > 0
),

event_list AS (
    SELECT * FROM (VALUES {% for e in ae.events %}('{{ e }}', {{ loop.index }}){{ ", " if not loop.last }}{% endfor %}) AS v(event_id, event_order)
),

per_event AS (
    SELECT
        el.event_id,
        el.event_order,
        count(DISTINCT pt.patient_id) AS at_risk,
        count(DISTINCT CASE WHEN pt.events > 0 THEN pt.patient_id END) AS with_event
    FROM event_list AS el
    LEFT JOIN {{ ref('marts.clozapine_person_time') }} AS pt
        ON pt.event_id = el.event_id AND pt.analysis = 'all_episodes'
    GROUP BY el.event_id, el.event_order
),

totals AS (
    SELECT
        (SELECT count(*) FROM users) AS any_record,
        (SELECT count(*) FROM users WHERE new_user) AS new_users,
        (SELECT count(*) FROM followed) AS with_follow_up
),

steps AS (
    SELECT 1 AS step_order, 0 AS event_order, 'any clozapine record' AS step, 'all' AS event_id,
        any_record AS patients, CAST(NULL AS BIGINT) AS excluded, CAST(NULL AS VARCHAR) AS exclusion_reason
    FROM totals
    UNION ALL
    SELECT 2, 0, 'new user', 'all', new_users, any_record - new_users,
        'prevalent user: fewer than {{ ae.new_user_washout_days }} days of observable history before the first clozapine record'
    FROM totals
    UNION ALL
    SELECT 3, 0, 'follow-up > 0', 'all', with_follow_up, new_users - with_follow_up,
        'no day at risk after baseline (day {{ ae.follow_up_start_day }} on)'
    FROM totals
    UNION ALL
    SELECT 4, pe.event_order, 'at risk of the event', pe.event_id, pe.at_risk, t.with_follow_up - pe.at_risk,
        'prevalent case: an episode of the event open at baseline of every course'
    FROM per_event AS pe
    CROSS JOIN totals AS t
    UNION ALL
    SELECT 5, pe.event_order, 'with an incident event', pe.event_id, pe.with_event, CAST(NULL AS BIGINT),
        CAST(NULL AS VARCHAR)
    FROM per_event AS pe
)

SELECT
    CAST(step_order AS INTEGER) AS step_order,
    step,
    event_id,
    CAST(patients AS BIGINT) AS patients,
    CAST(excluded AS BIGINT) AS excluded,
    exclusion_reason
FROM steps
ORDER BY step_order, event_order
