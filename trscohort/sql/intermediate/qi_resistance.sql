{%- import 'macros.sql' as m with context -%}
-- QI-AUG, QI-LEVEL: when each patient was called clozapine-resistant or was seen not to respond
-- to clozapine, one row per patient.
--   clozapine_resistant: status clozapine_resistant (CLZ-6); index_date = the first persistent
--     PANSS/BPRS (TRS-7 thresholds) on or after the judged course's adequate_trial_date, when
--     resistance could first be called (the adequate trial date itself when the status came from
--     clozapine.status_without_assessment);
--   non_responding: not clozapine-resistant, with a persistent PANSS/BPRS taken on clozapine at
--     least qi.nonresponse_min_days after the start of a course (non-response documented while
--     the trial may not have been adequate); index_date = the first such assessment.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

status AS (
    SELECT *
    FROM {{ ref('marts.patient_clozapine_status') }}
    WHERE clozapine_status <> 'not_on_clozapine'
),

courses AS (
    SELECT patient_id, course_number, min(episode_start) AS course_start, max(episode_end) AS course_end
    FROM {{ ref('intermediate.clozapine_exposure') }}
    GROUP BY patient_id, course_number
),

persistent AS (
    SELECT
        s.patient_id,
        s.assessed_at,
        s.instrument || ' ' || {{ m.fmt_num('s.score') }} || ' on ' || CAST(s.assessed_at AS VARCHAR)
            AS assessment
    FROM {{ ref('intermediate.symptom_scores') }} AS s
    CROSS JOIN params
    WHERE s.is_symptom_scale AND s.symptoms_persistent AND s.assessed_at <= params.as_of_date
),

resistant AS (
    SELECT
        st.patient_id,
        'clozapine_resistant' AS resistance_kind,
        st.course_number,
        st.course_start,
        coalesce(min(p.assessed_at), st.adequate_trial_date) AS index_date,
        coalesce(
            arg_min(p.assessment, p.assessed_at),
            'no PANSS/BPRS after the adequate trial (clozapine.status_without_assessment)'
        ) AS assessment
    FROM status AS st
    LEFT JOIN persistent AS p
        ON p.patient_id = st.patient_id AND p.assessed_at >= st.adequate_trial_date
    WHERE st.clozapine_status = 'clozapine_resistant'
    GROUP BY st.patient_id, st.course_number, st.course_start, st.adequate_trial_date
),

non_responding AS (
    SELECT patient_id, resistance_kind, course_number, course_start, index_date, assessment
    FROM (
        SELECT
            c.patient_id,
            'non_responding' AS resistance_kind,
            c.course_number,
            c.course_start,
            p.assessed_at AS index_date,
            p.assessment,
            row_number() OVER (PARTITION BY c.patient_id ORDER BY p.assessed_at) AS rn
        FROM courses AS c
        INNER JOIN persistent AS p
            ON p.patient_id = c.patient_id
            AND p.assessed_at BETWEEN c.course_start + {{ cfg.qi.nonresponse_min_days | int }} AND c.course_end
        WHERE c.patient_id NOT IN (SELECT patient_id FROM resistant)
    ) AS ranked
    WHERE rn = 1
)

SELECT
    r.*,
    st.clozapine_status,
    st.level_basis
FROM (
    SELECT * FROM resistant
    UNION ALL
    SELECT * FROM non_responding
) AS r
INNER JOIN status AS st ON st.patient_id = r.patient_id
