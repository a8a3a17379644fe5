{%- import 'macros.sql' as m with context -%}
{%- import 'qi_macros.sql' as q with context -%}
-- QI-LEVEL (definition: qi_level.definition.yml): clozapine-resistant or non-responding patients
-- (intermediate.qi_resistance) with at least one clozapine level (intermediate.clozapine_levels,
-- any value) taken in the same course on or before the day they were called resistant or
-- non-responding: a level on that day counts, the day after not. One row per patient and stratum
-- ('all', 'clozapine_resistant', 'non_responding'; each patient is in one of the two).
WITH patients AS (
    SELECT * FROM {{ ref('intermediate.qi_resistance') }}
),

levels AS (
    SELECT
        p.patient_id,
        count(*) AS n_levels,
        max(l.collected_date) AS latest_date,
        arg_max(l.level_ng_ml, l.collected_at) AS latest_ng_ml
    FROM patients AS p
    INNER JOIN {{ ref('intermediate.clozapine_levels') }} AS l
        ON l.patient_id = p.patient_id
        AND l.collected_date BETWEEN p.course_start AND p.index_date
    GROUP BY p.patient_id
),

by_stratum AS (
    SELECT *, 'all' AS stratum FROM patients
    UNION ALL
    SELECT *, resistance_kind AS stratum FROM patients
)

SELECT
    'QI-LEVEL' AS indicator_id,
    p.stratum,
    p.patient_id,
    p.index_date,
    TRUE AS in_denominator,
    l.n_levels IS NOT NULL AS in_numerator,
    CAST(NULL AS VARCHAR) AS exclusion,
    CAST(coalesce(l.n_levels, 0) AS DOUBLE) AS value,
    replace(p.resistance_kind, '_', ' ') || ' from ' || {{ q.day('p.index_date') }} || ' (' || p.assessment
        || '); '
        || CASE
            WHEN l.n_levels IS NOT NULL
                THEN CAST(l.n_levels AS VARCHAR) || ' clozapine level(s) in the course since '
                    || {{ q.day('p.course_start') }} || ', the latest ' || {{ m.fmt_num('l.latest_ng_ml') }}
                    || ' ng/mL on ' || {{ q.day('l.latest_date') }}
            ELSE 'no clozapine level in the course since ' || {{ q.day('p.course_start') }}
                || coalesce(' (basis: ' || p.level_basis || ')', '')
        END AS evidence
FROM by_stratum AS p
LEFT JOIN levels AS l ON l.patient_id = p.patient_id
