{%- import 'macros.sql' as m with context -%}
-- Lab results and vital signs, typed. Each distinct (test code, test name, unit) is mapped once
-- to a canonical analyte: the site vocabulary (reference.site_concepts, by code or name) first,
-- then the reference by LOINC/local code, then by name (case and punctuation ignored; a name
-- marked unit_required maps only with one of the analyte's units). Values are converted to the
-- analyte's canonical unit (value x factor + offset). A mapped analyte needs a known unit, a
-- number and a physically possible value; a test that matches nothing is kept with analyte
-- NULL (mapped_by NULL) and listed in audit.unmapped_values, never quarantined for that.
WITH typed AS (
    SELECT
        src.*,
        {{ m.blank('patient_id') }} AS p_patient_id,
        {{ m.parse_ts('collected_at') }} AS p_collected_at,
        {{ m.blank('test_code') }} AS p_test_code,
        {{ m.blank('test_name') }} AS p_test_name,
        {{ m.blank('value') }} AS p_value,
        NULLIF(regexp_extract(TRIM(value), '^([<>]=?)', 1), '') AS value_comparator,
        regexp_replace(TRIM(value), '^[<>]=?\s*', '') AS value_number_text,
        {{ m.blank('unit') }} AS p_unit,
        {{ m.parse_number('reference_high') }} AS p_reference_high
    FROM raw.labs AS src
),

-- Everything that depends only on the test and unit as written (a few hundred distinct
-- combinations in millions of rows) is worked out once per combination, read straight from
-- raw.labs so that `typed` is read once and never materialised (issue 17).
lab_tests AS (
    SELECT DISTINCT test_code AS raw_code, test_name AS raw_name, unit AS raw_unit
    FROM raw.labs
),

keyed_tests AS (
    SELECT
        raw_code,
        raw_name,
        raw_unit,
        coalesce({{ m.blank('raw_code') }}, '') AS code_key,
        coalesce({{ m.blank('raw_name') }}, '') AS name_key,
        {{ m.norm_unit('raw_unit') }} AS unit_written
    FROM lab_tests
),

resolved_tests AS (
    SELECT
        t.raw_code,
        t.raw_name,
        t.raw_unit,
        t.unit_written,
        coalesce(site_code.source_key, site_name.source_key) IS NOT NULL AS site_matched,
        CASE WHEN site_code.source_key IS NOT NULL THEN site_code.concept
             WHEN site_name.source_key IS NOT NULL THEN site_name.concept
             WHEN by_code.analyte IS NOT NULL THEN by_code.analyte
             WHEN by_name.analyte IS NOT NULL AND (NOT by_name.unit_required OR name_unit.unit IS NOT NULL)
                 THEN by_name.analyte
        END AS analyte
    FROM keyed_tests AS t
    LEFT JOIN reference.site_concepts AS site_code
        ON site_code.domain = 'labs' AND site_code.source_key = {{ m.norm_text('t.code_key') }}
    LEFT JOIN reference.site_concepts AS site_name
        ON site_name.domain = 'labs' AND site_name.source_key = {{ m.norm_text('t.name_key') }}
    LEFT JOIN reference.lab_codes AS by_code ON by_code.code = t.code_key
    LEFT JOIN reference.lab_names AS by_name ON by_name.name = {{ m.lab_key('t.name_key') }}
    LEFT JOIN reference.lab_units AS name_unit
        ON name_unit.analyte = by_name.analyte AND name_unit.unit = coalesce(t.unit_written, '')
),

converted_tests AS (
    SELECT
        r.raw_code,
        r.raw_name,
        r.raw_unit,
        r.unit_written,
        r.analyte,
        CASE WHEN r.site_matched AND r.analyte IS NULL THEN 'ignored'
             WHEN r.site_matched THEN 'site_vocabulary'
             WHEN r.analyte IS NOT NULL THEN 'reference' END AS mapped_by,
        a.canonical_unit,
        a.min_value,
        a.max_value,
        coalesce(NULLIF(r.unit_written, ''), {{ m.norm_unit('a.unit_if_missing') }}) AS unit_key,
        u.factor AS unit_factor,
        u."offset" AS unit_offset
    FROM resolved_tests AS r
    LEFT JOIN reference.lab_analytes AS a ON a.analyte = r.analyte
    LEFT JOIN reference.lab_units AS u
        ON u.analyte = r.analyte
        AND u.unit = coalesce(NULLIF(r.unit_written, ''), {{ m.norm_unit('a.unit_if_missing') }})
),

converted AS (
    SELECT
        t.*,
        c.unit_written,
        c.analyte,
        c.mapped_by,
        c.canonical_unit,
        c.min_value,
        c.max_value,
        c.unit_key,
        c.unit_factor,
        c.unit_offset,
        {{ m.parse_number('t.value_number_text') }} AS value_as_given
    FROM typed AS t
    LEFT JOIN converted_tests AS c
        ON c.raw_code IS NOT DISTINCT FROM t.test_code
        AND c.raw_name IS NOT DISTINCT FROM t.test_name
        AND c.raw_unit IS NOT DISTINCT FROM t.unit
),

{{ m.join_patient('converted') }}

SELECT
    _row,
    p_patient_id AS patient_id,
    p_collected_at AS collected_at,
    CAST(p_collected_at AS DATE) AS collected_date,
    p_test_code AS test_code,
    p_test_name AS test_name,
    analyte,
    mapped_by,
    p_value AS value_as_written,
    value_comparator,
    value_as_given,
    p_unit AS unit_as_written,
    value_as_given * unit_factor + unit_offset AS value,
    CASE WHEN analyte IS NOT NULL THEN canonical_unit END AS unit,
    p_reference_high * unit_factor + unit_offset AS reference_high,
    {{ m.extras(['pt_known', 'pt_birth_date', 'value_comparator', 'value_number_text', 'analyte', 'mapped_by', 'unit_written',
                 'value_as_given', 'canonical_unit', 'min_value', 'max_value', 'unit_key', 'unit_factor', 'unit_offset']) }},
    {{ m.collect([
        m.patient_reasons('collected_at', 'CAST(p_collected_at AS DATE)'),
        m.require('collected_at'),
        m.check_date('collected_at', 'CAST(p_collected_at AS DATE)'),
        m.reason("p_test_code IS NULL AND p_test_name IS NULL", "'missing test_code and test_name'"),
        m.reason("analyte IS NOT NULL AND p_value IS NULL", "'missing value for ' || analyte"),
        m.reason("analyte IS NOT NULL AND p_value IS NOT NULL AND value_as_given IS NULL",
                 "'unparseable value for ' || analyte || ': ' || " ~ m.shown('value')),
        m.reason("analyte IS NOT NULL AND unit_key IS NULL", "'missing unit for ' || analyte"),
        m.reason("analyte IS NOT NULL AND unit_key IS NOT NULL AND unit_factor IS NULL",
                 "'unit not recognised for ' || analyte || ': ' || " ~ m.shown('unit')),
        m.reason("value_as_given * unit_factor + unit_offset < min_value OR value_as_given * unit_factor + unit_offset > max_value",
                 "'value outside the possible range for ' || analyte || ': ' || CAST(round(value_as_given * unit_factor + unit_offset, 3) AS VARCHAR) || ' ' || canonical_unit"),
        m.check_number('reference_high', 'p_reference_high'),
    ] | join(',\n        ')) }} AS _reason
FROM with_patient
