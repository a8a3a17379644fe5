{%- import 'macros.sql' as m with context -%}
{%- import 'qi_macros.sql' as q with context -%}
{%- set gap = cfg.qi.retitration_gap_days | int -%}
-- QI-RETITRATE (definition: qi_retitrate.definition.yml): clozapine restarts after more than
-- qi.retitration_gap_days whole days without clozapine (2 days = 48 hours; extracts carry dates,
-- not clock times, so 3 days off is the first gap "more than 48 hours") and whether the restart
-- dose was above qi.retitration_start_max_mg (the titration start, 12.5-25 mg/day). One row per
-- restart. The numerator is the unsafe case (lower is better). Doses come from prescriptions
-- (intermediate.clozapine_dose_periods); restarts seen only in dispensings carry no dose.
SELECT
    'QI-RETITRATE' AS indicator_id,
    'all' AS stratum,
    patient_id,
    period_start AS index_date,
    daily_dose_mg IS NOT NULL AS in_denominator,
    coalesce(daily_dose_mg > {{ cfg.qi.retitration_start_max_mg }}, FALSE) AS in_numerator,
    CASE WHEN daily_dose_mg IS NULL THEN 'restart dose not recorded' END AS exclusion,
    CAST(daily_dose_mg AS DOUBLE) AS value,
    'restarted ' || {{ q.day('period_start') }} || ' after ' || CAST(days_without_clozapine_before AS VARCHAR)
        || ' days without clozapine (more than {{ gap }}) at '
        || coalesce({{ m.fmt_num('daily_dose_mg') }} || ' mg/day', 'an unrecorded dose')
        || CASE WHEN daily_dose_mg > {{ cfg.qi.retitration_start_max_mg }}
                THEN ' (above the titration start, at most {{ cfg.qi.retitration_start_max_mg }})'
                WHEN daily_dose_mg IS NOT NULL THEN ' (a titration start)' ELSE '' END AS evidence
FROM {{ ref('intermediate.clozapine_dose_periods') }}
WHERE days_without_clozapine_before > {{ gap }}
