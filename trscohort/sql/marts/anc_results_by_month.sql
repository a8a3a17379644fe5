-- ANC results per site, month, treatment week band, category and required action (the ANC
-- page reads this, not the 19 million results of 1,000,000 patients). No patient identifier.
-- A band is named by its first week: 0 before the first dose, each week to 26, two-week bands
-- to 52, four-week bands to 104, then 105 (past two years, or no week).
WITH banded AS (
    SELECT
        site,
        CAST(date_trunc('month', collected_date) AS DATE) AS month,
        CASE
            WHEN treatment_week <= 0 THEN 0
            WHEN treatment_week <= 26 THEN treatment_week
            WHEN treatment_week <= 52 THEN 27 + 2 * CAST(floor((treatment_week - 27) / 2) AS INTEGER)
            WHEN treatment_week <= 104 THEN 53 + 4 * CAST(floor((treatment_week - 53) / 4) AS INTEGER)
            ELSE 105
        END AS week_band_start,
        anc_category,
        required_action
    FROM {{ ref('marts.anc_results') }}
    WHERE collected_date IS NOT NULL
)
SELECT site, month, week_band_start, anc_category, required_action, count(*) AS results
FROM banded
GROUP BY site, month, week_band_start, anc_category, required_action
