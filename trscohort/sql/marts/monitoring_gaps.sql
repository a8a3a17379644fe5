-- Missed monitoring windows (MON-*): one row per expected window with no qualifying test.
SELECT
    patient_id,
    rule_id,
    schedule_number,
    window_number,
    trigger,
    window_start,
    window_end,
    start_day,
    end_day,
    missing_detail
FROM {{ ref('intermediate.monitoring_windows') }}
WHERE NOT is_observed
