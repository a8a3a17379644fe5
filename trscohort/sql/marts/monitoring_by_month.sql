-- Monitoring windows per site, month and rule: observed and missed (the monitoring page reads
-- this, not the 28 million windows of 1,000,000 patients). No patient identifier.
SELECT
    site,
    CAST(date_trunc('month', window_start) AS DATE) AS month,
    rule_id,
    count(*) FILTER (WHERE is_observed) AS windows_observed,
    count(*) FILTER (WHERE NOT is_observed) AS windows_missed
FROM {{ ref('intermediate.monitoring_windows') }}
WHERE window_start IS NOT NULL
GROUP BY site, CAST(date_trunc('month', window_start) AS DATE), rule_id
