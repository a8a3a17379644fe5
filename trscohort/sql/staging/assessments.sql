{%- import 'macros.sql' as m with context -%}
-- Symptom and functioning scores (TRS-7, TRS-8), typed; instrument names mapped (the site
-- vocabulary's `assessments` entries first, then the reference spellings) and scores checked
-- against each instrument's possible range.
WITH typed AS (
    SELECT
        src.*,
        {{ m.blank('patient_id') }} AS p_patient_id,
        {{ m.parse_date('assessed_at') }} AS p_assessed_at,
        i.instrument AS p_instrument,
        i.min_score AS i_min_score,
        i.max_score AS i_max_score,
        {{ m.parse_number('score') }} AS p_score
    FROM raw.assessments AS src
    LEFT JOIN reference.site_concepts AS site
        ON site.domain = 'assessments' AND site.source_key = {{ m.norm_text('src.instrument') }}
    LEFT JOIN reference.instrument_names AS i
        ON i.name = CASE WHEN site.source_key IS NOT NULL THEN lower(site.concept)
                         ELSE {{ m.norm_text('src.instrument') }} END
),

{{ m.join_patient('typed') }}

SELECT
    _row,
    p_patient_id AS patient_id,
    p_assessed_at AS assessed_at,
    p_instrument AS instrument,
    p_score AS score,
    {{ m.extras(['pt_known', 'pt_birth_date', 'i_min_score', 'i_max_score']) }},
    {{ m.collect([
        m.patient_reasons('assessed_at', 'p_assessed_at'),
        m.require('assessed_at'),
        m.check_date('assessed_at', 'p_assessed_at'),
        m.require('instrument'),
        m.reason(m.blank('instrument') ~ " IS NOT NULL AND p_instrument IS NULL",
                 "'unknown instrument ' || " ~ m.shown('instrument')),
        m.require('score'),
        m.check_number('score', 'p_score'),
        m.reason('p_score < i_min_score OR p_score > i_max_score',
                 "'score outside the ' || p_instrument || ' range ' || CAST(i_min_score AS VARCHAR) || '-' || CAST(i_max_score AS VARCHAR) || ': ' || CAST(p_score AS VARCHAR)"),
    ] | join(',\n        ')) }} AS _reason
FROM with_patient
