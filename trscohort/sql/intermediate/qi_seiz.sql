{%- import 'macros.sql' as m with context -%}
{%- import 'qi_macros.sql' as q with context -%}
{%- set dose = cfg.qi.seizure_dose_mg -%}
-- QI-SEIZ (definition: qi_seiz.definition.yml): patients whose clozapine daily dose went above
-- qi.seizure_dose_mg (600 is not above, 601 is), with and without an anticonvulsant taken on a
-- day above that dose (valproate preferred; lamotrigine; other anticonvulsants of
-- reference/comedications.csv). One row per patient and stratum: 'all' (any anticonvulsant),
-- 'valproate', 'lamotrigine', 'other anticonvulsant'.
WITH high_dose AS (
    SELECT patient_id, period_start, period_end, daily_dose_mg
    FROM {{ ref('intermediate.clozapine_dose_periods') }}
    WHERE daily_dose_mg > {{ dose }}
),

patients AS (
    SELECT
        patient_id,
        min(period_start) AS first_high_day,
        max(daily_dose_mg) AS max_dose_mg,
        sum(date_diff('day', period_start, period_end) + 1) AS high_days
    FROM high_dose
    GROUP BY patient_id
),

anticonvulsants AS (
    SELECT
        patient_id,
        generic_name,
        start_date,
        end_date,
        CASE WHEN concept_id IN ('valproate', 'lamotrigine') THEN concept_id
             ELSE 'other anticonvulsant' END AS kind
    FROM {{ ref('intermediate.qi_comedications') }}
    WHERE {{ q.has_category('categories', 'anticonvulsant') }}
),

-- The first day above the dose on which each kind of anticonvulsant was taken.
covered AS (
    SELECT
        h.patient_id,
        a.kind,
        min(greatest(a.start_date, h.period_start)) AS first_day,
        arg_min(a.generic_name, greatest(a.start_date, h.period_start)) AS drug
    FROM high_dose AS h
    INNER JOIN anticonvulsants AS a
        ON a.patient_id = h.patient_id
        AND a.start_date <= h.period_end
        AND a.end_date >= h.period_start
    GROUP BY h.patient_id, a.kind
),

by_stratum AS (
    SELECT patient_id, kind AS stratum, first_day, drug FROM covered
    UNION ALL
    SELECT patient_id, 'all' AS stratum, min(first_day), arg_min(drug, first_day)
    FROM covered
    GROUP BY patient_id
),

strata AS (
    {{ q.strata(['valproate', 'lamotrigine', 'other anticonvulsant']) }}
)

SELECT
    'QI-SEIZ' AS indicator_id,
    st.stratum,
    p.patient_id,
    p.first_high_day AS index_date,
    TRUE AS in_denominator,
    b.first_day IS NOT NULL AS in_numerator,
    CAST(NULL AS VARCHAR) AS exclusion,
    CAST(p.max_dose_mg AS DOUBLE) AS value,
    'clozapine above {{ dose }} mg/day from ' || {{ q.day('p.first_high_day') }} || ' (up to '
        || {{ m.fmt_num('p.max_dose_mg') }} || ' mg/day, ' || CAST(p.high_days AS VARCHAR) || ' days); '
        || CASE
            WHEN b.first_day IS NOT NULL THEN b.drug || ' taken from ' || {{ q.day('b.first_day') }}
            WHEN st.stratum = 'all' THEN 'no anticonvulsant on those days'
            ELSE 'no ' || st.stratum || ' on those days'
        END AS evidence
FROM patients AS p
CROSS JOIN strata AS st
LEFT JOIN by_stratum AS b ON b.patient_id = p.patient_id AND b.stratum = st.stratum
