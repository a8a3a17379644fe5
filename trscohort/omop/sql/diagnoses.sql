{%- import '_omop.sql' as o -%}
-- condition_occurrence -> raw.diagnoses, one distinct concept pair resolved once:
--   1 an ICD-10 source code: condition_source_concept_id in vocabulary ICD10 or ICD10CM (the
--     CDM's vocabulary) -> that code and code system
--   2 a SNOMED descendant of a bundled condition concept (concepts.csv: schizophrenia 435783,
--     schizoaffective 4286201, neutropenia 320073 ...; descendants through concept_ancestor when
--     the CDM has a vocabulary, the exact id otherwise) -> its ICD-10 category (F20, F25, D70,
--     I514, K590), code system ICD10; the closest ancestor wins
--   3 condition_source_value as written, with the source concept's vocabulary as code system
--     when the CDM names it (no vocabulary: none, so the staging default ICD10 applies)
--   4 'OMOP:<condition_concept_id>' (code system OMOP): unmapped, listed in
--     audit.unmapped_values with the concept's name as description
-- Staging then treats the code exactly as an extract's (site vocabulary first).
WITH pairs AS (
    SELECT DISTINCT condition_concept_id, condition_source_concept_id
    FROM cdm_condition_occurrence
),

groups AS (
    SELECT
        p.condition_concept_id,
        arg_min(b.project_value, coalesce(a.min_levels_of_separation, 0)) AS group_code
    FROM (SELECT DISTINCT condition_concept_id FROM pairs) AS p
    INNER JOIN omop_ancestor AS a ON a.descendant_concept_id = p.condition_concept_id
    INNER JOIN omop_bundled AS b ON b.concept_id = a.ancestor_concept_id AND b.domain_id = 'Condition'
    GROUP BY p.condition_concept_id
),

resolved AS (
    SELECT
        p.condition_concept_id,
        p.condition_source_concept_id,
        CASE WHEN s.vocabulary_id IN ('ICD10', 'ICD10CM') THEN s.concept_code END AS icd_code,
        CASE WHEN s.vocabulary_id IN ('ICD10', 'ICD10CM') THEN s.vocabulary_id END AS icd_system,
        g.group_code,
        CASE WHEN p.condition_source_concept_id <> 0 THEN s.vocabulary_id END AS source_system,
        coalesce(c.concept_name, s.concept_name) AS concept_name
    FROM pairs AS p
    LEFT JOIN omop_concept AS s ON s.concept_id = p.condition_source_concept_id
    LEFT JOIN omop_concept AS c ON c.concept_id = p.condition_concept_id
    LEFT JOIN groups AS g ON g.condition_concept_id = p.condition_concept_id
)

SELECT
    co.condition_occurrence_id AS _row,
    {{ o.patient_id('co.person_id') }} AS patient_id,
    coalesce(r.icd_code, r.group_code, {{ o.blank('co.condition_source_value') }},
             {{ o.concept_tag('co.condition_concept_id') }}) AS code,
    CASE
        WHEN r.icd_code IS NOT NULL THEN r.icd_system
        WHEN r.group_code IS NOT NULL THEN 'ICD10'
        WHEN {{ o.blank('co.condition_source_value') }} IS NOT NULL THEN r.source_system
        WHEN co.condition_concept_id <> 0 THEN 'OMOP'
    END AS code_system,
    co.condition_start_date AS diagnosed_at,
    r.concept_name AS description
FROM cdm_condition_occurrence AS co
LEFT JOIN resolved AS r
    ON r.condition_concept_id IS NOT DISTINCT FROM co.condition_concept_id
    AND r.condition_source_concept_id IS NOT DISTINCT FROM co.condition_source_concept_id
