{%- import 'macros.sql' as m with context -%}
-- Diagnoses, typed. `code` is upper case without the dot (F20.0 -> F200) so that
-- reference.icd10_groups prefixes match it: the site vocabulary's ICD-10 code for a local code
-- (reference.site_concepts), else the code as written when it has the form of a code of its
-- code system (ICD-10 / ICD-10-CM, ICD-9-CM, SNOMED CT: code groups exist for each). Any other
-- code (a local code, an unknown code system, text) is kept with code NULL and source_code as
-- written, and listed in audit.unmapped_values: unknown, not invalid.
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

mapped AS (
    SELECT
        t.*,
        site.source_key IS NOT NULL AS site_matched,
        CASE WHEN site.source_key IS NOT NULL THEN site.concept
             WHEN {{ m.code_family('t.p_code_system') }} = 'ICD10'
                 AND regexp_matches(t.p_code, '^[A-Z][0-9][0-9A-Z]{1,5}$') THEN t.p_code
             WHEN {{ m.code_family('t.p_code_system') }} = 'ICD9'
                 AND regexp_matches(t.p_code, '^([0-9]{3}|V[0-9]{2}|E[0-9]{3})[0-9]{0,2}$') THEN t.p_code
             WHEN {{ m.code_family('t.p_code_system') }} = 'SNOMED'
                 AND regexp_matches(t.p_code, '^[0-9]{6,18}$') THEN t.p_code
        END AS recognised_code
    FROM typed AS t
    LEFT JOIN reference.site_concepts AS site
        ON site.domain = 'diagnoses' AND site.source_key = t.p_code
),

{{ m.join_patient('mapped') }}

SELECT
    _row,
    p_patient_id AS patient_id,
    recognised_code AS code,
    CASE WHEN site_matched AND recognised_code IS NOT NULL THEN 'ICD10' ELSE p_code_system END AS code_system,
    p_code AS source_code,
    CASE WHEN site_matched AND recognised_code IS NULL THEN 'ignored'
         WHEN site_matched THEN 'site_vocabulary'
         WHEN recognised_code IS NOT NULL THEN 'reference' END AS mapped_by,
    p_diagnosed_at AS diagnosed_at,
    p_description AS description,
    {{ m.extras(['pt_known', 'pt_birth_date', 'site_matched', 'recognised_code']) }},
    {{ m.collect([
        m.patient_reasons('diagnosed_at', 'p_diagnosed_at'),
        m.require('code'),
        m.require('diagnosed_at'),
        m.check_date('diagnosed_at', 'p_diagnosed_at'),
    ] | join(',\n        ')) }} AS _reason
FROM with_patient
