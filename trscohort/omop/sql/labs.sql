{%- import '_omop.sql' as o -%}
-- measurement -> raw.labs: every measurement row that is not a symptom or function score (those
-- go to raw.assessments, see assessments.sql), so measurement rows = labs + assessments rows.
--   test_code  the LOINC code of measurement_concept_id (the CDM's vocabulary, or the bundled
--              concepts.csv: ANC 3013650/3017732/3017501, HbA1c, weight, BMI), else of
--              measurement_source_concept_id, else 'OMOP:<concept_id>' (0: none)
--   test_name  measurement_source_value, else the concept's name: concept-0 rows are mapped by
--              the site vocabulary and the LOINC / local names, as an extract's test_name is
--   value      value_as_number, prefixed by the operator_concept_id's symbol (<, <=, >, >=;
--              '=' adds nothing) so the comparator rules see '<0.5'; with an unknown operator
--              a value_source_value starting with < or > is taken as written; no number: the
--              value_source_value as written
--   unit       the UCUM code of unit_concept_id (10*9/L, 10*3/uL, /uL ...), else
--              unit_source_value
-- Dates: measurement_datetime, else measurement_date. reference_high is range_high.
WITH scores AS (
    SELECT m.measurement_concept_id AS concept_id, {{ o.blank('m.measurement_source_value') }} AS source_value
    FROM cdm_measurement AS m
),

{{ o.instrument_match('meas', 'SELECT * FROM scores') }},

tests AS (
    SELECT DISTINCT
        m.measurement_concept_id,
        m.measurement_source_concept_id,
        m.operator_concept_id,
        m.unit_concept_id
    FROM cdm_measurement AS m
),

resolved AS (
    SELECT
        t.*,
        coalesce(
            CASE WHEN c.vocabulary_id = 'LOINC' THEN c.concept_code END,
            CASE WHEN s.vocabulary_id = 'LOINC' THEN s.concept_code END,
            {{ o.concept_tag('t.measurement_concept_id') }}
        ) AS test_code,
        c.concept_name,
        CASE WHEN op.concept_name IN ('<', '<=', '>', '>=', '=') THEN op.concept_name END AS operator,
        CASE WHEN t.unit_concept_id <> 0 AND u.vocabulary_id = 'UCUM' THEN u.concept_code END AS ucum_unit
    FROM tests AS t
    LEFT JOIN omop_concept AS c ON c.concept_id = t.measurement_concept_id AND t.measurement_concept_id <> 0
    LEFT JOIN omop_concept AS s ON s.concept_id = t.measurement_source_concept_id AND t.measurement_source_concept_id <> 0
    LEFT JOIN omop_concept AS op ON op.concept_id = t.operator_concept_id
    LEFT JOIN omop_concept AS u ON u.concept_id = t.unit_concept_id
)

SELECT
    m.measurement_id AS _row,
    {{ o.patient_id('m.person_id') }} AS patient_id,
    coalesce({{ o.blank('m.measurement_datetime') }}, m.measurement_date) AS collected_at,
    r.test_code,
    coalesce({{ o.blank('m.measurement_source_value') }}, r.concept_name) AS test_name,
    CASE
        WHEN {{ o.blank('m.value_as_number') }} IS NULL THEN {{ o.blank('m.value_source_value') }}
        WHEN r.operator IS NULL AND m.operator_concept_id <> 0
             AND regexp_matches(coalesce(m.value_source_value, ''), '^\s*[<>]')
            THEN TRIM(m.value_source_value)
        ELSE coalesce(CASE WHEN r.operator <> '=' THEN r.operator END, '') || {{ o.number_text('m.value_as_number') }}
    END AS value,
    coalesce(r.ucum_unit, {{ o.blank('m.unit_source_value') }}) AS unit,
    {{ o.number_text('m.range_high') }} AS reference_high
FROM cdm_measurement AS m
LEFT JOIN meas_keys AS k ON {{ o.instrument_join('m', 'k', 'measurement_concept_id', 'measurement_source_value') }}
LEFT JOIN resolved AS r
    ON r.measurement_concept_id IS NOT DISTINCT FROM m.measurement_concept_id
    AND r.measurement_source_concept_id IS NOT DISTINCT FROM m.measurement_source_concept_id
    AND r.operator_concept_id IS NOT DISTINCT FROM m.operator_concept_id
    AND r.unit_concept_id IS NOT DISTINCT FROM m.unit_concept_id
WHERE k.instrument_text IS NULL
