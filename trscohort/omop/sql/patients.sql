{%- import '_omop.sql' as o -%}
-- person (+ death, care_site) -> raw.patients. patient_id is 'person_<person_id>' (never
-- person_source_value, which often holds the hospital number). birth_date is birth_datetime,
-- else year/month/day of birth with a missing month or day taken as 1: an event in the birth
-- year is then never "before birth". sex from gender_concept_id (8507 MALE, 8532 FEMALE: the
-- concept's name through the vocabulary or the bundled list), else gender_source_value.
-- death_date is the earliest death row. A CDM has no benign ethnic neutropenia field: NULL
-- (false); the general ANC table applies.
WITH deaths AS (
    SELECT person_id, min(death_date) AS death_date
    FROM cdm_death
    GROUP BY person_id
)

SELECT
    p.person_id AS _row,
    {{ o.patient_id('p.person_id') }} AS patient_id,
    coalesce(
        left({{ o.blank('p.birth_datetime') }}, 10),
        {{ o.blank('p.year_of_birth') }} || '-'
            || lpad(coalesce({{ o.blank('p.month_of_birth') }}, '1'), 2, '0') || '-'
            || lpad(coalesce({{ o.blank('p.day_of_birth') }}, '1'), 2, '0')
    ) AS birth_date,
    coalesce(
        CASE upper(g.concept_name) WHEN 'MALE' THEN 'M' WHEN 'FEMALE' THEN 'F' END,
        {{ o.blank('p.gender_source_value') }}
    ) AS sex,
    CAST(NULL AS VARCHAR) AS benign_ethnic_neutropenia,
    coalesce({{ o.blank('cs.care_site_name') }}, CAST(p.care_site_id AS VARCHAR)) AS site,
    d.death_date AS death_date
FROM cdm_person AS p
LEFT JOIN omop_concept AS g ON g.concept_id = p.gender_concept_id AND p.gender_concept_id <> 0
LEFT JOIN cdm_care_site AS cs ON cs.care_site_id = p.care_site_id
LEFT JOIN deaths AS d ON d.person_id = p.person_id
