{%- import 'macros.sql' as m -%}
-- One row per patient: TRS status (TRS-1 ... TRS-8) with the evidence for each criterion.
WITH patients AS (
    SELECT patient_id FROM {{ ref('staging.patients') }}
),

-- TRS-1: diagnoses up to the as-of date in the schizophrenia or schizoaffective code groups
-- (any code system: WHO ICD-10, ICD-10-CM without F20.81, ICD-9-CM 295.x, SNOMED CT).
diagnosis_groups AS (
    SELECT patient_id, group_id, min(diagnosed_at) AS first_diagnosed_at
    FROM {{ ref('intermediate.diagnosis_groups') }}
    WHERE group_id IN ('schizophrenia', 'schizoaffective')
    GROUP BY patient_id, group_id
),

diagnosis AS (
    SELECT
        patient_id,
        bool_or(group_id = 'schizophrenia') AS has_schizophrenia,
        bool_or(group_id = 'schizoaffective') AS has_schizoaffective
    FROM diagnosis_groups
    GROUP BY patient_id
),

trials AS (
    SELECT * FROM {{ ref('intermediate.antipsychotic_trials') }}
),

-- TRS-6: adequate failed trials, in the order they ended; a trial counts towards the total only
-- when its drug (or, with require_different_classes, its class) is new for the patient.
adequate_failed AS (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY patient_id, {{ 'drug_class' if cfg.trs.require_different_classes else 'generic_name' }}
            ORDER BY end_date, start_date, episode_id
        ) = 1 AS first_of_its_kind
    FROM trials
    WHERE adequate AND failed
),

distinct_failures AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY patient_id ORDER BY end_date, start_date, episode_id) AS nth
    FROM adequate_failed
    WHERE first_of_its_kind
),

-- The trial that completes TRS-6 (the 2nd distinct adequate failed trial by default).
completing AS (
    SELECT patient_id, episode_id, generic_name, end_date,
           greatest(end_date, failure_assessed_at) AS criterion_date
    FROM distinct_failures
    WHERE nth = {{ cfg.trs.min_failed_adequate_trials }}
),

trial_counts AS (
    SELECT
        patient_id,
        count(*) AS n_trials,
        count(*) FILTER (WHERE adequate) AS n_adequate_trials,
        count(*) FILTER (WHERE adequate AND failed) AS n_failed_adequate_trials,
        count(DISTINCT generic_name) FILTER (WHERE adequate AND failed) AS n_distinct_failed_drugs,
        count(DISTINCT drug_class) FILTER (WHERE adequate AND failed) AS n_distinct_failed_classes,
        -- pseudo-resistance: TRS-6 would hold if the inadequate failed trials counted too
        count(DISTINCT {{ 'drug_class' if cfg.trs.require_different_classes else 'generic_name' }})
            FILTER (WHERE failed) AS n_distinct_failed_any_adequacy
    FROM trials
    GROUP BY patient_id
),

-- An ordered string_agg in a query of its own: Spark fails on one that shares its GROUP BY
-- with DISTINCT aggregates (docs/spark.md).
inadequate_reasons AS (
    SELECT
        patient_id,
        string_agg(
            generic_name || ' ' || CAST(start_date AS VARCHAR) || ' to ' || CAST(end_date AS VARCHAR)
            || ': ' || reasons, '; ' ORDER BY start_date, generic_name, end_date
        ) AS inadequate_failed_reasons
    FROM trials
    WHERE failed AND NOT adequate
    GROUP BY patient_id
),

-- TRS-2: polypharmacy, reported (not trials unless trs.count_polypharmacy_trials).
polypharmacy AS (
    SELECT
        patient_id,
        count(*) AS n_polypharmacy_episodes,
        max(days) AS longest_polypharmacy_days,
        arg_max(drugs || ' ' || CAST(start_date AS VARCHAR) || ' to ' || CAST(end_date AS VARCHAR)
            || ', ' || CAST(days AS VARCHAR) || ' days', days) AS longest_polypharmacy
    FROM {{ ref('intermediate.antipsychotic_polypharmacy') }}
    GROUP BY patient_id
),

-- TRS-9 (optimum, research-grade criteria; reported, not required): among the adequate failed
-- trials that count for TRS-6, one confirmed by an antipsychotic level in range, and one given
-- as a long-acting injectable (administered by staff: the closest to a supervised trial the
-- extracts show; "prospective" cannot be seen in them).
trs9 AS (
    SELECT
        patient_id,
        bool_or(level_in_range) AS level_confirmed,
        bool_or(route = 'lai') AS supervised_trial
    FROM distinct_failures
    WHERE nth <= {{ cfg.trs.min_failed_adequate_trials }}
    GROUP BY patient_id
),

-- TRS-7 and TRS-8 are read from the assessments dated from the completing trial's failure
-- window on (without a completing trial: all of them), and before clozapine was started: TRS is
-- established on the trials before clozapine, so a response to clozapine does not undo it.
clozapine_starts AS (
    SELECT DISTINCT patient_id, start_date
    FROM {{ ref('intermediate.antipsychotic_prescriptions') }}
    WHERE is_clozapine
),

symptom_anchor AS (
    SELECT
        p.patient_id,
        c.end_date - {{ cfg.trs.failure_window_days_before_end }} AS from_date,
        min(cz.start_date) AS before_date
    FROM patients AS p
    LEFT JOIN completing AS c ON c.patient_id = p.patient_id
    LEFT JOIN clozapine_starts AS cz
        ON cz.patient_id = p.patient_id
        AND (c.end_date IS NULL OR cz.start_date > c.end_date - {{ cfg.trs.failure_window_days_before_end }})
    GROUP BY p.patient_id, c.end_date
),

anchored_scores AS (
    SELECT s.*
    FROM {{ ref('intermediate.symptom_scores') }} AS s
    JOIN symptom_anchor AS a
        ON a.patient_id = s.patient_id
        AND (a.from_date IS NULL OR s.assessed_at >= a.from_date)
        AND (a.before_date IS NULL OR s.assessed_at < a.before_date)
),

{%- macro latest(scale_flag, verdict, order) %}
    SELECT patient_id, assessed_at, instrument, score, {{ verdict }}
    FROM (
        SELECT *, row_number() OVER (PARTITION BY patient_id ORDER BY {{ order }}) AS recency
        FROM anchored_scores
        WHERE {{ scale_flag }}
    ) AS ranked
    WHERE recency = 1
{%- endmacro %}

latest_symptoms AS (
    {{- latest('is_symptom_scale', 'symptoms_persistent', 'assessed_at DESC, score DESC, instrument') }}
),

latest_function AS (
    {{- latest('is_function_scale', 'functionally_impaired', 'assessed_at DESC, instrument') }}
),

clozapine_start AS (
    SELECT patient_id, min(start_date) AS clozapine_start_date
    FROM clozapine_starts
    GROUP BY patient_id
),

assembled AS (
    SELECT
        p.patient_id,
        coalesce(d.has_schizophrenia, FALSE) AS has_schizophrenia,
        coalesce(d.has_schizoaffective, FALSE) AS has_schizoaffective,
        coalesce(d.has_schizophrenia, FALSE)
            {%- if cfg.trs.include_schizoaffective %} OR coalesce(d.has_schizoaffective, FALSE){% endif %}
            AS schizophrenia_dx,
        coalesce(t.n_trials, 0) AS n_trials,
        coalesce(t.n_adequate_trials, 0) AS n_adequate_trials,
        coalesce(t.n_failed_adequate_trials, 0) AS n_failed_adequate_trials,
        coalesce(t.n_distinct_failed_drugs, 0) AS n_distinct_failed_drugs,
        coalesce(t.n_distinct_failed_classes, 0) AS n_distinct_failed_classes,
        coalesce(t.n_distinct_failed_any_adequacy, 0) AS n_distinct_failed_any_adequacy,
        ir.inadequate_failed_reasons,
        c.episode_id AS completing_episode_id,
        c.criterion_date,
        coalesce(pp.n_polypharmacy_episodes, 0) AS n_polypharmacy_episodes,
        pp.longest_polypharmacy_days,
        pp.longest_polypharmacy,
        coalesce(t9.level_confirmed, FALSE) AS trs9_level_confirmed,
        coalesce(t9.supervised_trial, FALSE) AS trs9_supervised_trial,
        ls.score AS latest_symptom_score,
        ls.instrument AS latest_symptom_instrument,
        ls.assessed_at AS latest_symptom_date,
        ls.symptoms_persistent,
        lf.functionally_impaired AS functional_impairment,
        lf.instrument AS latest_function_instrument,
        lf.score AS latest_function_score,
        cz.clozapine_start_date
    FROM patients AS p
    LEFT JOIN diagnosis AS d ON d.patient_id = p.patient_id
    LEFT JOIN trial_counts AS t ON t.patient_id = p.patient_id
    LEFT JOIN inadequate_reasons AS ir ON ir.patient_id = p.patient_id
    LEFT JOIN completing AS c ON c.patient_id = p.patient_id
    LEFT JOIN latest_symptoms AS ls ON ls.patient_id = p.patient_id
    LEFT JOIN latest_function AS lf ON lf.patient_id = p.patient_id
    LEFT JOIN clozapine_start AS cz ON cz.patient_id = p.patient_id
    LEFT JOIN polypharmacy AS pp ON pp.patient_id = p.patient_id
    LEFT JOIN trs9 AS t9 ON t9.patient_id = p.patient_id
),

classified AS (
    SELECT
        *,
        completing_episode_id IS NOT NULL AS trs6_met,
        CASE
            WHEN NOT schizophrenia_dx THEN 'no_schizophrenia_diagnosis'
            WHEN completing_episode_id IS NOT NULL AND symptoms_persistent
                 AND functional_impairment IS DISTINCT FROM FALSE THEN 'trs'
            WHEN completing_episode_id IS NULL
                 AND n_distinct_failed_any_adequacy >= {{ cfg.trs.min_failed_adequate_trials }}
                 THEN 'pseudo_resistant'
            ELSE 'not_trs'
        END AS trs_status
    FROM assembled
)

SELECT
    patient_id,
    trs_status,
    schizophrenia_dx,
    has_schizoaffective AS schizoaffective_dx,
    n_trials,
    n_adequate_trials,
    n_failed_adequate_trials,
    n_distinct_failed_drugs,
    CAST(n_polypharmacy_episodes AS INTEGER) AS n_polypharmacy_episodes,
    longest_polypharmacy_days,
    trs9_level_confirmed,
    trs9_supervised_trial,
    trs_status = 'trs' AND trs9_level_confirmed AND trs9_supervised_trial AS trs9_optimum_criteria,
    latest_symptom_score,
    latest_symptom_instrument,
    latest_symptom_date,
    symptoms_persistent,
    functional_impairment,
    CASE WHEN trs_status = 'trs' THEN criterion_date END AS trs_date,
    clozapine_start_date,
    clozapine_start_date IS NOT NULL
        AND (trs_status <> 'trs' OR criterion_date > clozapine_start_date) AS clozapine_without_documented_trs,
    CASE WHEN trs_status = 'trs'
        THEN 'all required criteria met (TRS-1, TRS-3 to TRS-8); TRS-9 optimum criteria '
            || CASE WHEN trs9_level_confirmed AND trs9_supervised_trial THEN 'met'
                ELSE 'not met (' || concat_ws(', ',
                    CASE WHEN NOT trs9_level_confirmed THEN 'no antipsychotic level in range' END,
                    CASE WHEN NOT trs9_supervised_trial THEN 'no long-acting (supervised) trial' END)
                    || '; reported, not required)' END
        ELSE nullif(concat_ws('; ',
            CASE WHEN NOT schizophrenia_dx THEN
                'TRS-1: no schizophrenia diagnosis (F20 but not F20.81, 295.x, SNOMED 58214004{{ "; or schizoaffective" if cfg.trs.include_schizoaffective }})'
                {%- if not cfg.trs.include_schizoaffective %} || CASE WHEN has_schizoaffective
                    THEN '; schizoaffective (F25) not counted: trs.include_schizoaffective is false' ELSE '' END{% endif %}
            END,
            CASE WHEN schizophrenia_dx AND n_trials = 0 THEN 'TRS-2: no antipsychotic trial recorded' END,
            CASE WHEN schizophrenia_dx AND n_trials > 0 AND NOT trs6_met THEN
                'TRS-6: ' || CAST({{ 'n_distinct_failed_classes' if cfg.trs.require_different_classes else 'n_distinct_failed_drugs' }} AS VARCHAR)
                || ' adequate failed trial(s) of different {{ "classes" if cfg.trs.require_different_classes else "drugs" }}, need {{ cfg.trs.min_failed_adequate_trials }}'
            END,
            CASE WHEN schizophrenia_dx AND NOT trs6_met THEN inadequate_failed_reasons END,
            {%- if not cfg.trs.count_polypharmacy_trials %}
            CASE WHEN schizophrenia_dx AND NOT trs6_met AND n_polypharmacy_episodes > 0 THEN
                'TRS-2: ' || CAST(n_polypharmacy_episodes AS VARCHAR) || ' period(s) on two or more antipsychotics '
                || 'together not counted as trials (longest: ' || longest_polypharmacy || ')'
            END,
            {%- endif %}
            CASE WHEN schizophrenia_dx AND trs6_met AND symptoms_persistent IS NULL THEN
                'TRS-7: no PANSS/BPRS after the trial that completed TRS-6'
            END,
            CASE WHEN schizophrenia_dx AND NOT trs6_met AND latest_symptom_date IS NULL THEN
                'TRS-7: no PANSS/BPRS recorded, so no trial can be judged failed'
            END,
            CASE WHEN schizophrenia_dx AND trs6_met AND NOT symptoms_persistent THEN
                'TRS-7: latest ' || latest_symptom_instrument || ' ' || {{ m.fmt_num('latest_symptom_score') }}
                || ' on ' || CAST(latest_symptom_date AS VARCHAR) || ' below the persistent-symptom threshold'
            END,
            CASE WHEN schizophrenia_dx AND trs6_met AND functional_impairment = FALSE THEN
                'TRS-8: latest ' || latest_function_instrument || ' ' || {{ m.fmt_num('latest_function_score') }}
                || ' shows no more than mild impairment'
            END
        ), '')
    END AS reasons
FROM classified
