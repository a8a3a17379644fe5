-- Distinct patients with an ANC result in each category, per site and year, and over all
-- years (year NULL: every result, dated or not). No patient identifier.
WITH per_year AS (
    SELECT DISTINCT site, patient_id, year(collected_date) AS result_year, anc_category
    FROM {{ ref('marts.anc_results') }}
)
SELECT site, result_year, anc_category, count(*) AS patients
FROM per_year
WHERE result_year IS NOT NULL
GROUP BY site, result_year, anc_category
UNION ALL
SELECT site, CAST(NULL AS INTEGER) AS result_year, anc_category, count(DISTINCT patient_id) AS patients
FROM per_year
GROUP BY site, anc_category
