{%- import '_omop.sql' as o -%}
-- measurement and observation rows that are symptom or function scores (PANSS, BPRS, CGI-S,
-- GAF, SOFAS) -> raw.assessments: recognised by source value, else by concept name, through the
-- site vocabulary (`concepts: assessments:`) and reference/assessment_instruments.csv; no
-- OMOP concept id for these instruments is verified, so none is bundled. instrument is the text
-- that matched (staging maps it again, the same way), score value_as_number (else
-- value_source_value as written). Source rows: measurement_id, and minus observation_id for
-- observation rows (the two tables' ids may overlap).
WITH scores AS (
    SELECT measurement_concept_id AS concept_id, {{ o.blank('measurement_source_value') }} AS source_value
    FROM cdm_measurement
    UNION
    SELECT observation_concept_id, {{ o.blank('observation_source_value') }}
    FROM cdm_observation
),

{{ o.instrument_match('any', 'SELECT * FROM scores') }}

SELECT
    m.measurement_id AS _row,
    {{ o.patient_id('m.person_id') }} AS patient_id,
    m.measurement_date AS assessed_at,
    k.instrument_text AS instrument,
    coalesce({{ o.number_text('m.value_as_number') }}, {{ o.blank('m.value_source_value') }}) AS score
FROM cdm_measurement AS m
INNER JOIN any_keys AS k ON {{ o.instrument_join('m', 'k', 'measurement_concept_id', 'measurement_source_value') }}
WHERE k.instrument_text IS NOT NULL
UNION ALL
SELECT
    -ob.observation_id,
    {{ o.patient_id('ob.person_id') }},
    ob.observation_date,
    k.instrument_text,
    coalesce({{ o.number_text('ob.value_as_number') }}, {{ o.blank('ob.value_source_value') }})
FROM cdm_observation AS ob
INNER JOIN any_keys AS k ON {{ o.instrument_join('ob', 'k', 'observation_concept_id', 'observation_source_value') }}
WHERE k.instrument_text IS NOT NULL
