{%- import 'qi_macros.sql' as q with context -%}
{%- set follow = cfg.qi.trs_no_clozapine_follow_up_days | int -%}
-- QI-TRS-NOCLZ (definition: qi_trs_noclz.definition.yml): patients with treatment-resistant
-- schizophrenia (marts.patient_trs_status trs, TRS-1..8) never prescribed or dispensed clozapine
-- up to the as-of date (marts.patient_clozapine_status: no clozapine coverage). Extracts show
-- prescribing, not offers: a declined offer looks like no clozapine. Patients whose TRS date is
-- fewer than qi.trs_no_clozapine_follow_up_days before the as-of date, or who died within that
-- many days of it, are excluded (too early to judge). The numerator is the finding (lower is
-- better); value = days from the TRS date to the as-of date for those without clozapine.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

judged AS (
    SELECT
        t.patient_id,
        t.trs_date,
        c.clozapine_start_date,
        params.as_of_date,
        CASE
            WHEN pt.death_date IS NOT NULL AND pt.death_date <= params.as_of_date
                AND pt.death_date < t.trs_date + {{ follow }}
                THEN 'died within {{ follow }} days of the TRS date'
            WHEN t.trs_date + {{ follow }} > params.as_of_date
                THEN 'TRS documented fewer than {{ follow }} days before the as-of date'
        END AS exclusion
    FROM {{ ref('marts.patient_trs_status') }} AS t
    CROSS JOIN params
    INNER JOIN {{ ref('marts.patient_clozapine_status') }} AS c ON c.patient_id = t.patient_id
    INNER JOIN {{ ref('staging.patients') }} AS pt ON pt.patient_id = t.patient_id
    WHERE t.trs_status = 'trs'
)

SELECT
    'QI-TRS-NOCLZ' AS indicator_id,
    'all' AS stratum,
    patient_id,
    trs_date AS index_date,
    exclusion IS NULL AS in_denominator,
    exclusion IS NULL AND clozapine_start_date IS NULL AS in_numerator,
    exclusion,
    CASE WHEN exclusion IS NULL AND clozapine_start_date IS NULL
         THEN CAST(date_diff('day', trs_date, as_of_date) AS DOUBLE) END AS value,
    'TRS from ' || {{ q.day('trs_date') }} || '; '
        || CASE
            WHEN clozapine_start_date IS NOT NULL THEN 'clozapine from ' || {{ q.day('clozapine_start_date') }}
            ELSE 'no clozapine prescription or dispensing up to the as-of date ('
                || CAST(date_diff('day', trs_date, as_of_date) AS VARCHAR) || ' days later)'
        END AS evidence
FROM judged
