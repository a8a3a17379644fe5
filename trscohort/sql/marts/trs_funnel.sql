-- The TRS funnel: each step a subset of the one before; pseudo-resistance and clozapine without
-- documented TRS reported beside it. Counts only: no patient identifiers.
WITH s AS (
    SELECT
        *,
        n_distinct_failed_drugs >= {{ cfg.trs.min_failed_adequate_trials }} AS enough_failed
    FROM {{ ref('marts.patient_trs_status') }}
)

SELECT 1 AS step_order, 'schizophrenia diagnosis' AS step, 'funnel' AS kind,
       count(*) FILTER (WHERE schizophrenia_dx) AS patients
FROM s
UNION ALL
SELECT 2, '>= 1 antipsychotic trial', 'funnel',
       count(*) FILTER (WHERE schizophrenia_dx AND n_trials >= 1)
FROM s
UNION ALL
SELECT 3, '>= {{ cfg.trs.min_failed_adequate_trials }} adequate failed trials of different drugs', 'funnel',
       count(*) FILTER (WHERE schizophrenia_dx AND n_trials >= 1 AND enough_failed)
FROM s
UNION ALL
SELECT 4, 'TRS', 'funnel', count(*) FILTER (WHERE trs_status = 'trs')
FROM s
UNION ALL
SELECT 5, 'TRS and started clozapine', 'funnel',
       count(*) FILTER (WHERE trs_status = 'trs' AND clozapine_start_date IS NOT NULL)
FROM s
UNION ALL
SELECT 6, 'pseudo-resistant', 'aside', count(*) FILTER (WHERE trs_status = 'pseudo_resistant')
FROM s
UNION ALL
SELECT 7, 'clozapine without documented TRS', 'aside',
       count(*) FILTER (WHERE clozapine_without_documented_trs)
FROM s
