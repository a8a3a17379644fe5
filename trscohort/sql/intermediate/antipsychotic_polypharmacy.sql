-- Antipsychotic polypharmacy (TRS-2): periods on two or more different antipsychotics at once
-- (clozapine included; drugs with trs_relevant only), one row per episode. Days on two or more
-- drugs separated by at most trs.episode_merge_gap_days merge into one episode, whose `days`
-- span is what a "polypharmacy > 90 days" indicator counts. By default these periods are not
-- antipsychotic trials (trs.count_polypharmacy_trials: false).
WITH segments AS (
    SELECT * FROM {{ ref('intermediate.antipsychotic_segments') }}
),

-- The patient's days on two or more drugs (all drugs share the patient's segment boundaries).
periods AS (
    SELECT
        patient_id,
        segment_start,
        any_value(segment_end) AS segment_end,
        any_value(days) AS days,
        max(n_antipsychotics) AS n_antipsychotics,
        bool_or(is_clozapine) AS includes_clozapine,
        bool_or(active_at_as_of) AS active_at_as_of
    FROM segments
    WHERE is_polypharmacy
    GROUP BY patient_id, segment_start
),

numbered AS (
    SELECT
        *,
        sum(CASE
            WHEN previous_end IS NULL
                OR date_diff('day', previous_end, segment_start) - 1 > {{ cfg.trs.episode_merge_gap_days }}
                THEN 1
            ELSE 0
        END) OVER (PARTITION BY patient_id ORDER BY segment_start ROWS UNBOUNDED PRECEDING)
            AS polypharmacy_number
    FROM (
        SELECT
            *,
            max(segment_end) OVER (
                PARTITION BY patient_id ORDER BY segment_start
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
            ) AS previous_end
        FROM periods
    ) AS p
),

drugs AS (
    SELECT
        n.patient_id,
        n.polypharmacy_number,
        string_agg(DISTINCT s.generic_name, ' + ' ORDER BY s.generic_name) AS drugs
    FROM numbered AS n
    INNER JOIN segments AS s
        ON s.patient_id = n.patient_id AND s.segment_start = n.segment_start
    GROUP BY n.patient_id, n.polypharmacy_number
)

SELECT
    n.patient_id,
    CAST(n.polypharmacy_number AS INTEGER) AS polypharmacy_number,
    min(n.segment_start) AS start_date,
    max(n.segment_end) AS end_date,
    date_diff('day', min(n.segment_start), max(n.segment_end)) + 1 AS days,
    CAST(sum(n.days) AS INTEGER) AS polypharmacy_days,
    any_value(d.drugs) AS drugs,
    CAST(max(n.n_antipsychotics) AS INTEGER) AS max_antipsychotics,
    bool_or(n.includes_clozapine) AS includes_clozapine,
    bool_or(n.active_at_as_of) AS ongoing_at_as_of
FROM numbered AS n
INNER JOIN drugs AS d
    ON d.patient_id = n.patient_id AND d.polypharmacy_number = n.polypharmacy_number
GROUP BY n.patient_id, n.polypharmacy_number
