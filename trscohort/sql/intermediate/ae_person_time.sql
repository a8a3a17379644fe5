{%- set ae = cfg.adverse_events -%}
{%- set chronic = ae.once_per_patient or [] -%}
{%- macro is_chronic(col) -%}
{%- if chronic -%}{{ col }} IN ({% for e in chronic %}'{{ e }}'{{ ", " if not loop.last }}{% endfor %}){%- else -%}FALSE{%- endif -%}
{%- endmacro -%}
-- Person-time at risk of new users per grace period, analysis, event, patient and stratum segment
-- (intermediate.ae_person_time_segments), for two analyses:
--   all_episodes  every day at risk, less the days inside an open episode of the event (from the
--                 day after its onset to its episode_end: not at risk of a new one); events =
--                 episodes with onset in the segment
--   first_event   time at risk of a course ends on the day of the course's first episode of the
--                 event with onset at risk (that day included); events = that episode
-- A patient with an episode of the event open on the day before follow-up starts (day
-- adverse_events.follow_up_start_day - 1 of the course; onset on or before it, episode_end on or
-- after it; a chronic episode never ends) is a prevalent case: not at risk of the event in that
-- course. Chronic events (adverse_events.once_per_patient) end time at risk at their episode in
-- both analyses. marts.clozapine_person_time holds the default grace period's rows.
WITH segments AS (
    SELECT * FROM {{ ref('intermediate.ae_person_time_segments') }}
),

periods AS (
    SELECT grace_days, patient_id, course_number, course_start, at_risk_start, at_risk_end
    FROM {{ ref('intermediate.ae_risk_periods') }}
    WHERE new_user
),

episodes AS (
    SELECT patient_id, event_id, onset_date, episode_end FROM {{ ref('intermediate.ae_episodes') }}
),

event_list AS (
    SELECT * FROM (VALUES {% for e in ae.events %}('{{ e }}'){{ ", " if not loop.last }}{% endfor %}) AS v(event_id)
),

analyses AS (
    SELECT * FROM (VALUES ('all_episodes'), ('first_event')) AS v(analysis)
),

course_starts AS (
    SELECT DISTINCT patient_id, course_number, course_start + {{ ae.follow_up_start_day - 1 }} AS baseline_day
    FROM periods
),

prevalent AS (
    SELECT DISTINCT c.patient_id, c.course_number, e.event_id
    FROM course_starts AS c
    INNER JOIN episodes AS e
        ON e.patient_id = c.patient_id
        AND e.onset_date <= c.baseline_day
        AND (e.episode_end IS NULL OR e.episode_end >= c.baseline_day)
),

first_onsets AS (
    SELECT p.grace_days, p.patient_id, p.course_number, e.event_id, min(e.onset_date) AS first_onset
    FROM periods AS p
    INNER JOIN episodes AS e
        ON e.patient_id = p.patient_id AND e.onset_date BETWEEN p.at_risk_start AND p.at_risk_end
    GROUP BY p.grace_days, p.patient_id, p.course_number, e.event_id
),

chronic_onsets AS (
    SELECT patient_id, event_id, min(onset_date) AS chronic_onset
    FROM episodes
    WHERE {{ is_chronic('event_id') }}
    GROUP BY patient_id, event_id
),

crossed AS (
    SELECT
        a.analysis,
        el.event_id,
        s.*,
        CASE
            WHEN {{ is_chronic('el.event_id') }} THEN co.chronic_onset
            WHEN a.analysis = 'first_event' THEN fo.first_onset
        END AS risk_end_date
    FROM segments AS s
    CROSS JOIN event_list AS el
    CROSS JOIN analyses AS a
    LEFT JOIN prevalent AS pv
        ON pv.patient_id = s.patient_id AND pv.course_number = s.course_number AND pv.event_id = el.event_id
    LEFT JOIN first_onsets AS fo
        ON fo.grace_days = s.grace_days AND fo.patient_id = s.patient_id
        AND fo.course_number = s.course_number AND fo.event_id = el.event_id
    LEFT JOIN chronic_onsets AS co ON co.patient_id = s.patient_id AND co.event_id = el.event_id
    WHERE pv.patient_id IS NULL
),

truncated AS (
    SELECT
        grace_days,
        analysis,
        event_id,
        patient_id,
        exposure_episode,
        course_number,
        course,
        segment_number,
        segment_start,
        CASE WHEN risk_end_date < segment_end THEN risk_end_date ELSE segment_end END AS segment_end,
        start_day,
        time_since_start,
        exposure,
        dose_band,
        sex,
        age_band,
        CASE
            WHEN risk_end_date BETWEEN segment_start AND segment_end THEN 'event'
            ELSE segment_end_reason
        END AS segment_end_reason
    FROM crossed
    WHERE risk_end_date IS NULL OR segment_start <= risk_end_date
),

-- Days inside open episodes (episodes of one event never overlap, so the overlaps add up).
open_days AS (
    SELECT
        t.grace_days,
        t.analysis,
        t.event_id,
        t.patient_id,
        t.exposure_episode,
        t.segment_number,
        sum(
            date_diff('day', greatest(t.segment_start, e.onset_date + 1), least(t.segment_end, e.episode_end)) + 1
        ) AS open_episode_days
    FROM truncated AS t
    INNER JOIN episodes AS e
        ON e.patient_id = t.patient_id
        AND e.event_id = t.event_id
        AND e.episode_end IS NOT NULL
        AND e.onset_date + 1 <= t.segment_end
        AND e.episode_end >= t.segment_start
        AND e.episode_end > e.onset_date
    GROUP BY t.grace_days, t.analysis, t.event_id, t.patient_id, t.exposure_episode, t.segment_number
),

counted AS (
    SELECT
        t.grace_days,
        t.analysis,
        t.event_id,
        t.patient_id,
        t.exposure_episode,
        t.segment_number,
        count(*) AS events
    FROM truncated AS t
    INNER JOIN episodes AS e
        ON e.patient_id = t.patient_id
        AND e.event_id = t.event_id
        AND e.onset_date BETWEEN t.segment_start AND t.segment_end
    GROUP BY t.grace_days, t.analysis, t.event_id, t.patient_id, t.exposure_episode, t.segment_number
),

measured AS (
    SELECT
        t.*,
        date_diff('day', t.segment_start, t.segment_end) + 1 - coalesce(o.open_episode_days, 0) AS days,
        coalesce(o.open_episode_days, 0) AS open_episode_days,
        coalesce(c.events, 0) AS events
    FROM truncated AS t
    LEFT JOIN open_days AS o
        ON o.grace_days = t.grace_days AND o.analysis = t.analysis AND o.event_id = t.event_id
        AND o.patient_id = t.patient_id AND o.exposure_episode = t.exposure_episode
        AND o.segment_number = t.segment_number
    LEFT JOIN counted AS c
        ON c.grace_days = t.grace_days AND c.analysis = t.analysis AND c.event_id = t.event_id
        AND c.patient_id = t.patient_id AND c.exposure_episode = t.exposure_episode
        AND c.segment_number = t.segment_number
)

SELECT
    grace_days,
    analysis,
    event_id,
    patient_id,
    exposure_episode,
    course_number,
    course,
    segment_number,
    segment_start,
    segment_end,
    start_day,
    start_day + date_diff('day', segment_start, segment_end) AS end_day,
    CAST(days AS BIGINT) AS days,
    CAST(open_episode_days AS BIGINT) AS open_episode_days,
    days / 365.25 AS person_years,
    time_since_start,
    exposure,
    dose_band,
    sex,
    age_band,
    CAST(events AS BIGINT) AS events,
    segment_end_reason
FROM measured
WHERE days > 0
