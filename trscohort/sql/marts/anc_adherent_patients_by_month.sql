-- Patients fully adherent to ANC monitoring from week 1 (MON-ANC-1..3), per site and month:
-- a patient with an ANC window starting in a month counts once, as fully adherent when every
-- such window of the month was observed. No patient identifier.
WITH patient_months AS (
    SELECT
        site,
        patient_id,
        CAST(date_trunc('month', window_start) AS DATE) AS month,
        bool_and(is_observed) AS all_observed
    FROM {{ ref('intermediate.monitoring_windows') }}
    WHERE window_start IS NOT NULL AND rule_id IN ('MON-ANC-1', 'MON-ANC-2', 'MON-ANC-3')
    GROUP BY site, patient_id, CAST(date_trunc('month', window_start) AS DATE)
)
SELECT
    site,
    month,
    count(*) FILTER (WHERE all_observed) AS patients_fully_adherent,
    count(*) FILTER (WHERE NOT all_observed) AS patients_not_fully_adherent
FROM patient_months
GROUP BY site, month
