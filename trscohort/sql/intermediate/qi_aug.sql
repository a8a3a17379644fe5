{%- import 'qi_macros.sql' as q with context -%}
-- QI-AUG (definition: qi_aug.definition.yml): clozapine-resistant patients (intermediate.
-- qi_resistance) with an augmentation strategy, by kind, and the days from being called
-- resistant to the first augmentation. An augmentation is a drug (or an ECT session) taken on a
-- day on clozapine (intermediate.clozapine_exposure) on or after the resistance date:
-- aripiprazole, amisulpride, another antipsychotic (trs_relevant), valproate or lamotrigine, an
-- antidepressant (reference/comedications.csv category), or ECT when the site maps its procedure
-- code to the concept `ect` (reference/procedures.csv; no ICD-10 code means ECT). One already
-- running at the resistance date counts from that day (0 days). One row per resistant patient
-- and stratum ('all', then each kind with the same denominator).
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

resistant AS (
    SELECT *
    FROM {{ ref('intermediate.qi_resistance') }}
    WHERE resistance_kind = 'clozapine_resistant'
),

episodes AS (
    SELECT patient_id, episode_start, episode_end FROM {{ ref('intermediate.clozapine_exposure') }}
),

candidates AS (
    SELECT
        patient_id,
        generic_name AS what,
        CASE generic_name
            WHEN 'aripiprazole' THEN 'aripiprazole'
            WHEN 'amisulpride' THEN 'amisulpride'
            ELSE 'other antipsychotic'
        END AS kind,
        start_date,
        end_date
    FROM {{ ref('intermediate.antipsychotic_prescriptions') }}
    WHERE NOT is_clozapine AND trs_relevant AND start_date <= end_date
    UNION ALL
    SELECT
        patient_id,
        generic_name AS what,
        CASE WHEN concept_id IN ('valproate', 'lamotrigine') THEN 'valproate or lamotrigine'
             ELSE 'antidepressant' END AS kind,
        start_date,
        end_date
    FROM {{ ref('intermediate.qi_comedications') }}
    WHERE concept_id IN ('valproate', 'lamotrigine') OR {{ q.has_category('categories', 'antidepressant') }}
    UNION ALL
    SELECT
        d.patient_id,
        'ECT (code ' || d.source_code || ')' AS what,
        'ECT' AS kind,
        d.diagnosed_at AS start_date,
        d.diagnosed_at AS end_date
    FROM {{ ref('staging.diagnoses') }} AS d
    CROSS JOIN params
    INNER JOIN {{ ref('reference.site_concepts') }} AS sc
        ON sc.domain = 'diagnoses' AND sc.source_key = d.source_code AND sc.concept = 'ect'
    WHERE d.diagnosed_at <= params.as_of_date
),

-- The first day of each kind taken with clozapine on or after the resistance date.
augmented AS (
    SELECT
        r.patient_id,
        c.kind,
        min(greatest(c.start_date, e.episode_start, r.index_date)) AS first_day,
        arg_min(c.what, greatest(c.start_date, e.episode_start, r.index_date)) AS what
    FROM resistant AS r
    INNER JOIN candidates AS c ON c.patient_id = r.patient_id
    INNER JOIN episodes AS e ON e.patient_id = r.patient_id
    WHERE greatest(c.start_date, e.episode_start, r.index_date) <= least(c.end_date, e.episode_end)
    GROUP BY r.patient_id, c.kind
),

by_stratum AS (
    SELECT patient_id, kind AS stratum, first_day, what FROM augmented
    UNION ALL
    SELECT patient_id, 'all' AS stratum, min(first_day), arg_min(what || ' (' || kind || ')', first_day)
    FROM augmented
    GROUP BY patient_id
),

strata AS (
    {{ q.strata(['aripiprazole', 'amisulpride', 'other antipsychotic', 'valproate or lamotrigine',
                 'antidepressant', 'ECT']) }}
)

SELECT
    'QI-AUG' AS indicator_id,
    st.stratum,
    r.patient_id,
    r.index_date,
    TRUE AS in_denominator,
    b.first_day IS NOT NULL AS in_numerator,
    CAST(NULL AS VARCHAR) AS exclusion,
    CAST(date_diff('day', r.index_date, b.first_day) AS DOUBLE) AS value,
    'clozapine-resistant from ' || {{ q.day('r.index_date') }} || ' (' || r.assessment || '); '
        || CASE
            WHEN b.first_day IS NOT NULL
                THEN b.what || ' with clozapine from ' || {{ q.day('b.first_day') }} || ', '
                    || CAST(date_diff('day', r.index_date, b.first_day) AS VARCHAR) || ' days after'
            WHEN st.stratum = 'all' THEN 'no augmentation with clozapine since'
            ELSE 'no ' || st.stratum || ' with clozapine since'
        END AS evidence
FROM resistant AS r
CROSS JOIN strata AS st
LEFT JOIN by_stratum AS b ON b.patient_id = r.patient_id AND b.stratum = st.stratum
