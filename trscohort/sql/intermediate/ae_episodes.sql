{%- set ae = cfg.adverse_events -%}
{%- set chronic = ae.once_per_patient or [] -%}
-- Adverse-event episodes (issue 14, item 5): evidence of one event joins the episode while the
-- condition persists, i.e. within adverse_events.episode_gap_days of the previous evidence of the
-- same patient and event with no normal result in between (intermediate.ae_recovery_results: ANC
-- >= recovery_anc_per_ul, ...). A normal result after the last evidence ends the episode on its
-- day; without one the episode ends episode_gap_days after its last evidence. Evidence on the
-- day of a normal result wins (the day is abnormal). Events in adverse_events.once_per_patient
-- (chronic conditions) have one episode per patient that never ends. Days after the onset up to
-- episode_end are inside an open episode: not at risk of a new one.
WITH evidence AS (
    SELECT * FROM {{ ref('intermediate.ae_evidence') }}
),

evidence_days AS (
    SELECT DISTINCT patient_id, event_id, evidence_date AS day FROM evidence
),

normal_days AS (
    SELECT r.patient_id, r.event_id, r.result_date AS day
    FROM {{ ref('intermediate.ae_recovery_results') }} AS r
    WHERE NOT EXISTS (
        SELECT 1 FROM evidence_days AS e
        WHERE e.patient_id = r.patient_id AND e.event_id = r.event_id AND e.day = r.result_date
    )
),

marks AS (
    SELECT patient_id, event_id, day, 1 AS is_evidence FROM evidence_days
    UNION ALL
    SELECT patient_id, event_id, day, 0 AS is_evidence FROM normal_days
),

-- normals_so_far: normal days up to the day; next_normal_day: the first normal day after it.
running AS (
    SELECT
        *,
        sum(1 - is_evidence) OVER (
            PARTITION BY patient_id, event_id ORDER BY day ROWS UNBOUNDED PRECEDING
        ) AS normals_so_far,
        min(CASE WHEN is_evidence = 0 THEN day END) OVER (
            PARTITION BY patient_id, event_id ORDER BY day
            ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
        ) AS next_normal_day
    FROM marks
),

-- Window functions run after WHERE: lag() sees evidence days only.
lagged AS (
    SELECT
        *,
        lag(day) OVER w AS previous_day,
        lag(normals_so_far) OVER w AS previous_normals
    FROM running
    WHERE is_evidence = 1
    WINDOW w AS (PARTITION BY patient_id, event_id ORDER BY day)
),

numbered_days AS (
    SELECT
        patient_id,
        event_id,
        day,
        next_normal_day,
        sum(
            CASE
                WHEN previous_day IS NULL THEN 1
                {%- if chronic %}
                WHEN event_id IN ({% for e in chronic %}'{{ e }}'{{ ", " if not loop.last }}{% endfor %}) THEN 0
                {%- endif %}
                WHEN normals_so_far > previous_normals THEN 1
                WHEN date_diff('day', previous_day, day) > {{ ae.episode_gap_days }} THEN 1
                ELSE 0
            END
        ) OVER (
            PARTITION BY patient_id, event_id ORDER BY day ROWS UNBOUNDED PRECEDING
        ) AS episode_number
    FROM lagged
),

numbered AS (
    SELECT ev.*, nd.episode_number, nd.next_normal_day
    FROM evidence AS ev
    INNER JOIN numbered_days AS nd
        ON nd.patient_id = ev.patient_id AND nd.event_id = ev.event_id AND nd.day = ev.evidence_date
),

items AS (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY patient_id, event_id, episode_number ORDER BY evidence_date, source, detail
        ) AS item
    FROM numbered
),

episodes AS (
SELECT
    patient_id,
    event_id,
    CAST(episode_number AS INTEGER) AS episode_number,
    min(evidence_date) AS onset_date,
    max(evidence_date) AS last_evidence_date,
    -- every evidence day of an episode has the same next normal day (none lies in between)
    max(next_normal_day) AS recovery_date,
    CASE
        WHEN max(CASE WHEN source = 'lab' THEN 1 ELSE 0 END) = 1
            AND max(CASE WHEN source = 'diagnosis' THEN 1 ELSE 0 END) = 1 THEN 'both'
        WHEN max(CASE WHEN source = 'lab' THEN 1 ELSE 0 END) = 1 THEN 'lab'
        ELSE 'diagnosis'
    END AS source,
    CASE
        WHEN event_id = 'AE-GI' THEN
            CASE WHEN max(CASE WHEN subtype = 'severe' THEN 1 ELSE 0 END) = 1 THEN 'severe' ELSE 'constipation' END
    END AS subtype,
    count(*) AS n_evidence,
    string_agg(
        CASE WHEN item <= 5 THEN detail || ' on ' || CAST(evidence_date AS VARCHAR) END, '; '
        ORDER BY item
    ) || CASE WHEN count(*) > 5 THEN '; and ' || CAST(count(*) - 5 AS VARCHAR) || ' more' ELSE '' END
        AS evidence
FROM items
GROUP BY patient_id, event_id, episode_number
)

SELECT
    patient_id,
    event_id,
    episode_number,
    onset_date,
    last_evidence_date,
    CASE
        {%- if chronic %}
        WHEN event_id IN ({% for e in chronic %}'{{ e }}'{{ ", " if not loop.last }}{% endfor %}) THEN NULL
        {%- endif %}
        WHEN recovery_date <= last_evidence_date + {{ ae.episode_gap_days }} THEN recovery_date
        ELSE last_evidence_date + {{ ae.episode_gap_days }}
    END AS episode_end,
    CASE
        {%- if chronic %}
        WHEN event_id IN ({% for e in chronic %}'{{ e }}'{{ ", " if not loop.last }}{% endfor %}) THEN 'chronic'
        {%- endif %}
        WHEN recovery_date <= last_evidence_date + {{ ae.episode_gap_days }} THEN 'recovered'
        ELSE 'no_further_evidence'
    END AS end_reason,
    source,
    subtype,
    n_evidence,
    evidence
FROM episodes
