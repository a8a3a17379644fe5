{%- import 'macros.sql' as m -%}
{%- set a = cfg.anc -%}
-- Every ANC result of a patient who has had clozapine, in the ANC table's categories (2015 US
-- REMS): general population normal >= anc.normal_min, mild >= mild_min, moderate >= moderate_min,
-- severe below; with benign ethnic neutropenia (BEN) normal >= ben_normal_min (no mild
-- category). A result written with a bound ("<0.5 x10^9/L") gets the category the bound proves
-- (macros.anc_category, the one qualifier rule shared with AE-NEU and the safety flags): "<500"
-- is severe, "<1000" only moderate_or_severe. Treatment week 1 starts on day 0, the first
-- clozapine dose of the schedule.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

schedules AS (
    SELECT * FROM {{ ref('intermediate.monitoring_schedules') }}
),

anc AS (
    SELECT l.patient_id, l.collected_at, l.collected_date, l.value, l.value_comparator, l.source_row
    FROM {{ ref('staging.labs') }} AS l
    CROSS JOIN params
    WHERE l.analyte = 'anc'
        AND l.collected_date <= params.as_of_date
        AND l.patient_id IN (SELECT patient_id FROM schedules)
),

-- The schedule a result belongs to: the latest one whose baseline window (MON-ANC-0) has
-- started by the result date, else the first.
anchored AS (
    SELECT
        anc.*,
        s.anchor_date,
        s.benign_ethnic_neutropenia,
        row_number() OVER (
            PARTITION BY anc.patient_id, anc.source_row
            ORDER BY s.baseline_start <= anc.collected_date DESC,
                CASE WHEN s.baseline_start <= anc.collected_date THEN s.anchor_date END DESC,
                s.anchor_date
        ) AS rn
    FROM anc
    INNER JOIN (
        SELECT *, anchor_date - {{ cfg.monitoring.baseline_anc_days_before }} AS baseline_start
        FROM schedules
    ) AS s ON s.patient_id = anc.patient_id
),

categorised AS (
    SELECT
        *,
        {{ m.anc_category('value', 'value_comparator', 'benign_ethnic_neutropenia', a) }} AS anc_category
    FROM anchored
    WHERE rn = 1
),

covered AS (
    SELECT DISTINCT anc.source_row
    FROM anc
    INNER JOIN {{ ref('intermediate.clozapine_exposure') }} AS e
        ON e.patient_id = anc.patient_id
        AND anc.collected_date BETWEEN e.episode_start AND e.episode_end
)

SELECT
    c.patient_id,
    c.collected_at,
    c.collected_date,
    c.value AS anc_per_ul,
    c.value_comparator,
    c.benign_ethnic_neutropenia,
    c.anc_category,
    c.anc_category IN ('normal', 'mild', 'moderate', 'severe') AS category_proven,
    CASE
        WHEN c.anc_category = 'normal' THEN 'continue'
        WHEN c.anc_category = 'mild' THEN 'continue; ANC three times a week until >= {{ a.normal_min }}/uL'
        WHEN c.anc_category = 'moderate' AND c.benign_ethnic_neutropenia
            THEN 'continue; ANC three times a week until >= {{ a.ben_normal_min }}/uL; haematology consultation'
        WHEN c.anc_category = 'moderate'
            THEN 'interrupt clozapine; ANC daily until >= {{ a.mild_min }}/uL, then resume'
        WHEN c.anc_category = 'severe' THEN 'discontinue clozapine; no rechallenge'
        WHEN c.anc_category = 'moderate_or_severe' AND c.benign_ethnic_neutropenia
            THEN 'repeat ANC at once (below {{ a.ben_normal_min }}/uL, severe not excluded); haematology consultation'
        WHEN c.anc_category = 'moderate_or_severe'
            THEN 'interrupt clozapine; repeat ANC at once (below {{ a.mild_min }}/uL, severe not excluded)'
        WHEN c.anc_category = 'mild_or_worse'
            THEN 'repeat ANC at once (below {{ a.normal_min }}/uL, grade unknown); ANC three times a week meanwhile'
        WHEN c.anc_category = 'mild_or_normal'
            THEN 'continue; repeat ANC (at least {{ a.mild_min }}/uL, mild neutropenia not excluded)'
        ELSE 'repeat ANC with a measured value (the reported bound proves no category)'
    END AS required_action,
    c.anchor_date AS clozapine_start_date,
    date_diff('day', c.anchor_date, c.collected_date) AS treatment_day,
    CAST(floor(date_diff('day', c.anchor_date, c.collected_date) / 7) AS INTEGER) + 1 AS treatment_week,
    covered.source_row IS NOT NULL AS on_clozapine,
    c.source_row,
    -- the patient's site, so that reports by site need no join back to the patients
    pt.site
FROM categorised AS c
LEFT JOIN covered ON covered.source_row = c.source_row
LEFT JOIN {{ ref('staging.patients') }} AS pt ON pt.patient_id = c.patient_id
