{%- import 'macros.sql' as m -%}
-- Each diagnosis (up to the as-of date) with the code group(s) it belongs to
-- (reference.icd10_groups), per code family: WHO ICD-10 and ICD-10-CM rows apply to ICD-10 codes
-- (ICD10, ICD10CM, ...), ICD-9-CM rows to ICD-9 codes, SNOMED rows to SNOMED CT codes. A code
-- belongs to a group when it starts with one of the group's `prefix` rows (or equals an `exact`
-- row) and starts with none of its `exclude` rows (F20.81 schizophreniform is not schizophrenia).
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

groups AS (
    SELECT *, {{ m.code_family('upper(code_system)') }} AS family
    FROM {{ ref('reference.icd10_groups') }}
),

diagnoses AS (
    SELECT d.*, {{ m.code_family('d.code_system') }} AS family
    FROM {{ ref('staging.diagnoses') }} AS d
    CROSS JOIN params
    WHERE d.diagnosed_at <= params.as_of_date
),

matched AS (
    SELECT DISTINCT d.patient_id, d.source_row, d.code, d.code_system, d.diagnosed_at, g.group_id
    FROM diagnoses AS d
    INNER JOIN groups AS g
        ON g.family = d.family
        AND (
            (g.match = 'prefix' AND starts_with(d.code, g.code_prefix))
            OR (g.match = 'exact' AND d.code = g.code_prefix)
        )
)

SELECT m.patient_id, m.group_id, m.code, m.code_system, m.diagnosed_at, m.source_row
FROM matched AS m
WHERE NOT EXISTS (
    SELECT 1
    FROM groups AS x
    WHERE x.match = 'exclude'
        AND x.group_id = m.group_id
        AND x.family = {{ m.code_family('m.code_system') }}
        AND starts_with(m.code, x.code_prefix)
)
