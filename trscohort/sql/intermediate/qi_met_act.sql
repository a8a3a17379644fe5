{%- import 'macros.sql' as m with context -%}
{%- import 'qi_macros.sql' as q with context -%}
{%- set qc = cfg.qi -%}
{%- set window = qc.metabolic_action_days | int -%}
-- QI-MET-ACT (definition: qi_met_act.definition.yml): abnormal metabolic results of clozapine
-- patients, taken on or after the first clozapine dose, followed by an action within
-- qi.metabolic_action_days (day 90 counts, day 91 not). One unit per patient and kind of result,
-- the first abnormal one:
--   HbA1c        >= qi.hba1c_abnormal_mmol_mol (the qualifier rule: ">50" proves it, "<60" not);
--                action: an antidiabetic taken, a diabetes diagnosis (AE-MET group: E11), or a
--                repeat HbA1c / fasting glucose;
--   lipids       LDL, total cholesterol or triglycerides at or above their qi thresholds (mg/dL);
--                action: a statin taken, or a repeat lipid test;
--   weight gain  more than qi.weight_gain_pct over the latest weight in the
--                qi.weight_baseline_days_before days up to the first dose; action: metformin
--                taken, or a repeat weight.
-- A drug counts when taken on any day from the result to day 90 (one already running counts from
-- the result day); a code from the result day; a repeat test from the day after. Results whose
-- day 90 is after the as-of date are excluded. Rows: each unit under 'all' and under its kind.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

first_clozapine AS (
    SELECT patient_id, min(episode_start) AS first_dose
    FROM {{ ref('intermediate.clozapine_exposure') }}
    GROUP BY patient_id
),

labs AS (
    SELECT l.patient_id, l.analyte, l.collected_at, l.collected_date, l.value, l.value_comparator
    FROM {{ ref('staging.labs') }} AS l
    CROSS JOIN params
    WHERE l.collected_date <= params.as_of_date AND l.value IS NOT NULL
      AND l.analyte IN ('hba1c', 'glucose_fasting', 'ldl', 'hdl', 'cholesterol_total', 'triglycerides', 'weight')
),

baseline_weight AS (
    SELECT
        f.patient_id,
        arg_max(l.value, l.collected_at) AS baseline_kg,
        max(l.collected_date) AS baseline_date
    FROM first_clozapine AS f
    INNER JOIN labs AS l
        ON l.patient_id = f.patient_id
        AND l.analyte = 'weight'
        AND l.value_comparator IS NULL
        AND l.collected_date BETWEEN f.first_dose - {{ qc.weight_baseline_days_before | int }} AND f.first_dose
    GROUP BY f.patient_id
),

abnormal AS (
    SELECT
        l.patient_id,
        'HbA1c' AS kind,
        l.collected_at,
        l.collected_date,
        'HbA1c ' || coalesce(l.value_comparator, '') || {{ m.fmt_num('l.value') }}
            || ' mmol/mol (at least {{ qc.hba1c_abnormal_mmol_mol }})' AS result
    FROM labs AS l
    INNER JOIN first_clozapine AS f ON f.patient_id = l.patient_id AND l.collected_date >= f.first_dose
    WHERE l.analyte = 'hba1c'
      AND {{ m.proves_at_least('l.value', 'l.value_comparator', qc.hba1c_abnormal_mmol_mol) }}
    {%- for analyte, label, key in [('ldl', 'LDL cholesterol', 'ldl_abnormal_mg_dl'),
                                     ('cholesterol_total', 'total cholesterol', 'cholesterol_total_abnormal_mg_dl'),
                                     ('triglycerides', 'triglycerides', 'triglycerides_abnormal_mg_dl')] %}
    UNION ALL
    SELECT
        l.patient_id,
        'lipids' AS kind,
        l.collected_at,
        l.collected_date,
        '{{ label }} ' || coalesce(l.value_comparator, '') || {{ m.fmt_num('l.value') }}
            || ' mg/dL (at least {{ qc[key] }})' AS result
    FROM labs AS l
    INNER JOIN first_clozapine AS f ON f.patient_id = l.patient_id AND l.collected_date >= f.first_dose
    WHERE l.analyte = '{{ analyte }}'
      AND {{ m.proves_at_least('l.value', 'l.value_comparator', qc[key]) }}
    {%- endfor %}
    UNION ALL
    SELECT
        l.patient_id,
        'weight gain' AS kind,
        l.collected_at,
        l.collected_date,
        'weight ' || {{ m.fmt_num('l.value') }} || ' kg (+'
            || {{ m.fmt_num('round((l.value - b.baseline_kg) * 100 / b.baseline_kg, 6)') }}
            || ' % over the baseline ' || {{ m.fmt_num('b.baseline_kg') }} || ' kg of '
            || {{ q.day('b.baseline_date') }} || ', more than {{ qc.weight_gain_pct }} %)' AS result
    FROM labs AS l
    INNER JOIN first_clozapine AS f ON f.patient_id = l.patient_id AND l.collected_date > f.first_dose
    INNER JOIN baseline_weight AS b ON b.patient_id = l.patient_id
    WHERE l.analyte = 'weight' AND l.value_comparator IS NULL
      AND round((l.value - b.baseline_kg) * 100 / b.baseline_kg, 6) > {{ qc.weight_gain_pct }}
),

units AS (
    SELECT
        patient_id,
        kind,
        min(collected_date) AS index_date,
        arg_min(result, collected_at) AS result
    FROM abnormal
    GROUP BY patient_id, kind
),

-- Drugs and codes: from the result day; repeat tests: from the day after.
actions AS (
    SELECT patient_id, 'HbA1c' AS kind, generic_name AS what, start_date, end_date, 0 AS from_day
    FROM {{ ref('intermediate.qi_comedications') }}
    WHERE {{ q.has_category('categories', 'antidiabetic') }}
    UNION ALL
    SELECT patient_id, 'lipids' AS kind, generic_name AS what, start_date, end_date, 0 AS from_day
    FROM {{ ref('intermediate.qi_comedications') }}
    WHERE {{ q.has_category('categories', 'statin') }}
    UNION ALL
    SELECT patient_id, 'weight gain' AS kind, generic_name AS what, start_date, end_date, 0 AS from_day
    FROM {{ ref('intermediate.qi_comedications') }}
    WHERE concept_id = 'metformin'
    UNION ALL
    SELECT patient_id, 'HbA1c' AS kind, 'diagnosis ' || code AS what, diagnosed_at AS start_date,
        diagnosed_at AS end_date, 0 AS from_day
    FROM {{ ref('intermediate.diagnosis_groups') }}
    WHERE group_id = 'AE-MET'
    UNION ALL
    SELECT
        patient_id,
        CASE WHEN analyte IN ('hba1c', 'glucose_fasting') THEN 'HbA1c'
             WHEN analyte = 'weight' THEN 'weight gain'
             ELSE 'lipids' END AS kind,
        'repeat ' || replace(analyte, '_', ' ') AS what,
        collected_date AS start_date,
        collected_date AS end_date,
        1 AS from_day
    FROM labs
),

first_action AS (
    SELECT
        u.patient_id,
        u.kind,
        min(greatest(a.start_date, u.index_date + a.from_day)) AS first_day,
        arg_min(a.what, greatest(a.start_date, u.index_date + a.from_day)) AS what
    FROM units AS u
    INNER JOIN actions AS a
        ON a.patient_id = u.patient_id
        AND a.kind = u.kind
        AND a.start_date <= u.index_date + {{ window }}
        AND a.end_date >= u.index_date + a.from_day
    GROUP BY u.patient_id, u.kind
),

judged AS (
    SELECT
        u.*,
        fa.first_day,
        fa.what,
        CASE WHEN u.index_date + {{ window }} > params.as_of_date
             THEN 'fewer than {{ window }} days from the result to the as-of date' END AS exclusion
    FROM units AS u
    CROSS JOIN params
    LEFT JOIN first_action AS fa ON fa.patient_id = u.patient_id AND fa.kind = u.kind
),

by_stratum AS (
    SELECT *, 'all' AS stratum FROM judged
    UNION ALL
    SELECT *, kind AS stratum FROM judged
)

SELECT
    'QI-MET-ACT' AS indicator_id,
    j.stratum,
    j.patient_id,
    j.index_date,
    j.exclusion IS NULL AS in_denominator,
    j.exclusion IS NULL AND j.first_day IS NOT NULL AS in_numerator,
    j.exclusion,
    CASE WHEN j.exclusion IS NULL THEN CAST(date_diff('day', j.index_date, j.first_day) AS DOUBLE) END
        AS value,
    j.result || ' on ' || {{ q.day('j.index_date') }} || '; '
        || CASE
            WHEN j.first_day IS NOT NULL
                THEN j.what || ' on ' || {{ q.day('j.first_day') }} || ' (day '
                    || CAST(date_diff('day', j.index_date, j.first_day) AS VARCHAR) || ')'
            ELSE 'no action by day {{ window }}'
        END AS evidence
FROM by_stratum AS j
