{%- set ae = cfg.adverse_events -%}
{#- A value proven not beyond a threshold ("<0.8" x10^9/L proves ANC < 1000; ">2" proves nothing
    about being at most 1). -#}
{%- macro at_least(value, comparator, threshold) -%}
CASE
    WHEN {{ comparator }} IN ('<', '<=') THEN FALSE
    ELSE {{ value }} >= {{ threshold }}
END
{%- endmacro -%}
{%- macro at_most(value, comparator, threshold) -%}
CASE
    WHEN {{ comparator }} IN ('>', '>=') THEN FALSE
    ELSE {{ value }} <= {{ threshold }}
END
{%- endmacro -%}
-- Normal results that end an adverse-event episode (issue 14, item 5), one row per patient,
-- event and day with such a result:
--   AE-NEU  ANC >= adverse_events.recovery_anc_per_ul (1000/uL)
--   AE-HEP  ALT <= alt_uln_multiple x ULN (reference_high, else alt_uln_if_missing_u_l)
--   AE-QT   QTc <= qtc_ms
--   AE-MYO  troponin <= its reference_high
-- Events without a recovery analyte (diagnoses only, or chronic) end by the episode gap rule.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

labs AS (
    SELECT l.patient_id, l.collected_date, l.analyte, l.value, l.value_comparator, l.reference_high
    FROM {{ ref('staging.labs') }} AS l
    CROSS JOIN params
    WHERE l.analyte IN ('anc', 'alt', 'qtc', 'troponin')
        AND l.value IS NOT NULL
        AND l.collected_date <= params.as_of_date
)

SELECT DISTINCT
    patient_id,
    CASE analyte
        WHEN 'anc' THEN 'AE-NEU'
        WHEN 'alt' THEN 'AE-HEP'
        WHEN 'qtc' THEN 'AE-QT'
        WHEN 'troponin' THEN 'AE-MYO'
    END AS event_id,
    collected_date AS result_date
FROM labs
WHERE (analyte = 'anc' AND {{ at_least('value', 'value_comparator', ae.recovery_anc_per_ul) }})
    OR (analyte = 'alt' AND {{ at_most('value', 'value_comparator',
        ae.alt_uln_multiple ~ ' * coalesce(reference_high, ' ~ ae.alt_uln_if_missing_u_l ~ ')') }})
    OR (analyte = 'qtc' AND {{ at_most('value', 'value_comparator', ae.qtc_ms) }})
    OR (analyte = 'troponin' AND reference_high IS NOT NULL
        AND {{ at_most('value', 'value_comparator', 'reference_high') }})
