-- One row per usable assessment, judged against TRS-7 (persistent moderate-to-severe symptoms)
-- and TRS-8 (functional impairment). Used by the TRS and clozapine-resistance rules alike.
-- Assessments dated after the as-of date are not yet history.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
)

SELECT
    a.patient_id,
    a.assessed_at,
    a.instrument,
    a.score,
    a.instrument IN ('PANSS', 'BPRS') AS is_symptom_scale,
    CASE a.instrument
        WHEN 'PANSS' THEN a.score >= {{ cfg.trs.panss_total_persistent }}
        WHEN 'BPRS' THEN a.score >= {{ cfg.trs.bprs_total_persistent }}
    END AS symptoms_persistent,
    a.instrument IN ('CGI-S', 'GAF', 'SOFAS') AS is_function_scale,
    CASE a.instrument
        WHEN 'CGI-S' THEN a.score >= {{ cfg.trs.cgi_s_impaired }}
        WHEN 'GAF' THEN a.score <= {{ cfg.trs.gaf_sofas_impaired }}
        WHEN 'SOFAS' THEN a.score <= {{ cfg.trs.gaf_sofas_impaired }}
    END AS functionally_impaired,
    a.source_row
FROM {{ ref('staging.assessments') }} AS a
CROSS JOIN params
WHERE a.assessed_at <= params.as_of_date
