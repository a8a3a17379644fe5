{%- from 'macros.sql' import fmt_num, proves_above, proves_at_least, proves_below -%}
{%- set ae = cfg.adverse_events -%}
{#- Written bounds ("<5", ">600") follow the one qualifier rule of macros.sql (issue 13). -#}
-- Adverse-event evidence (AE-*), one row per lab result or diagnosis that shows an event:
--   AE-NEU  ANC < neutropenia_anc_below_per_ul, or an AE-NEU diagnosis (D70)
--   AE-MYO  troponin above its reference_high with CRP > myocarditis_crp_mg_l at most
--           myocarditis_lab_pair_days apart, the troponin in weeks 1..myocarditis_weeks of a
--           clozapine exposure episode (days 0 .. 7 x weeks - 1); or an AE-MYO diagnosis (I40, I41, I51.4)
--   AE-CMP  I42; AE-SEIZ G40, G41, R56; AE-GI K56 (severe) or K59.0 (constipation); AE-NMS G21.0
--   AE-MET  E11, or HbA1c >= hba1c_diabetes_mmol_mol
--   AE-HEP  K71, or ALT > alt_uln_multiple x ULN (reference_high, else alt_uln_if_missing_u_l)
--   AE-QT   I45.81 / R94.31, or QTc > qtc_ms
-- Evidence dated after the as-of date is ignored. Only the events in adverse_events.events.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

labs AS (
    SELECT l.patient_id, l.collected_date, l.analyte, l.value, l.value_comparator, l.reference_high
    FROM {{ ref('staging.labs') }} AS l
    CROSS JOIN params
    WHERE l.analyte IN ('anc', 'troponin', 'crp', 'hba1c', 'alt', 'qtc')
        AND l.value IS NOT NULL
        AND l.collected_date <= params.as_of_date
),

exposure AS (
    SELECT patient_id, episode_start FROM {{ ref('intermediate.clozapine_exposure') }}
),

diagnosis_evidence AS (
    SELECT
        d.patient_id,
        CASE WHEN d.group_id LIKE 'AE-GI-%' THEN 'AE-GI' ELSE d.group_id END AS event_id,
        d.diagnosed_at AS evidence_date,
        'diagnosis' AS source,
        CASE d.group_id
            WHEN 'AE-GI-SEVERE' THEN 'severe'
            WHEN 'AE-GI-CONSTIPATION' THEN 'constipation'
        END AS subtype,
        'diagnosis ' || d.code AS detail
    -- code groups matched per code family, exclusions applied, cut at the as-of date
    FROM {{ ref('intermediate.diagnosis_groups') }} AS d
    WHERE d.group_id LIKE 'AE-%'
),

myocarditis_labs AS (
    SELECT
        t.patient_id,
        'AE-MYO' AS event_id,
        t.collected_date AS evidence_date,
        'lab' AS source,
        CAST(NULL AS VARCHAR) AS subtype,
        'troponin ' || {{ fmt_num('t.value') }} || ' above its reference ' || {{ fmt_num('t.reference_high') }}
            || ' with CRP ' || {{ fmt_num('max(c.value)') }} || ' mg/L' AS detail
    FROM labs AS t
    INNER JOIN labs AS c
        ON c.patient_id = t.patient_id
        AND c.analyte = 'crp'
        AND {{ proves_above('c.value', 'c.value_comparator', ae.myocarditis_crp_mg_l) }}
        AND abs(date_diff('day', t.collected_date, c.collected_date)) <= {{ ae.myocarditis_lab_pair_days }}
    WHERE t.analyte = 'troponin'
        AND {{ proves_above('t.value', 't.value_comparator', 't.reference_high') }}
        AND EXISTS (
            SELECT 1
            FROM exposure AS e
            WHERE e.patient_id = t.patient_id
                AND t.collected_date BETWEEN e.episode_start
                    AND e.episode_start + {{ 7 * ae.myocarditis_weeks - 1 }}
        )
    GROUP BY t.patient_id, t.collected_date, t.value, t.reference_high
),

other_labs AS (
    SELECT
        patient_id,
        CASE analyte
            WHEN 'anc' THEN 'AE-NEU'
            WHEN 'hba1c' THEN 'AE-MET'
            WHEN 'alt' THEN 'AE-HEP'
            WHEN 'qtc' THEN 'AE-QT'
        END AS event_id,
        collected_date AS evidence_date,
        'lab' AS source,
        CAST(NULL AS VARCHAR) AS subtype,
        CASE analyte
            WHEN 'anc' THEN 'ANC ' || coalesce(value_comparator, '') || {{ fmt_num('value') }} || '/uL'
            WHEN 'hba1c' THEN 'HbA1c ' || {{ fmt_num('value') }} || ' mmol/mol'
            WHEN 'alt' THEN 'ALT ' || {{ fmt_num('value') }} || ' U/L, ULN '
                || {{ fmt_num('coalesce(reference_high, ' ~ ae.alt_uln_if_missing_u_l ~ ')') }}
            WHEN 'qtc' THEN 'QTc ' || {{ fmt_num('value') }} || ' ms'
        END AS detail
    FROM labs
    WHERE (analyte = 'anc' AND {{ proves_below('value', 'value_comparator', ae.neutropenia_anc_below_per_ul) }})
        OR (analyte = 'hba1c' AND {{ proves_at_least('value', 'value_comparator', ae.hba1c_diabetes_mmol_mol) }})
        OR (analyte = 'alt' AND {{ proves_above('value', 'value_comparator',
            ae.alt_uln_multiple ~ ' * coalesce(reference_high, ' ~ ae.alt_uln_if_missing_u_l ~ ')') }})
        OR (analyte = 'qtc' AND {{ proves_above('value', 'value_comparator', ae.qtc_ms) }})
),

evidence AS (
    SELECT * FROM diagnosis_evidence
    UNION ALL
    SELECT * FROM myocarditis_labs
    UNION ALL
    SELECT * FROM other_labs
)

SELECT DISTINCT patient_id, event_id, evidence_date, source, subtype, detail
FROM evidence
WHERE event_id IN ({% for e in ae.events %}'{{ e }}'{{ ", " if not loop.last }}{% endfor %})
