{%- set ae = cfg.adverse_events -%}
{%- set chronic = ae.once_per_patient or [] -%}
-- Adverse-event episodes: evidence of one event within adverse_events.episode_gap_days of the
-- previous evidence of the same patient and event is the same episode (a repeated diagnosis code,
-- a run of low ANCs, a lab followed by its diagnosis); a longer gap starts a new one. Events in
-- adverse_events.once_per_patient (chronic conditions) have one episode per patient.
WITH evidence AS (
    SELECT * FROM {{ ref('intermediate.ae_evidence') }}
),

ordered AS (
    SELECT
        *,
        lag(evidence_date) OVER (
            PARTITION BY patient_id, event_id ORDER BY evidence_date, source, detail
        ) AS previous_date
    FROM evidence
),

numbered AS (
    SELECT
        *,
        sum(
            CASE
                WHEN previous_date IS NULL THEN 1
                {%- if chronic %}
                WHEN event_id IN ({% for e in chronic %}'{{ e }}'{{ ", " if not loop.last }}{% endfor %}) THEN 0
                {%- endif %}
                WHEN date_diff('day', previous_date, evidence_date) > {{ ae.episode_gap_days }} THEN 1
                ELSE 0
            END
        ) OVER (
            PARTITION BY patient_id, event_id ORDER BY evidence_date, source, detail
            ROWS UNBOUNDED PRECEDING
        ) AS episode_number
    FROM ordered
),

items AS (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY patient_id, event_id, episode_number ORDER BY evidence_date, source, detail
        ) AS item
    FROM numbered
)

SELECT
    patient_id,
    event_id,
    CAST(episode_number AS INTEGER) AS episode_number,
    min(evidence_date) AS onset_date,
    max(evidence_date) AS last_evidence_date,
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
