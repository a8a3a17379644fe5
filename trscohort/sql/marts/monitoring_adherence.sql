{%- set mon = cfg.monitoring -%}
{%- set rules = ['MON-ANC-0'] -%}
{%- for p in mon.profiles[mon.profile] %}{% if p.rule_id not in rules %}{% do rules.append(p.rule_id) %}{% endif %}{% endfor -%}
{%- for r in ['MON-CV-1', 'MON-CV-2', 'MON-MET-1', 'MON-MET-2', 'MON-LVL-1', 'MON-LFT-1'] %}{% do rules.append(r) %}{% endfor -%}
-- Monitoring adherence per clozapine patient and rule (MON-*): observed / expected windows of
-- intermediate.monitoring_windows, over every schedule of the patient. A rule with no window due
-- yet has expected_tests 0 and adherence_pct NULL.
WITH rules AS (
{%- for r in rules %}
    SELECT '{{ r }}' AS rule_id, {{ loop.index }} AS rule_order
    {{- "\n    UNION ALL" if not loop.last }}
{%- endfor %}
),

patients AS (
    SELECT DISTINCT patient_id FROM {{ ref('intermediate.monitoring_schedules') }}
),

windows AS (
    SELECT * FROM {{ ref('intermediate.monitoring_windows') }}
),

per_rule AS (
    SELECT
        patient_id,
        rule_id,
        count(*) AS expected_tests,
        count(*) FILTER (WHERE is_observed) AS observed_tests,
        min(window_start) FILTER (WHERE NOT is_observed) AS first_missed_window_start
    FROM windows
    GROUP BY patient_id, rule_id
)

SELECT
    p.patient_id,
    r.rule_id,
    CAST(coalesce(pr.expected_tests, 0) AS INTEGER) AS expected_tests,
    CAST(coalesce(pr.observed_tests, 0) AS INTEGER) AS observed_tests,
    round(100.0 * pr.observed_tests / NULLIF(pr.expected_tests, 0), 1) AS adherence_pct,
    CASE WHEN pr.expected_tests > 0 THEN pr.observed_tests = pr.expected_tests END AS fully_adherent,
    pr.first_missed_window_start
FROM patients AS p
CROSS JOIN rules AS r
LEFT JOIN per_rule AS pr ON pr.patient_id = p.patient_id AND pr.rule_id = r.rule_id
