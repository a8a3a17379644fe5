{%- import 'qi_macros.sql' as q with context -%}
{%- set window = cfg.qi.laxative_window_days | int -%}
{%- set history = cfg.qi.new_starter_history_days | int -%}
-- QI-LAX (definition: qi_lax.definition.yml): clozapine starters with a stool softener, osmotic
-- or stimulant laxative within qi.laxative_window_days of the first dose. One row per starter
-- and stratum ('all', then each laxative kind). Day 0 = the first clozapine dose; a laxative
-- counts when it is taken on any day 0..28 (started before and still taken on day 0 counts;
-- first taken on day 28 counts, on day 29 not). Starters with less than
-- qi.new_starter_history_days of history before the first dose (possible prevalent users) and
-- starters whose day 28 is after the as-of date are excluded.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

starters AS (
    SELECT patient_id, min(episode_start) AS start_date
    FROM {{ ref('intermediate.clozapine_exposure') }}
    GROUP BY patient_id
),

laxatives AS (
    SELECT
        patient_id,
        generic_name,
        start_date,
        end_date,
        CASE
            WHEN {{ q.has_category('categories', 'laxative_softener') }} THEN 'stool softener'
            WHEN {{ q.has_category('categories', 'laxative_osmotic') }} THEN 'osmotic'
            WHEN {{ q.has_category('categories', 'laxative_stimulant') }} THEN 'stimulant'
        END AS kind
    FROM {{ ref('intermediate.qi_comedications') }}
),

-- The first day in the window on which each kind of laxative was taken.
taken AS (
    SELECT
        s.patient_id,
        l.kind,
        min(greatest(l.start_date, s.start_date)) AS first_day,
        arg_min(l.generic_name, greatest(l.start_date, s.start_date)) AS drug
    FROM starters AS s
    INNER JOIN laxatives AS l
        ON l.patient_id = s.patient_id
        AND l.kind IS NOT NULL
        AND l.start_date <= s.start_date + {{ window }}
        AND l.end_date >= s.start_date
    GROUP BY s.patient_id, l.kind
),

by_stratum AS (
    SELECT patient_id, kind AS stratum, first_day, drug || ' (' || kind || ')' AS drug FROM taken
    UNION ALL
    SELECT patient_id, 'all' AS stratum, min(first_day), arg_min(drug || ' (' || kind || ')', first_day)
    FROM taken
    GROUP BY patient_id
),

judged AS (
    SELECT
        s.patient_id,
        s.start_date,
        CASE
            WHEN h.observation_start IS NULL
                OR date_diff('day', h.observation_start, s.start_date) < {{ history }}
                THEN 'possible prevalent user: '
                    || CAST(coalesce(date_diff('day', h.observation_start, s.start_date), 0) AS VARCHAR)
                    || ' days of history before the first clozapine dose (fewer than {{ history }})'
            WHEN s.start_date + {{ window }} > params.as_of_date
                THEN 'fewer than {{ window }} days from the first dose to the as-of date'
        END AS exclusion
    FROM starters AS s
    CROSS JOIN params
    LEFT JOIN {{ ref('intermediate.ae_new_users') }} AS h ON h.patient_id = s.patient_id
),

strata AS (
    {{ q.strata(['stool softener', 'osmotic', 'stimulant']) }}
)

SELECT
    'QI-LAX' AS indicator_id,
    st.stratum,
    j.patient_id,
    j.start_date AS index_date,
    j.exclusion IS NULL AS in_denominator,
    j.exclusion IS NULL AND b.first_day IS NOT NULL AS in_numerator,
    j.exclusion,
    CASE WHEN j.exclusion IS NULL THEN CAST(date_diff('day', j.start_date, b.first_day) AS DOUBLE) END
        AS value,
    'first clozapine dose ' || {{ q.day('j.start_date') }} || '; '
        || CASE
            WHEN b.first_day IS NOT NULL
                THEN b.drug || ' on day ' || CAST(date_diff('day', j.start_date, b.first_day) AS VARCHAR)
                    || ' (' || {{ q.day('b.first_day') }} || ')'
            WHEN st.stratum = 'all' THEN 'no stool softener, osmotic or stimulant laxative on days 0-{{ window }}'
            ELSE 'no ' || st.stratum || ' laxative on days 0-{{ window }}'
        END AS evidence
FROM judged AS j
CROSS JOIN strata AS st
LEFT JOIN by_stratum AS b ON b.patient_id = j.patient_id AND b.stratum = st.stratum
