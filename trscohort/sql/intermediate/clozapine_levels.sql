-- Clozapine plasma levels (CLZ-3) with the daily dose they were taken at. A level counts towards
-- the therapeutic level when it is at or above clozapine.therapeutic_level_ng_ml and taken at a
-- stable dose: the dose on the level day has been unchanged (and clozapine taken) on each of the
-- stable_dose_days days before it. Trough timing is not recorded in extracts and is assumed.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

levels AS (
    SELECT l.patient_id, l.collected_at, l.collected_date, l.value, l.source_row
    FROM {{ ref('staging.labs') }} AS l
    CROSS JOIN params
    WHERE l.analyte = 'clozapine_level' AND l.collected_date <= params.as_of_date
)

SELECT
    l.patient_id,
    l.collected_at,
    l.collected_date,
    l.value AS level_ng_ml,
    dp.daily_dose_mg,
    dp.period_start AS dose_since,
    date_diff('day', dp.period_start, l.collected_date) AS days_at_dose,
    dp.patient_id IS NOT NULL AS on_prescribed_clozapine,
    coalesce(
        date_diff('day', dp.period_start, l.collected_date) >= {{ cfg.clozapine.stable_dose_days }}
        AND dp.daily_dose_mg IS NOT NULL,
        FALSE
    ) AS is_stable_dose,
    l.value >= {{ cfg.clozapine.therapeutic_level_ng_ml }} AS is_therapeutic,
    coalesce(
        l.value >= {{ cfg.clozapine.therapeutic_level_ng_ml }}
        AND date_diff('day', dp.period_start, l.collected_date) >= {{ cfg.clozapine.stable_dose_days }}
        AND dp.daily_dose_mg IS NOT NULL,
        FALSE
    ) AS is_qualifying,
    l.source_row
FROM levels AS l
LEFT JOIN {{ ref('intermediate.clozapine_dose_periods') }} AS dp
    ON dp.patient_id = l.patient_id
    AND l.collected_date BETWEEN dp.period_start AND dp.period_end
