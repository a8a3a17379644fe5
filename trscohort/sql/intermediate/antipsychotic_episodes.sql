-- TRS-2: continuous episodes of one non-clozapine antipsychotic. Prescriptions of the same drug
-- (generic) merge when they overlap or the uncovered gap is <= trs.episode_merge_gap_days; a
-- switch (another antipsychotic started inside the gap) ends the episode.
WITH rx AS (
    SELECT * FROM {{ ref('intermediate.antipsychotic_prescriptions') }}
),

ordered AS (
    SELECT
        *,
        max(end_date) OVER (
            PARTITION BY patient_id, generic_name
            ORDER BY start_date, end_date, prescription_row
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS previous_cover_end
    FROM rx
    WHERE NOT is_clozapine
),

switched AS (
    SELECT DISTINCT o.prescription_row
    FROM ordered AS o
    JOIN rx AS other
        ON other.patient_id = o.patient_id
        AND other.generic_name <> o.generic_name
        AND other.start_date > o.previous_cover_end
        AND other.start_date < o.start_date
),

numbered AS (
    SELECT
        o.*,
        sum(CASE
            WHEN o.previous_cover_end IS NULL THEN 1
            WHEN date_diff('day', o.previous_cover_end, o.start_date) - 1
                 > {{ cfg.trs.episode_merge_gap_days }} THEN 1
            WHEN s.prescription_row IS NOT NULL THEN 1
            ELSE 0
        END) OVER (
            PARTITION BY o.patient_id, o.generic_name
            ORDER BY o.start_date, o.end_date, o.prescription_row
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS episode_number
    FROM ordered AS o
    LEFT JOIN switched AS s ON s.prescription_row = o.prescription_row
),

weighted AS (
    SELECT *, date_diff('day', start_date, end_date) + 1 AS prescription_days FROM numbered
)

SELECT
    patient_id || ':' || generic_name || ':' || CAST(episode_number AS VARCHAR) AS episode_id,
    patient_id,
    generic_name,
    CAST(episode_number AS INTEGER) AS episode_number,
    any_value(drug_class) AS drug_class,
    min(start_date) AS start_date,
    max(end_date) AS end_date,
    date_diff('day', min(start_date), max(end_date)) + 1 AS days,
    bool_or(active_at_as_of) AS ongoing_at_as_of,
    count(*) AS n_prescriptions,
    sum(daily_dose_mg * prescription_days)
        / nullif(sum(CASE WHEN daily_dose_mg IS NOT NULL THEN prescription_days END), 0)
        AS mean_daily_dose_mg,
    max(daily_dose_mg) AS max_daily_dose_mg,
    sum(cpz_equivalent_mg * prescription_days)
        / nullif(sum(CASE WHEN cpz_equivalent_mg IS NOT NULL THEN prescription_days END), 0)
        AS mean_cpz_equivalent_mg,
    CASE WHEN bool_and(is_lai) THEN 'lai' WHEN bool_or(is_lai) THEN 'mixed' ELSE 'oral' END AS route,
    string_agg(DISTINCT cpz_method, ',' ORDER BY cpz_method) AS cpz_method
FROM weighted
GROUP BY patient_id, generic_name, episode_number
