{%- set ae = cfg.adverse_events -%}
{%- set chronic = ae.once_per_patient or [] -%}
-- Person-time at risk on clozapine per patient, event and stratum segment
-- (intermediate.ae_person_time_segments), for two analyses:
--   all_episodes  every day at risk; events = on-clozapine episodes with onset in the segment
--   first_event   time at risk ends on the day of the patient's first on-clozapine episode of the
--                 event (that day included); events = that first episode
-- Chronic events (adverse_events.once_per_patient) end time at risk at their one episode in both
-- analyses, and a patient whose episode began before clozapine (or between exposure episodes,
-- from then on) is not at risk. person_years = days / 365.25.
WITH segments AS (
    SELECT * FROM {{ ref('intermediate.ae_person_time_segments') }}
),

events AS (
    SELECT patient_id, event_id, onset_date, on_clozapine
    FROM {{ ref('marts.adverse_events') }}
),

event_list AS (
    SELECT * FROM (VALUES {% for e in ae.events %}('{{ e }}'){{ ", " if not loop.last }}{% endfor %}) AS v(event_id)
),

analyses AS (
    SELECT * FROM (VALUES ('all_episodes'), ('first_event')) AS v(analysis)
),

-- The day time at risk ends for an event: the first on-clozapine onset (first_event), or the
-- chronic episode's onset wherever it falls.
risk_ends AS (
    SELECT patient_id, event_id, min(onset_date) FILTER (WHERE on_clozapine) AS first_onset,
        min(onset_date) AS any_onset
    FROM events
    GROUP BY patient_id, event_id
),

crossed AS (
    SELECT
        a.analysis,
        el.event_id,
        s.*,
        CASE
            {%- if chronic %}
            WHEN el.event_id IN ({% for e in chronic %}'{{ e }}'{{ ", " if not loop.last }}{% endfor %}) THEN re.any_onset
            {%- endif %}
            WHEN a.analysis = 'first_event' THEN re.first_onset
        END AS risk_end_date
    FROM segments AS s
    CROSS JOIN event_list AS el
    CROSS JOIN analyses AS a
    LEFT JOIN risk_ends AS re ON re.patient_id = s.patient_id AND re.event_id = el.event_id
),

truncated AS (
    SELECT
        analysis,
        event_id,
        patient_id,
        exposure_episode,
        segment_number,
        segment_start,
        CASE WHEN risk_end_date < segment_end THEN risk_end_date ELSE segment_end END AS segment_end,
        start_day,
        time_since_start,
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

counted AS (
    SELECT
        t.analysis,
        t.event_id,
        t.patient_id,
        t.exposure_episode,
        t.segment_number,
        count(ev.onset_date) AS events
    FROM truncated AS t
    INNER JOIN events AS ev
        ON ev.patient_id = t.patient_id
        AND ev.event_id = t.event_id
        AND ev.on_clozapine
        AND ev.onset_date BETWEEN t.segment_start AND t.segment_end
    GROUP BY t.analysis, t.event_id, t.patient_id, t.exposure_episode, t.segment_number
)

SELECT
    t.analysis,
    t.event_id,
    t.patient_id,
    t.exposure_episode,
    t.segment_number,
    t.segment_start,
    t.segment_end,
    t.start_day,
    t.start_day + date_diff('day', t.segment_start, t.segment_end) AS end_day,
    date_diff('day', t.segment_start, t.segment_end) + 1 AS days,
    (date_diff('day', t.segment_start, t.segment_end) + 1) / 365.25 AS person_years,
    t.time_since_start,
    t.dose_band,
    t.sex,
    t.age_band,
    coalesce(c.events, 0) AS events,
    t.segment_end_reason
FROM truncated AS t
LEFT JOIN counted AS c
    ON c.analysis = t.analysis
    AND c.event_id = t.event_id
    AND c.patient_id = t.patient_id
    AND c.exposure_episode = t.exposure_episode
    AND c.segment_number = t.segment_number
