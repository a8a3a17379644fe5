-- Follow-up for cumulative incidence (Kaplan-Meier, Aalen-Johansen), one row per event, patient
-- and course of a new user at risk of the event: from the first day at risk of the course
-- (follow_up_start_day, normally day 1) through the first unbroken run of days at risk
-- (marts.clozapine_person_time, analysis first_event, default grace period) to the first event,
-- or to the end of that run: the stop plus the grace period (stopped), death (died), the as-of
-- date (as_of), or a break in the time at risk (censored). Days count from the course start.
WITH rows_ AS (
    SELECT
        event_id,
        patient_id,
        course_number,
        course,
        start_day,
        end_day,
        events,
        segment_end_reason,
        lag(end_day) OVER w AS previous_end_day
    FROM {{ ref('marts.clozapine_person_time') }}
    WHERE analysis = 'first_event'
    WINDOW w AS (PARTITION BY event_id, patient_id, course_number ORDER BY start_day)
),

runs AS (
    SELECT
        *,
        sum(CASE WHEN previous_end_day IS NULL OR start_day = previous_end_day + 1 THEN 0 ELSE 1 END)
            OVER (
                PARTITION BY event_id, patient_id, course_number ORDER BY start_day
                ROWS UNBOUNDED PRECEDING
            ) AS breaks_before
    FROM rows_
)

SELECT
    event_id,
    patient_id,
    CAST(course_number AS INTEGER) AS course_number,
    min(course) AS course,
    CAST(min(start_day) AS INTEGER) AS entry_day,
    CAST(max(end_day) AS INTEGER) AS exit_day,
    CASE
        WHEN sum(events) > 0 THEN 'event'
        WHEN arg_max(segment_end_reason, end_day) IN ('stopped', 'died', 'as_of')
            THEN arg_max(segment_end_reason, end_day)
        ELSE 'censored'
    END AS exit_reason
FROM runs
WHERE breaks_before = 0
GROUP BY event_id, patient_id, course_number
