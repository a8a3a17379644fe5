{%- import 'macros.sql' as m with context -%}
-- Diagnoses, typed; codes normalised to upper case without the dot (F20.0 -> F200) so that
-- reference.icd10_groups prefixes match them.
WITH typed AS (
    SELECT
        src.*,
        {{ m.blank('patient_id') }} AS p_patient_id,
        NULLIF(upper(regexp_replace(TRIM(code), '[.\s]', '', 'g')), '') AS p_code,
        coalesce(NULLIF(upper(regexp_replace(TRIM(code_system), '[-\s_]', '', 'g')), ''), 'ICD10') AS p_code_system,
        {{ m.parse_date('diagnosed_at') }} AS p_diagnosed_at,
        {{ m.blank('description') }} AS p_description
    FROM raw.diagnoses AS src
),

{{ m.join_patient('typed') }}

SELECT
    _row,
    p_patient_id AS patient_id,
    p_code AS code,
    p_code_system AS code_system,
    p_diagnosed_at AS diagnosed_at,
    p_description AS description,
    {{ m.extras(['pt_known', 'pt_birth_date']) }},
    {{ m.collect([
        m.patient_reasons('diagnosed_at', 'p_diagnosed_at'),
        m.require('code'),
        m.reason("p_code_system LIKE 'ICD10%' AND NOT regexp_matches(p_code, '^[A-Z][0-9][0-9A-Z]{1,5}$')",
                 "'not an ICD-10 code: ' || " ~ m.shown('code')),
        m.require('diagnosed_at'),
        m.check_date('diagnosed_at', 'p_diagnosed_at'),
    ] | join(',\n        ')) }} AS _reason
FROM with_patient
