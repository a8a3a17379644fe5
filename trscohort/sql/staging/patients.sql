{%- import 'macros.sql' as m with context -%}
-- Patients, typed. Exact duplicate rows are removed later (counted); a second row for the same
-- patient_id with different content is quarantined, and the first row is kept.
WITH typed AS (
    SELECT
        src.*,
        {{ m.blank('patient_id') }} AS p_patient_id,
        {{ m.parse_date('birth_date') }} AS p_birth_date,
        CASE
            WHEN {{ m.norm_text('sex') }} IN ('f', 'female', 'fem', 'woman', 'w', 'girl') THEN 'F'
            WHEN {{ m.norm_text('sex') }} IN ('m', 'male', 'man', 'boy') THEN 'M'
            ELSE 'U'
        END AS p_sex,
        CASE
            WHEN {{ m.blank('benign_ethnic_neutropenia') }} IS NULL THEN FALSE
            WHEN {{ m.norm_text('benign_ethnic_neutropenia') }} IN ('true', 't', 'yes', 'y', '1') THEN TRUE
            WHEN {{ m.norm_text('benign_ethnic_neutropenia') }} IN ('false', 'f', 'no', 'n', '0') THEN FALSE
        END AS p_benign_ethnic_neutropenia,
        {{ m.blank('site') }} AS p_site,
        {{ m.parse_date('death_date') }} AS p_death_date
    FROM raw.patients AS src
),

ranked AS (
    SELECT
        *,
        min(_row) OVER (PARTITION BY p_patient_id) AS first_row_of_id,
        min(_row) OVER (
            PARTITION BY p_patient_id, p_birth_date, p_sex, p_benign_ethnic_neutropenia, p_site, p_death_date
        ) AS first_row_of_content
    FROM typed
)

SELECT
    _row,
    p_patient_id AS patient_id,
    p_birth_date AS birth_date,
    p_sex AS sex,
    p_benign_ethnic_neutropenia AS benign_ethnic_neutropenia,
    p_site AS site,
    p_death_date AS death_date,
    {{ m.extras(['first_row_of_id', 'first_row_of_content']) }},
    {{ m.collect([
        m.require('patient_id'),
        m.require('birth_date'),
        m.check_date('birth_date', 'p_birth_date'),
        m.check_date('death_date', 'p_death_date'),
        m.reason('p_death_date < p_birth_date', "'death_date before birth_date'"),
        m.reason('p_benign_ethnic_neutropenia IS NULL',
                 "'unparseable benign_ethnic_neutropenia ' || " ~ m.shown('benign_ethnic_neutropenia')),
        m.reason('p_patient_id IS NOT NULL AND first_row_of_content <> first_row_of_id',
                 "'patient_id repeated with different values (row ' || CAST(first_row_of_id AS VARCHAR) || ' kept)'"),
    ] | join(',\n        ')) }} AS _reason
FROM ranked
