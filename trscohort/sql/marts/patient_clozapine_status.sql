{%- set c = cfg.clozapine -%}
{%- macro num(x) -%} regexp_replace(CAST({{ x }} AS VARCHAR), '\.0$', '') {%- endmacro -%}
{%- macro day(x) -%} CAST({{ x }} AS VARCHAR) {%- endmacro -%}
-- Clozapine status per patient at the as-of date (CLZ-1..6), each decision with its reasons.
-- Every step is per COURSE (intermediate.clozapine_exposure.course_number: episodes separated by
-- at most clozapine.course_max_gap_days):
--   therapeutic basis: CLZ-3 (levels taken in the course >= therapeutic_level_ng_ml on
--     therapeutic_level_occasions occasions >= therapeutic_level_min_days_apart days apart, each
--     at a stable dose; the date of the last occasion), or CLZ-4 when the course has no levels at
--     all (first day in the course at dose_without_levels_mg or more);
--   adequate trial (CLZ-5): adequate_trial_days after the basis, on clozapine in the same course
--     until then; levels_maintained false when a level below therapeutic_level_ng_ml was taken in
--     those days at the basis dose or higher (require_levels_maintained makes it inadequate);
--   resistant (CLZ-6): the latest PANSS/BPRS on or after that date is persistent (TRS-7).
-- The course judged is the latest one that reached an adequate trial, else the latest course.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

episodes AS (
    SELECT * FROM {{ ref('intermediate.clozapine_exposure') }}
),

exposure AS (
    SELECT
        patient_id,
        min(episode_start) AS clozapine_start_date,
        max(episode_start) AS current_episode_start,
        max(episode_end) AS follow_up_end,
        arg_max(end_reason, episode_number) AS end_reason,
        bool_or(is_ongoing) AS on_clozapine_at_as_of,
        count(*) AS n_episodes,
        max(course_number) AS n_courses
    FROM episodes
    GROUP BY patient_id
),

courses AS (
    SELECT
        patient_id,
        course_number,
        min(episode_start) AS course_start,
        max(episode_end) AS course_end,
        arg_max(end_reason, episode_number) AS course_end_reason,
        bool_or(is_ongoing) AS course_ongoing
    FROM episodes
    GROUP BY patient_id, course_number
),

dose_periods AS (
    SELECT dp.*, c.course_number
    FROM {{ ref('intermediate.clozapine_dose_periods') }} AS dp
    INNER JOIN courses AS c
        ON c.patient_id = dp.patient_id
        AND dp.period_start BETWEEN c.course_start AND c.course_end
),

-- Levels taken during a course (a level outside every course belongs to none).
levels AS (
    SELECT l.*, c.course_number
    FROM {{ ref('intermediate.clozapine_levels') }} AS l
    INNER JOIN courses AS c
        ON c.patient_id = l.patient_id
        AND l.collected_date BETWEEN c.course_start AND c.course_end
),

level_summary AS (
    SELECT
        patient_id,
        course_number,
        count(*) AS n_levels,
        count(*) FILTER (WHERE is_therapeutic) AS n_levels_ge_350,
        count(*) FILTER (WHERE is_qualifying) AS n_qualifying_levels,
        max(level_ng_ml) AS max_level,
        string_agg({{ day('collected_date') }}, ', ' ORDER BY collected_date)
            FILTER (WHERE is_qualifying) AS qualifying_dates,
        string_agg({{ day('collected_date') }}, ', ' ORDER BY collected_date)
            FILTER (WHERE is_therapeutic AND NOT is_stable_dose) AS unstable_dates
    FROM levels
    GROUP BY patient_id, course_number
),

-- CLZ-3 per course, greedily: occasion 1 is the first qualifying level, occasion k the first
-- qualifying level at least therapeutic_level_min_days_apart days after occasion k-1.
occasion_1 AS (
    SELECT patient_id, course_number, min(collected_date) AS occasion_date
    FROM levels
    WHERE is_qualifying
    GROUP BY patient_id, course_number
),
{%- for k in range(2, c.therapeutic_level_occasions + 1) %}

occasion_{{ k }} AS (
    SELECT q.patient_id, q.course_number, min(q.collected_date) AS occasion_date
    FROM levels AS q
    INNER JOIN occasion_{{ k - 1 }} AS prev
        ON prev.patient_id = q.patient_id
        AND prev.course_number = q.course_number
        AND q.collected_date >= prev.occasion_date + {{ c.therapeutic_level_min_days_apart }}
    WHERE q.is_qualifying
    GROUP BY q.patient_id, q.course_number
),
{%- endfor %}

dose_summary AS (
    SELECT
        patient_id,
        course_number,
        max(daily_dose_mg) AS max_dose_mg,
        min(period_start) FILTER (WHERE daily_dose_mg >= {{ c.dose_without_levels_mg }})
            AS dose_basis_date
    FROM dose_periods
    GROUP BY patient_id, course_number
),

basis AS (
    SELECT
        co.*,
        coalesce(ls.n_levels, 0) AS n_levels,
        coalesce(ls.n_levels_ge_350, 0) AS n_levels_ge_350,
        coalesce(ls.n_qualifying_levels, 0) AS n_qualifying_levels,
        ls.max_level,
        ls.qualifying_dates,
        ls.unstable_dates,
        ds.dose_basis_date,
        CASE
            WHEN occ.occasion_date IS NOT NULL THEN occ.occasion_date
            WHEN coalesce(ls.n_levels, 0) = 0 THEN ds.dose_basis_date
        END AS therapeutic_level_date,
        CASE
            WHEN occ.occasion_date IS NOT NULL THEN 'levels'
            WHEN coalesce(ls.n_levels, 0) = 0 AND ds.dose_basis_date IS NOT NULL THEN 'dose_500'
        END AS level_basis
    FROM courses AS co
    LEFT JOIN level_summary AS ls
        ON ls.patient_id = co.patient_id AND ls.course_number = co.course_number
    LEFT JOIN occasion_{{ c.therapeutic_level_occasions }} AS occ
        ON occ.patient_id = co.patient_id AND occ.course_number = co.course_number
    LEFT JOIN dose_summary AS ds
        ON ds.patient_id = co.patient_id AND ds.course_number = co.course_number
),

-- CLZ-5 levels maintained: the first level below the threshold after the basis, within the
-- adequate-trial days, at the dose of the basis or higher.
basis_dose AS (
    SELECT b.patient_id, b.course_number, dp.daily_dose_mg AS basis_dose_mg
    FROM basis AS b
    INNER JOIN dose_periods AS dp
        ON dp.patient_id = b.patient_id
        AND b.therapeutic_level_date BETWEEN dp.period_start AND dp.period_end
),

low_levels AS (
    SELECT
        l.patient_id,
        l.course_number,
        min(l.collected_date) AS first_low_date,
        arg_min(l.level_ng_ml, l.collected_date) AS first_low_level,
        arg_min(l.daily_dose_mg, l.collected_date) AS first_low_dose
    FROM levels AS l
    INNER JOIN basis AS b
        ON b.patient_id = l.patient_id AND b.course_number = l.course_number
    INNER JOIN basis_dose AS bd
        ON bd.patient_id = l.patient_id AND bd.course_number = l.course_number
    WHERE b.level_basis = 'levels'
        AND l.collected_date > b.therapeutic_level_date
        AND l.collected_date <= b.therapeutic_level_date + {{ c.adequate_trial_days }}
        AND NOT l.is_therapeutic
        AND l.daily_dose_mg >= bd.basis_dose_mg
    GROUP BY l.patient_id, l.course_number
),

-- CLZ-5: the trial is adequate once adequate_trial_days have passed since the basis by the
-- as-of date with the course still running on that day.
course_trials AS (
    SELECT
        b.*,
        params.as_of_date,
        b.therapeutic_level_date + {{ c.adequate_trial_days }} AS adequate_due_date,
        CASE WHEN b.level_basis = 'levels' THEN ll.first_low_date IS NULL END AS levels_maintained,
        ll.first_low_date,
        ll.first_low_level,
        ll.first_low_dose,
        b.therapeutic_level_date + {{ c.adequate_trial_days }} <= params.as_of_date
            AND b.course_end >= b.therapeutic_level_date + {{ c.adequate_trial_days }}
            {%- if c.require_levels_maintained %}
            AND ll.first_low_date IS NULL
            {%- endif %}
            AS adequate_reached
    FROM basis AS b
    CROSS JOIN params
    LEFT JOIN low_levels AS ll
        ON ll.patient_id = b.patient_id AND ll.course_number = b.course_number
),

judged_course AS (
    SELECT *
    FROM (
        SELECT
            *,
            row_number() OVER (
                PARTITION BY patient_id
                ORDER BY coalesce(adequate_reached, FALSE) DESC, course_number DESC
            ) AS pick
        FROM course_trials
    ) AS ranked
    WHERE pick = 1
),

trial AS (
    SELECT
        e.*,
        j.course_number,
        j.course_start,
        j.course_end,
        j.course_end_reason,
        j.course_ongoing,
        j.n_levels,
        j.n_levels_ge_350,
        j.n_qualifying_levels,
        j.max_level,
        j.qualifying_dates,
        j.unstable_dates,
        ds.max_dose_mg,
        j.therapeutic_level_date,
        j.level_basis,
        j.as_of_date,
        j.adequate_due_date,
        j.adequate_reached,
        j.levels_maintained,
        j.first_low_date,
        j.first_low_level,
        j.first_low_dose,
        date_diff('day', j.course_start, j.as_of_date) AS days_in_current_episode
    FROM exposure AS e
    INNER JOIN judged_course AS j ON j.patient_id = e.patient_id
    LEFT JOIN (
        SELECT patient_id, max(daily_dose_mg) AS max_dose_mg
        FROM {{ ref('intermediate.clozapine_dose_periods') }}
        GROUP BY patient_id
    ) AS ds ON ds.patient_id = e.patient_id
),

-- The latest PANSS/BPRS since clozapine started (a persistent score wins a same-day tie).
latest_symptoms AS (
    SELECT patient_id, instrument, assessed_at, score, symptoms_persistent
    FROM (
        SELECT
            s.*,
            row_number() OVER (
                PARTITION BY s.patient_id
                ORDER BY s.assessed_at DESC, s.symptoms_persistent DESC, s.score DESC
            ) AS rn
        FROM {{ ref('intermediate.symptom_scores') }} AS s
        INNER JOIN trial AS t ON t.patient_id = s.patient_id
        WHERE s.is_symptom_scale
            AND s.assessed_at >= t.clozapine_start_date
            AND s.assessed_at <= t.as_of_date
    ) AS ranked
    WHERE rn = 1
),

-- CLZ-1 titration, per episode with known doses: start at no more than twice
-- titration_start_mg, rises of at most titration_step_max_mg per day while below
-- titration_target_min_mg, and no more than titration_target_max_mg at titration_days.
episode_periods AS (
    SELECT
        ep.patient_id,
        ep.episode_number,
        ep.episode_start,
        ep.episode_end,
        dp.period_start,
        dp.period_end,
        dp.daily_dose_mg,
        dp.previous_daily_dose_mg,
        dp.dose_change_mg,
        lag(dp.period_start) OVER (PARTITION BY dp.patient_id ORDER BY dp.period_start)
            AS previous_period_start
    FROM {{ ref('intermediate.clozapine_exposure') }} AS ep
    INNER JOIN dose_periods AS dp
        ON dp.patient_id = ep.patient_id
        AND dp.period_start BETWEEN ep.episode_start AND ep.episode_end
),

titration_problems AS (
    SELECT
        patient_id,
        period_start AS problem_date,
        'CLZ-1: clozapine started ' || {{ day('period_start') }} || ' at ' || {{ num('daily_dose_mg') }}
            || ' mg/day (more than {{ '%g' | format(2 * c.titration_start_mg) }})' AS problem
    FROM episode_periods
    WHERE period_start = episode_start AND daily_dose_mg > {{ 2 * c.titration_start_mg }}
    UNION ALL
    SELECT
        patient_id,
        period_start AS problem_date,
        'CLZ-1: +' || {{ num('dose_change_mg') }} || ' mg/day in '
            || CAST(date_diff('day', previous_period_start, period_start) AS VARCHAR) || ' day(s) on '
            || {{ day('period_start') }} || ' (more than {{ c.titration_step_max_mg }} mg/day per day)'
            AS problem
    FROM episode_periods
    WHERE previous_daily_dose_mg < {{ c.titration_target_min_mg }}
        AND dose_change_mg
            > {{ c.titration_step_max_mg }} * date_diff('day', previous_period_start, period_start)
    UNION ALL
    SELECT
        patient_id,
        period_start AS problem_date,
        'CLZ-1: ' || {{ num('daily_dose_mg') }} || ' mg/day on day {{ c.titration_days }} ('
            || {{ day('episode_start + ' ~ c.titration_days) }}
            || '), more than {{ c.titration_target_max_mg }}' AS problem
    FROM episode_periods
    WHERE episode_start + {{ c.titration_days }} BETWEEN period_start AND period_end
        AND daily_dose_mg > {{ c.titration_target_max_mg }}
),

titration AS (
    SELECT
        e.patient_id,
        coalesce(known.has_known_dose, FALSE) AS has_known_dose,
        problems.problems
    FROM exposure AS e
    LEFT JOIN (
        SELECT patient_id, bool_or(daily_dose_mg IS NOT NULL) AS has_known_dose
        FROM episode_periods
        GROUP BY patient_id
    ) AS known ON known.patient_id = e.patient_id
    LEFT JOIN (
        SELECT patient_id, string_agg(problem, '; ' ORDER BY problem_date, problem) AS problems
        FROM titration_problems
        GROUP BY patient_id
    ) AS problems ON problems.patient_id = e.patient_id
),

classified AS (
    SELECT
        t.*,
        ti.has_known_dose,
        ti.problems AS titration_problems,
        s.instrument AS latest_symptom_instrument,
        s.assessed_at AS latest_symptom_date,
        s.score AS latest_symptom_score,
        s.symptoms_persistent AS latest_symptoms_persistent,
        t.adequate_reached AND s.assessed_at >= t.adequate_due_date AS has_clz6_assessment,
        CASE
            WHEN t.adequate_reached THEN
                CASE
                    WHEN s.assessed_at >= t.adequate_due_date AND s.symptoms_persistent
                        THEN 'clozapine_resistant'
                    WHEN s.assessed_at >= t.adequate_due_date THEN 'responder'
                    ELSE '{{ c.status_without_assessment }}'
                END
            {%- if c.require_levels_maintained %}
            WHEN t.therapeutic_level_date IS NOT NULL AND t.levels_maintained = FALSE
                THEN 'inadequate_trial'
            {%- endif %}
            WHEN t.therapeutic_level_date IS NOT NULL AND t.course_ongoing
                THEN 'trial_in_progress'
            WHEN t.therapeutic_level_date IS NOT NULL THEN 'inadequate_trial'
            WHEN t.course_ongoing AND t.days_in_current_episode <= {{ c.titrating_max_days }}
                THEN 'titrating'
            ELSE 'inadequate_trial'
        END AS clozapine_status
    FROM trial AS t
    LEFT JOIN titration AS ti ON ti.patient_id = t.patient_id
    LEFT JOIN latest_symptoms AS s ON s.patient_id = t.patient_id
)

SELECT
    pt.patient_id,
    coalesce(c.clozapine_status, 'not_on_clozapine') AS clozapine_status,
    c.clozapine_start_date,
    c.current_episode_start,
    CAST(coalesce(c.n_episodes, 0) AS INTEGER) AS n_episodes,
    CAST(coalesce(c.n_courses, 0) AS INTEGER) AS n_courses,
    c.course_number,
    c.course_start,
    coalesce(c.on_clozapine_at_as_of, FALSE) AS on_clozapine_at_as_of,
    c.follow_up_end,
    c.end_reason,
    CASE WHEN c.has_known_dose THEN c.titration_problems IS NULL END AS titration_ok,
    CAST(coalesce(c.n_levels, 0) AS INTEGER) AS n_levels,
    CAST(coalesce(c.n_levels_ge_350, 0) AS INTEGER) AS n_levels_ge_350,
    CAST(coalesce(c.n_qualifying_levels, 0) AS INTEGER) AS n_qualifying_levels,
    c.max_dose_mg,
    c.max_dose_mg > {{ c.max_dose_mg }} AS above_max_dose,
    c.therapeutic_level_date,
    c.level_basis,
    c.adequate_due_date AS adequate_trial_date,
    coalesce(c.adequate_reached, FALSE) AS adequate_trial_reached,
    c.levels_maintained,
    c.latest_symptom_instrument,
    c.latest_symptom_date,
    c.latest_symptom_score,
    c.latest_symptoms_persistent,
    CASE
        WHEN c.patient_id IS NULL THEN 'no clozapine prescription or dispensing up to the as-of date'
        ELSE NULLIF(concat_ws('; ',
            CASE WHEN c.has_known_dose IS NOT TRUE
                THEN 'CLZ-1: titration not verified (no clozapine dose recorded)' END,
            c.titration_problems,
            CASE WHEN c.max_dose_mg > {{ c.max_dose_mg }}
                THEN 'CLZ-2: ' || {{ num('c.max_dose_mg') }} || ' mg/day prescribed, above the {{ c.max_dose_mg }} mg/day maximum' END,
            CASE WHEN c.n_courses > 1
                THEN 'CLZ-5: course ' || CAST(c.course_number AS VARCHAR) || ' of ' || CAST(c.n_courses AS VARCHAR)
                    || ' (from ' || {{ day('c.course_start') }} || ') judged; a gap of more than '
                    || '{{ c.course_max_gap_days }} days without clozapine starts a new course that needs its own basis' END,
            -- CLZ-3 / CLZ-4: why the basis is not (or not only) levels
            CASE
                WHEN c.level_basis = 'levels' THEN NULL
                WHEN c.n_levels = 0 THEN 'CLZ-3: no clozapine levels'
                WHEN c.n_levels_ge_350 = 0
                    THEN 'CLZ-3: no level >= {{ c.therapeutic_level_ng_ml }} ng/mL (highest '
                        || {{ num('round(c.max_level, 1)') }} || ' ng/mL)'
                WHEN c.n_qualifying_levels = 0
                    THEN 'CLZ-3: no level >= {{ c.therapeutic_level_ng_ml }} ng/mL at a stable dose'
                ELSE 'CLZ-3: level(s) >= {{ c.therapeutic_level_ng_ml }} ng/mL at a stable dose only on '
                    || c.qualifying_dates || ', not {{ c.therapeutic_level_occasions }} occasions >= '
                    || '{{ c.therapeutic_level_min_days_apart }} days apart'
            END,
            CASE WHEN c.level_basis IS DISTINCT FROM 'levels' AND c.unstable_dates IS NOT NULL
                THEN 'CLZ-3: level(s) >= {{ c.therapeutic_level_ng_ml }} ng/mL not counted, dose changed '
                    || 'fewer than {{ c.stable_dose_days }} days before (' || c.unstable_dates || ')' END,
            CASE
                WHEN c.n_levels > 0 THEN NULL
                WHEN c.level_basis = 'dose_500'
                    THEN 'CLZ-4: no levels; {{ c.dose_without_levels_mg }} mg/day first reached '
                        || {{ day('c.therapeutic_level_date') }} || ' stands in for CLZ-3'
                ELSE 'CLZ-4: no levels and the dose never reached {{ c.dose_without_levels_mg }} mg/day'
                    || coalesce(' (highest ' || {{ num('c.max_dose_mg') }} || ' mg/day)', '')
            END,
            -- CLZ-5: adequate trial, or why not yet / not at all
            CASE
                WHEN c.adequate_reached THEN NULL
                {%- if c.require_levels_maintained %}
                WHEN c.levels_maintained = FALSE
                    THEN 'CLZ-5: not adequate, levels not maintained (clozapine.require_levels_maintained)'
                {%- endif %}
                WHEN c.therapeutic_level_date IS NOT NULL AND c.course_ongoing
                    THEN 'CLZ-5: ' || CAST(date_diff('day', c.therapeutic_level_date, c.as_of_date) AS VARCHAR)
                        || ' of {{ c.adequate_trial_days }} days since the therapeutic basis ('
                        || {{ day('c.therapeutic_level_date') }} || '); adequate on '
                        || {{ day('c.adequate_due_date') }}
                WHEN c.therapeutic_level_date IS NOT NULL
                    THEN 'CLZ-5: clozapine ' || c.course_end_reason || ' ' || {{ day('c.course_end') }} || ', '
                        || CAST(date_diff('day', c.therapeutic_level_date, c.course_end) AS VARCHAR)
                        || ' days after the therapeutic basis (' || {{ day('c.therapeutic_level_date') }}
                        || '; needs {{ c.adequate_trial_days }})'
                WHEN NOT c.course_ongoing
                    THEN 'CLZ-5: clozapine ' || c.course_end_reason || ' ' || {{ day('c.course_end') }}
                        || ' before a therapeutic basis'
                WHEN c.days_in_current_episode <= {{ c.titrating_max_days }}
                    THEN 'CLZ-5: no therapeutic basis yet on day '
                        || CAST(c.days_in_current_episode AS VARCHAR)
                        || ' of clozapine (titrating up to day {{ c.titrating_max_days }})'
                ELSE 'CLZ-5: no therapeutic basis after ' || CAST(c.days_in_current_episode AS VARCHAR)
                    || ' days on clozapine (more than {{ c.titrating_max_days }})'
            END,
            CASE WHEN c.levels_maintained = FALSE
                THEN 'CLZ-5: levels not maintained: ' || {{ num('round(c.first_low_level, 1)') }} || ' ng/mL on '
                    || {{ day('c.first_low_date') }} || ' at ' || {{ num('c.first_low_dose') }}
                    || ' mg/day, below {{ c.therapeutic_level_ng_ml }} within {{ c.adequate_trial_days }} days of the basis'
                    || '{{ " (trial not adequate: clozapine.require_levels_maintained)" if c.require_levels_maintained else " (reported; clozapine.require_levels_maintained is false)" }}' END,
            -- CLZ-6: symptoms after the adequate trial
            CASE
                WHEN NOT c.adequate_reached THEN NULL
                WHEN c.has_clz6_assessment
                    THEN 'CLZ-6: ' || c.latest_symptom_instrument || ' ' || {{ num('c.latest_symptom_score') }}
                        || ' on ' || {{ day('c.latest_symptom_date') }}
                        || CASE WHEN c.latest_symptoms_persistent THEN ' is persistent (>= ' ELSE ' is below ' END
                        || CASE c.latest_symptom_instrument
                            WHEN 'PANSS' THEN '{{ cfg.trs.panss_total_persistent }}'
                            ELSE '{{ cfg.trs.bprs_total_persistent }}' END
                        || CASE WHEN c.latest_symptoms_persistent THEN ', TRS-7)' ELSE ' (TRS-7)' END
                ELSE 'CLZ-6: no PANSS/BPRS on or after the adequate trial date ('
                    || {{ day('c.adequate_due_date') }} || '); resistance not shown'
            END
        ), '')
    END AS reasons
FROM {{ ref('staging.patients') }} AS pt
LEFT JOIN classified AS c ON c.patient_id = pt.patient_id
