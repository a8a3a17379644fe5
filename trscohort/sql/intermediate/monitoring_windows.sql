{%- import 'macros.sql' as m -%}
{#- The schedule of every MON-* rule as phases of windows. A phase has windows centred on day
    first + n * every (n = 0, 1, ...; every = 0 for a single window) up to day `last` (none =
    open-ended), each from `before` days before to `after` days after its centre. -#}
{%- set mon = cfg.monitoring -%}
{%- set tol = mon.window_tolerance_days -%}
{%- macro month_days(months) -%}{{ (months * 365.25 / 12) | round | int }}{%- endmacro -%}
{%- set phases = [] -%}
{%- macro add(rule_id, tests, first, every, last, before, after) -%}
{%- do phases.append({'rule_id': rule_id, 'tests': tests, 'first': first | int, 'every': every | int,
                      'last': last, 'before': before, 'after': after}) -%}
{%- endmacro -%}
{#- MON-ANC-0: baseline ANC in days -7..0; MON-ANC-1..3 from the chosen profile, each phase
    starting where the previous one ended (week 26 -> centres 182 + 14 j). -#}
{{- add('MON-ANC-0', 'MON-ANC', 0, 0, 0, mon.baseline_anc_days_before, 0) -}}
{#- A phase with `calendar_month: true` (us_rems_2015 MON-ANC-3) has one window per calendar
    month instead: the months starting after the previous phase's last centre. -#}
{%- set ns = namespace(start=0) -%}
{%- set month_phases = [] -%}
{%- for p in mon.profiles[mon.profile] -%}
{%- set last = (p.until_week * 7) if p.until_week is not none else none -%}
{%- if p.get('calendar_month', false) -%}
{%- do month_phases.append({'rule_id': p.rule_id, 'after_day': ns.start, 'last': last}) -%}
{%- else -%}
{{- add(p.rule_id, 'MON-ANC', ns.start + p.every_days, p.every_days, last, tol[p.tolerance], tol[p.tolerance]) -}}
{%- endif -%}
{%- if last is not none %}{% set ns.start = last %}{% endif -%}
{%- endfor -%}
{#- MON-CV-1 baseline ECG, BP, pulse; MON-CV-2 troponin + CRP weekly in weeks 1..4. -#}
{{- add('MON-CV-1', 'MON-CV-1', 0, 0, 0, mon.baseline_days_before, 0) -}}
{{- add('MON-CV-2', 'MON-CV-2', 7, 7, 7 * mon.myocarditis_screen_weeks, tol.weekly, tol.weekly) -}}
{#- MON-MET-1 weight at the listed weeks (0 = baseline; others +/- monthly tolerance), then every
    weight_then_every_weeks from the last listed week (+/- quarterly tolerance). -#}
{%- for w in mon.weight_weeks -%}
{%- if w == 0 -%}
{{- add('MON-MET-1', 'MON-MET-1', 0, 0, 0, mon.baseline_days_before, 0) -}}
{%- else -%}
{{- add('MON-MET-1', 'MON-MET-1', 7 * w, 0, 7 * w, tol.monthly, tol.monthly) -}}
{%- endif -%}
{%- endfor -%}
{%- set weight_every = 7 * mon.weight_then_every_weeks -%}
{{- add('MON-MET-1', 'MON-MET-1', 7 * (mon.weight_weeks | max) + weight_every, weight_every, none, tol.quarterly, tol.quarterly) -}}
{#- MON-MET-2 glucose/HbA1c and lipids at the listed months (0 = baseline), then every
    metabolic_then_every_months from the last listed month (+/- annual tolerance). -#}
{%- for m in mon.metabolic_months -%}
{%- if m == 0 -%}
{{- add('MON-MET-2', 'MON-MET-2', 0, 0, 0, mon.baseline_days_before, 0) -}}
{%- else -%}
{{- add('MON-MET-2', 'MON-MET-2', month_days(m), 0, month_days(m) | int, tol.quarterly, tol.quarterly) -}}
{%- endif -%}
{%- endfor -%}
{%- set metabolic_every = month_days(mon.metabolic_then_every_months) | int -%}
{{- add('MON-MET-2', 'MON-MET-2', month_days(mon.metabolic_months | max) | int + metabolic_every, metabolic_every, none, tol.annual, tol.annual) -}}
{#- MON-LFT-1 liver tests at baseline, then every lft_every_months. -#}
{%- set lft_every = month_days(mon.lft_every_months) | int -%}
{{- add('MON-LFT-1', 'MON-LFT-1', 0, 0, 0, mon.baseline_days_before, 0) -}}
{{- add('MON-LFT-1', 'MON-LFT-1', lft_every, lft_every, none, tol.annual, tol.annual) -}}
{#- (test set, component, analyte) triples from monitoring.tests. -#}
{%- set pairs = [] -%}
{%- for test_set, components in mon.tests.items() %}
{%- for component, analytes in components.items() %}
{%- for analyte in analytes %}{% do pairs.append((test_set, component, analyte)) %}{% endfor %}
{%- endfor %}
{%- endfor %}
-- Every expected monitoring window (MON-*) per clozapine patient, observed or not. A window is
-- expected when it ends on or before the end of follow-up (the as-of date, a stop or death) and
-- the patient had clozapine on at least one of its days (a window entirely inside an
-- interruption is not due); it is observed when every component of the rule's tests
-- (monitoring.tests) has a result inside it. MON-ANC-0 counts only an ANC proven at or above the
-- baseline minimum (BEN-aware; the qualifier rule of macros.sql). MON-LVL-1 windows follow
-- events rather than a calendar: steady state after titration, and each dose change after
-- titration. A monthly phase with calendar_month has one window per calendar month.
WITH schedules AS (
    SELECT * FROM {{ ref('intermediate.monitoring_schedules') }}
),

phases AS (
{%- for ph in phases %}
    SELECT
        '{{ ph.rule_id }}' AS rule_id,
        '{{ ph.tests }}' AS test_set,
        {{ ph.first }} AS first_centre_day,
        {{ ph.every }} AS every_days,
        {{ ph.last if ph.last is not none else 'CAST(NULL AS INTEGER)' }} AS last_centre_day,
        {{ ph.before }} AS days_before,
        {{ ph.after }} AS days_after
    {{- "\n    UNION ALL" if not loop.last }}
{%- endfor %}
),

-- How many windows of each phase fit: the last one must end by the end of follow-up.
phase_counts AS (
    SELECT
        s.patient_id,
        s.schedule_number,
        s.anchor_date,
        ph.*,
        CASE
            WHEN ph.every_days = 0 THEN
                CASE WHEN ph.first_centre_day + ph.days_after <= s.follow_up_days THEN 0 ELSE -1 END
            ELSE CAST(floor(
                (least(s.follow_up_days - ph.days_after, coalesce(ph.last_centre_day, s.follow_up_days))
                    - ph.first_centre_day) / NULLIF(ph.every_days, 0)
            ) AS INTEGER)
        END AS last_n
    FROM schedules AS s
    CROSS JOIN phases AS ph
),

calendar_windows AS (
    SELECT
        pc.patient_id,
        pc.schedule_number,
        pc.anchor_date,
        pc.rule_id,
        pc.test_set,
        'schedule' AS trigger,
        pc.first_centre_day + series.n * pc.every_days - pc.days_before AS start_day,
        pc.first_centre_day + series.n * pc.every_days + pc.days_after AS end_day
    FROM phase_counts AS pc, UNNEST(generate_series(0, pc.last_n)) AS series(n)
    WHERE pc.last_n >= 0
),

-- Monthly phases by calendar month: every month starting after the previous phase's last
-- centre and ending on or before the end of follow-up.
month_windows AS (
{%- for mp in month_phases %}
    SELECT
        m.patient_id,
        m.schedule_number,
        m.anchor_date,
        '{{ mp.rule_id }}' AS rule_id,
        'MON-ANC' AS test_set,
        'schedule' AS trigger,
        date_diff('day', m.anchor_date, m.month_start) AS start_day,
        date_diff('day', m.anchor_date, CAST(m.month_start + INTERVAL 1 MONTH AS DATE) - 1) AS end_day
    FROM (
        SELECT
            s.patient_id,
            s.schedule_number,
            s.anchor_date,
            -- integer month numbers, not to_months(): read the same on Spark (docs/spark.md)
            make_date(
                CAST((year(s.first_month) * 12 + month(s.first_month) - 1 + series.n) // 12 AS INTEGER),
                CAST((year(s.first_month) * 12 + month(s.first_month) - 1 + series.n) % 12 + 1 AS INTEGER),
                1) AS month_start
        FROM (
            SELECT
                *,
                CAST(date_trunc('month', anchor_date + {{ mp.after_day }}) + INTERVAL 1 MONTH AS DATE)
                    AS first_month
            FROM schedules
        ) AS s, UNNEST(generate_series(0, date_diff('month', s.first_month,
            CAST(date_trunc('month', s.follow_up_end + 1) AS DATE)) - 1)) AS series(n)
    ) AS m
    {%- if mp.last is not none %}
    WHERE m.month_start <= m.anchor_date + {{ mp.last }}
    {%- endif %}
    {{- "\n    UNION ALL" if not loop.last }}
{%- endfor %}
{%- if not month_phases %}
    SELECT
        patient_id, schedule_number, anchor_date, 'none' AS rule_id, 'MON-ANC' AS test_set,
        'schedule' AS trigger, 0 AS start_day, 0 AS end_day
    FROM schedules
    WHERE FALSE
{%- endif %}
),

-- MON-LVL-1: a level within level_window_days once steady state is reached (stable_dose_days
-- after the end of titration, and after each later dose change).
level_events AS (
    SELECT
        patient_id,
        schedule_number,
        anchor_date,
        {{ cfg.clozapine.titration_days }} AS event_day,
        'steady state after titration' AS trigger
    FROM schedules
    UNION ALL
    SELECT
        s.patient_id,
        s.schedule_number,
        s.anchor_date,
        date_diff('day', s.anchor_date, dp.period_start) AS event_day,
        'dose change to ' || CAST(dp.daily_dose_mg AS VARCHAR) || ' mg/day on '
            || CAST(dp.period_start AS VARCHAR) AS trigger
    FROM schedules AS s
    INNER JOIN {{ ref('intermediate.clozapine_dose_periods') }} AS dp
        ON dp.patient_id = s.patient_id
        AND dp.period_start > s.anchor_date + {{ cfg.clozapine.titration_days }}
        AND dp.period_start <= s.follow_up_end
        AND dp.dose_change_mg <> 0
),

level_windows AS (
    SELECT
        e.patient_id,
        e.schedule_number,
        e.anchor_date,
        'MON-LVL-1' AS rule_id,
        'MON-LVL-1' AS test_set,
        e.trigger,
        e.event_day + {{ cfg.clozapine.stable_dose_days }} AS start_day,
        e.event_day + {{ cfg.clozapine.stable_dose_days + mon.level_window_days }} AS end_day
    FROM level_events AS e
    INNER JOIN schedules AS s
        ON s.patient_id = e.patient_id AND s.schedule_number = e.schedule_number
    WHERE e.event_day + {{ cfg.clozapine.stable_dose_days + mon.level_window_days }} <= s.follow_up_days
),

all_windows AS (
    SELECT
        w.*,
        w.anchor_date + CAST(w.start_day AS INTEGER) AS window_start,
        w.anchor_date + CAST(w.end_day AS INTEGER) AS window_end
    FROM (
        SELECT * FROM calendar_windows
        UNION ALL
        SELECT * FROM month_windows
        UNION ALL
        SELECT * FROM level_windows
    ) AS w
),

-- Not due while off clozapine: a window needs a day of clozapine exposure inside it.
windows AS (
    SELECT
        w.*,
        row_number() OVER (
            PARTITION BY w.patient_id, w.schedule_number, w.rule_id ORDER BY w.start_day, w.end_day
        ) AS window_number
    FROM all_windows AS w
    INNER JOIN schedules AS s
        ON s.patient_id = w.patient_id AND s.schedule_number = w.schedule_number
    -- a one-episode schedule covers every window that reaches day 0
    WHERE s.n_episodes = 1 OR EXISTS (
        SELECT 1
        FROM {{ ref('intermediate.clozapine_exposure') }} AS e
        WHERE e.patient_id = w.patient_id
            AND e.episode_start <= w.window_end
            AND e.episode_end >= w.window_start
    )
),

component_analytes AS (
{%- for test_set, component, analyte in pairs %}
    SELECT '{{ test_set }}' AS test_set, '{{ component }}' AS component, '{{ analyte }}' AS analyte
    {{- "\n    UNION ALL" if not loop.last }}
{%- endfor %}
),

-- Each window against each component of its tests, with the results that fall inside it.
component_results AS (
    SELECT
        w.patient_id,
        w.schedule_number,
        w.rule_id,
        w.window_number,
        ca.component,
        count(l.patient_id) AS n_results,
        count(l.patient_id) FILTER (
            WHERE w.rule_id <> 'MON-ANC-0'
                OR {{ m.proves_at_least('l.value', 'l.value_comparator', 'CASE WHEN s.benign_ethnic_neutropenia THEN '
                    ~ mon.baseline_anc_min_per_ul_ben ~ ' ELSE ' ~ mon.baseline_anc_min_per_ul ~ ' END') }}
        ) AS n_counting,
        max(l.value) AS max_value
    FROM windows AS w
    INNER JOIN schedules AS s
        ON s.patient_id = w.patient_id AND s.schedule_number = w.schedule_number
    INNER JOIN component_analytes AS ca ON ca.test_set = w.test_set
    LEFT JOIN {{ ref('staging.labs') }} AS l
        ON l.patient_id = w.patient_id
        AND l.analyte = ca.analyte
        AND l.collected_date BETWEEN w.window_start AND w.window_end
    GROUP BY w.patient_id, w.schedule_number, w.rule_id, w.window_number, ca.component
),

window_results AS (
    SELECT
        patient_id,
        schedule_number,
        rule_id,
        window_number,
        sum(n_results) AS n_results,
        bool_and(n_counting > 0) AS is_observed,
        string_agg(component, ', ' ORDER BY component) FILTER (WHERE n_results = 0) AS missing,
        max(max_value) FILTER (WHERE n_results > 0 AND n_counting = 0) AS below_minimum_value
    FROM component_results
    GROUP BY patient_id, schedule_number, rule_id, window_number
)

SELECT
    w.patient_id,
    w.schedule_number,
    w.anchor_date,
    w.rule_id,
    CAST(w.window_number AS INTEGER) AS window_number,
    w.trigger,
    w.window_start,
    w.window_end,
    w.start_day,
    w.end_day,
    CAST(r.n_results AS INTEGER) AS n_results,
    r.is_observed,
    CASE
        WHEN r.is_observed THEN NULL
        WHEN r.missing IS NOT NULL THEN 'no result for ' || r.missing
        ELSE 'ANC ' || regexp_replace(CAST(r.below_minimum_value AS VARCHAR), '\.0$', '')
            || '/uL, below the baseline minimum'
    END AS missing_detail,
    -- the patient's site, so that reports by site need no join back to the patients
    s.site
FROM windows AS w
LEFT JOIN schedules AS s ON s.patient_id = w.patient_id AND s.schedule_number = w.schedule_number
INNER JOIN window_results AS r
    ON r.patient_id = w.patient_id
    AND r.schedule_number = w.schedule_number
    AND r.rule_id = w.rule_id
    AND r.window_number = w.window_number
