{%- import 'macros.sql' as m -%}
-- Each antipsychotic episode judged as a trial: duration (TRS-3), dose (TRS-4: mean CPZ-eq, or
-- for a drug without a CPZ equivalent the label mid-range dose), adherence (TRS-5: days covered
-- by dispensings or a long-acting injectable, or a blood level of the drug in range during the
-- trial) and failure (persistent symptoms around its end, TRS-7 thresholds).
WITH episodes AS (
    SELECT * FROM {{ ref('intermediate.antipsychotic_episodes') }}
),

-- TRS-5: days supplied by dispensings of the drug, and days on a long-acting injectable
-- (administered, so verified), clipped to the episode.
supply AS (
    SELECT patient_id, generic_name, dispensed_date AS first_day,
           dispensed_date + CAST(days_supply - 1 AS INTEGER) AS last_day, 'dispensings' AS source
    FROM {{ ref('staging.dispensings') }}
    WHERE is_antipsychotic AND NOT is_clozapine
    UNION ALL
    SELECT patient_id, generic_name, start_date, end_date, 'lai'
    FROM {{ ref('intermediate.antipsychotic_prescriptions') }}
    WHERE is_lai AND NOT is_clozapine
),

clipped AS (
    SELECT
        e.episode_id,
        s.source,
        greatest(s.first_day, e.start_date) AS first_day,
        least(s.last_day, e.end_date) AS last_day
    FROM episodes AS e
    JOIN supply AS s
        ON s.patient_id = e.patient_id
        AND s.generic_name = e.generic_name
        AND s.first_day <= e.end_date
        AND s.last_day >= e.start_date
),

-- Gaps and islands: overlapping supplies count each day once.
islands AS (
    SELECT
        *,
        sum(CASE WHEN previous_last_day IS NULL OR first_day > previous_last_day + 1 THEN 1 ELSE 0 END)
            OVER (PARTITION BY episode_id ORDER BY first_day, last_day
                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS island
    FROM (
        SELECT
            *,
            max(last_day) OVER (PARTITION BY episode_id ORDER BY first_day, last_day
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_last_day
        FROM clipped
    ) AS c
),

-- The sources as flags, not string_agg(DISTINCT ... ORDER BY): a sorted distinct aggregate over
-- millions of islands was a fifth of this model's time (issue 17 profile).
covered AS (
    SELECT
        episode_id,
        sum(days) AS covered_days,
        concat_ws('+',
            CASE WHEN bool_or(from_dispensings) THEN 'dispensings' END,
            CASE WHEN bool_or(from_lai) THEN 'lai' END) AS sources
    FROM (
        SELECT episode_id, island, date_diff('day', min(first_day), max(last_day)) + 1 AS days,
               bool_or(source = 'dispensings') AS from_dispensings,
               bool_or(source = 'lai') AS from_lai
        FROM islands
        GROUP BY episode_id, island
    ) AS i
    GROUP BY episode_id
),

-- TRS-5 (and TRS-9): a level of the trial's drug taken during the trial, in range when it proves
-- a value at or above the lower limit of the drug's therapeutic range (reference
-- level_min_ng_ml), or, without a known range, a measurable value (above 0, not "<x").
level_analytes AS (
    SELECT generic_name, any_value(level_analyte) AS analyte, max(level_min_ng_ml) AS level_min_ng_ml
    FROM {{ ref('reference.drugs') }}
    WHERE level_analyte IS NOT NULL
    GROUP BY generic_name
),

trial_levels AS (
    SELECT
        e.episode_id,
        count(*) AS n_levels,
        count(*) FILTER (WHERE
            CASE WHEN la.level_min_ng_ml IS NOT NULL
                THEN {{ m.proves_at_least('l.value', 'l.value_comparator', 'la.level_min_ng_ml') }}
                ELSE {{ m.proves_above('l.value', 'l.value_comparator', 0) }}
            END) AS n_levels_in_range,
        arg_max(coalesce(l.value_comparator, '') || {{ m.fmt_num('l.value') }}, l.collected_date)
            AS latest_level,
        max(l.collected_date) AS latest_level_date,
        any_value(la.level_min_ng_ml) AS level_min_ng_ml
    FROM episodes AS e
    INNER JOIN level_analytes AS la ON la.generic_name = e.generic_name
    INNER JOIN {{ ref('staging.labs') }} AS l
        ON l.patient_id = e.patient_id
        AND l.analyte = la.analyte
        AND l.collected_date BETWEEN e.start_date AND e.end_date
    GROUP BY e.episode_id
),

-- Failure: the latest PANSS/BPRS in the window around the trial's end.
window_scores AS (
    SELECT
        e.episode_id,
        s.assessed_at,
        s.instrument,
        s.score,
        s.symptoms_persistent,
        row_number() OVER (
            PARTITION BY e.episode_id ORDER BY s.assessed_at DESC, s.score DESC, s.instrument
        ) AS recency
    FROM episodes AS e
    JOIN {{ ref('intermediate.symptom_scores') }} AS s
        ON s.patient_id = e.patient_id
        AND s.is_symptom_scale
        AND s.assessed_at >= e.end_date - {{ cfg.trs.failure_window_days_before_end }}
        AND s.assessed_at <= e.end_date + {{ cfg.trs.failure_window_days_after_end }}
),

judged AS (
    SELECT
        e.*,
        e.days >= {{ cfg.trs.min_trial_days }} AS duration_ok,
        e.mean_cpz_equivalent_mg AS cpz_equivalent_mg,
        CASE
            WHEN e.mean_cpz_equivalent_mg IS NOT NULL THEN 'cpz_equivalent'
            WHEN e.label_mid_mg IS NOT NULL AND e.mean_daily_dose_mg IS NOT NULL THEN 'label_mid_range'
        END AS dose_basis,
        CASE
            WHEN e.mean_cpz_equivalent_mg IS NOT NULL
                THEN e.mean_cpz_equivalent_mg >= {{ cfg.trs.min_cpz_equivalent_mg }}
            ELSE e.mean_daily_dose_mg >= e.label_mid_mg
        END AS dose_ok,
        CASE WHEN c.covered_days IS NOT NULL THEN 100.0 * c.covered_days / e.days END AS adherence_pct,
        tl.n_levels,
        tl.n_levels_in_range > 0 AS level_in_range,
        tl.latest_level,
        tl.latest_level_date,
        tl.level_min_ng_ml,
        coalesce(nullif(concat_ws('+', c.sources, CASE WHEN tl.n_levels_in_range > 0 THEN 'level' END), ''),
                 'unknown') AS adherence_source,
        ws.assessed_at AS failure_assessed_at,
        ws.instrument AS failure_instrument,
        ws.score AS failure_score,
        coalesce(ws.symptoms_persistent, FALSE) AS failed
    FROM episodes AS e
    LEFT JOIN covered AS c ON c.episode_id = e.episode_id
    LEFT JOIN trial_levels AS tl ON tl.episode_id = e.episode_id
    LEFT JOIN window_scores AS ws ON ws.episode_id = e.episode_id AND ws.recency = 1
),

verified AS (
    SELECT
        *,
        -- TRS-5: any one method verifies adherence; unknown only when none was available.
        CASE
            WHEN coalesce(adherence_pct >= {{ cfg.trs.min_adherence_pct }}, FALSE) OR level_in_range THEN TRUE
            WHEN adherence_pct IS NOT NULL OR n_levels > 0 THEN FALSE
        END AS adherence_ok
    FROM judged
)

SELECT
    episode_id,
    patient_id,
    generic_name,
    drug_class,
    start_date,
    end_date,
    days,
    ongoing_at_as_of,
    route,
    polypharmacy_days,
    mean_daily_dose_mg,
    max_daily_dose_mg,
    duration_ok,
    cpz_equivalent_mg,
    dose_basis,
    label_mid_mg,
    dose_ok,
    adherence_pct,
    CAST(coalesce(n_levels, 0) AS INTEGER) AS n_levels,
    coalesce(level_in_range, FALSE) AS level_in_range,
    adherence_source,
    adherence_ok,
    coalesce(duration_ok AND dose_ok AND adherence_ok, FALSE) AS adequate,
    failed,
    failure_assessed_at,
    failure_instrument,
    failure_score,
    nullif(concat_ws('; ',
        CASE WHEN NOT duration_ok THEN
            'TRS-3: ' || {{ m.fmt_num('days') }} || ' days < {{ cfg.trs.min_trial_days }}' END,
        CASE WHEN dose_basis IS NULL THEN 'TRS-4: dose not verifiable (no dose, CPZ equivalent or label range)'
             WHEN NOT dose_ok AND dose_basis = 'label_mid_range' THEN 'TRS-4: mean '
                  || {{ m.fmt_num('mean_daily_dose_mg') }} || ' mg/day < label mid-range '
                  || {{ m.fmt_num('label_mid_mg') }} || ' mg/day (no CPZ equivalent)'
             WHEN NOT dose_ok THEN 'TRS-4: mean ' || {{ m.fmt_num('cpz_equivalent_mg') }}
                  || ' mg CPZ-eq < {{ cfg.trs.min_cpz_equivalent_mg }}' END,
        CASE WHEN adherence_ok IS NULL
                THEN 'TRS-5: adherence not verified (no dispensings, not long-acting, no level)'
             WHEN NOT adherence_ok THEN 'TRS-5: ' || concat_ws(', ',
                  CASE WHEN adherence_pct IS NOT NULL THEN {{ m.fmt_num('adherence_pct') }}
                      || '% of days covered < {{ cfg.trs.min_adherence_pct }}%' END,
                  CASE WHEN n_levels > 0 THEN 'level ' || latest_level || ' ng/mL on '
                      || CAST(latest_level_date AS VARCHAR) || CASE WHEN level_min_ng_ml IS NOT NULL
                          THEN ' below ' || {{ m.fmt_num('level_min_ng_ml') }} ELSE ' not measurable' END END) END,
        CASE WHEN failure_assessed_at IS NULL THEN 'not failed: no PANSS/BPRS around its end'
             WHEN NOT failed THEN 'not failed: ' || failure_instrument || ' '
                  || {{ m.fmt_num('failure_score') }} || ' on ' || CAST(failure_assessed_at AS VARCHAR) END
    ), '') AS reasons
FROM verified
