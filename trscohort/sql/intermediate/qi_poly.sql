{%- import 'qi_macros.sql' as q with context -%}
{%- set days = cfg.qi.polypharmacy_min_days | int -%}
-- QI-POLY (definition: qi_poly.definition.yml): a point-prevalence census on each census day
-- (intermediate.qi_census_days) of the patients taking an antipsychotic that day
-- (intermediate.antipsychotic_segments: trs_relevant drugs, clozapine included). The numerator
-- is being inside a polypharmacy episode (intermediate.antipsychotic_polypharmacy: two or more
-- antipsychotics, gaps of at most trs.episode_merge_gap_days merged) that has lasted more than
-- qi.polypharmacy_min_days by the census day (the 90th day is not more than 90, the 91st is).
-- An episode that includes clozapine is clozapine augmentation: that patient-day is excluded.
-- One row per patient and census day; lower is better.
WITH census AS (
    SELECT census_day FROM {{ ref('intermediate.qi_census_days') }}
),

on_antipsychotics AS (
    SELECT
        s.patient_id,
        c.census_day,
        array_to_string(list_sort(list_distinct(list(s.generic_name))), ' + ') AS drugs
    FROM {{ ref('intermediate.antipsychotic_segments') }} AS s
    INNER JOIN census AS c ON c.census_day BETWEEN s.segment_start AND s.segment_end
    GROUP BY s.patient_id, c.census_day
),

episodes AS (
    SELECT
        p.patient_id,
        c.census_day,
        p.start_date,
        p.drugs,
        p.includes_clozapine,
        date_diff('day', p.start_date, c.census_day) + 1 AS days_so_far
    FROM {{ ref('intermediate.antipsychotic_polypharmacy') }} AS p
    INNER JOIN census AS c ON c.census_day BETWEEN p.start_date AND p.end_date
)

SELECT
    'QI-POLY' AS indicator_id,
    'all' AS stratum,
    a.patient_id,
    a.census_day AS index_date,
    NOT coalesce(e.includes_clozapine, FALSE) AS in_denominator,
    NOT coalesce(e.includes_clozapine, FALSE) AND coalesce(e.days_so_far > {{ days }}, FALSE) AS in_numerator,
    CASE WHEN e.includes_clozapine THEN 'clozapine augmentation (' || e.drugs || ')' END AS exclusion,
    CASE WHEN NOT e.includes_clozapine THEN CAST(e.days_so_far AS DOUBLE) END AS value,
    'census ' || {{ q.day('a.census_day') }} || ': ' || a.drugs
        || CASE
            WHEN e.start_date IS NULL THEN ' (no polypharmacy)'
            ELSE '; polypharmacy (' || e.drugs || ') since ' || {{ q.day('e.start_date') }} || ', '
                || CAST(e.days_so_far AS VARCHAR) || ' days'
        END AS evidence
FROM on_antipsychotics AS a
LEFT JOIN episodes AS e ON e.patient_id = a.patient_id AND e.census_day = a.census_day
