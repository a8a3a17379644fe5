{%- set s = cfg.safety -%}
{%- set mon = cfg.monitoring -%}
{%- set profile = mon.profiles[mon.profile] -%}
{%- macro num(x) -%} regexp_replace(CAST({{ x }} AS VARCHAR), '\.0$', '') {%- endmacro -%}
{%- macro day(x) -%} CAST({{ x }} AS VARCHAR) {%- endmacro -%}
{%- macro has_category(col, category) -%} ('|' || {{ col }} || '|' LIKE '%|{{ category }}|%') {%- endmacro -%}
-- Clozapine safety flags, one row per flag:
--   SAF-REC        a clozapine episode starting after severe neutropenia (ANC < 500/uL or
--                  AE-NEU diagnosis) or myocarditis (AE-MYO diagnosis, or troponin above its
--                  reference with CRP > adverse_events.myocarditis_crp_mg_l in weeks 1-8), both
--                  on or after the first clozapine dose;
--   SAF-DOSE       a dose period above safety.dose_without_anticonvulsant_mg with a day not
--                  covered by an anticonvulsant prescription (the first such day);
--   SAF-DDI        a benzodiazepine, CNS depressant, anticholinergic or CYP1A2 inhibitor/inducer
--                  prescribed while on clozapine (per drug and episode);
--   SAF-PREG/LACT  a pregnancy / lactation diagnosis dated while on clozapine (per episode);
--   SAF-ANC-ACTION clozapine continued more than safety.anc_action_days after a severe ANC, or a
--                  moderate ANC without BEN (the table says discontinue / interrupt);
--   SAF-DISPENSE   a clozapine dispensing with no ANC in the days the current phase requires
--                  before it (safety.dispense_anc_window_days: weekly 7, biweekly 14, monthly 28);
--   CLZ-2          a dose period above clozapine.max_dose_mg (900 mg/day), one row per period.
-- ANC results follow the qualifier rule (marts.anc_results): SAF-REC needs a proven severe ANC;
-- SAF-ANC-ACTION counts a result that proves at least moderate neutropenia (e.g. "<1000").
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

episodes AS (
    SELECT * FROM {{ ref('intermediate.clozapine_exposure') }}
),

first_dose AS (
    SELECT patient_id, min(episode_start) AS first_dose_date FROM episodes GROUP BY patient_id
),

anc AS (
    SELECT * FROM {{ ref('marts.anc_results') }}
),

labs AS (
    SELECT l.*
    FROM {{ ref('staging.labs') }} AS l
    CROSS JOIN params
    WHERE l.collected_date <= params.as_of_date
),

diagnoses AS (
    SELECT patient_id, code, diagnosed_at, group_id
    FROM {{ ref('intermediate.diagnosis_groups') }}
),

comedications AS (
    SELECT
        p.patient_id,
        p.generic_name,
        d.categories,
        p.start_date,
        least(coalesce(p.end_date, params.as_of_date), params.as_of_date) AS end_date
    FROM {{ ref('staging.prescriptions') }} AS p
    CROSS JOIN params
    INNER JOIN {{ ref('reference.drugs') }} AS d ON d.concept_id = p.drug_concept_id
    WHERE NOT p.is_antipsychotic AND d.categories IS NOT NULL AND p.start_date <= params.as_of_date
),

-- SAF-REC -----------------------------------------------------------------------------------
contraindicating_events AS (
    SELECT patient_id, collected_date AS event_date,
        'severe neutropenia (ANC ' || coalesce(value_comparator, '') || {{ num('anc_per_ul') }} || '/uL)' AS event
    FROM anc
    WHERE anc_category = 'severe'
    UNION ALL
    SELECT patient_id, diagnosed_at AS event_date,
        CASE group_id WHEN 'AE-NEU' THEN 'severe neutropenia' ELSE 'myocarditis' END
            || ' (diagnosis ' || code || ')' AS event
    FROM diagnoses
    WHERE group_id IN ('AE-NEU', 'AE-MYO')
    UNION ALL
    SELECT t.patient_id, t.collected_date AS event_date,
        'myocarditis (troponin ' || {{ num('t.value') }} || ' above its reference '
            || {{ num('t.reference_high') }} || ', CRP ' || {{ num('max(c.value)') }} || ' mg/L)' AS event
    FROM labs AS t
    INNER JOIN episodes AS e
        ON e.patient_id = t.patient_id
        AND t.collected_date BETWEEN e.episode_start
            AND e.episode_start + {{ 7 * cfg.adverse_events.myocarditis_weeks }}
    INNER JOIN labs AS c
        ON c.patient_id = t.patient_id
        AND c.analyte = 'crp'
        AND c.value > {{ cfg.adverse_events.myocarditis_crp_mg_l }}
        AND abs(date_diff('day', t.collected_date, c.collected_date)) <= {{ s.myocarditis_lab_pair_days }}
    WHERE t.analyte = 'troponin' AND t.value > t.reference_high
    GROUP BY t.patient_id, t.collected_date, t.value, t.reference_high
),

rechallenges AS (
    SELECT
        e.patient_id,
        e.episode_start AS flag_date,
        max(ev.event_date) AS event_date,
        arg_max(ev.event, ev.event_date) AS event
    FROM episodes AS e
    INNER JOIN first_dose AS f ON f.patient_id = e.patient_id
    INNER JOIN contraindicating_events AS ev
        ON ev.patient_id = e.patient_id
        AND ev.event_date >= f.first_dose_date
        AND ev.event_date < e.episode_start
    GROUP BY e.patient_id, e.episode_start
),

-- SAF-DOSE: the first day of a high-dose period without anticonvulsant cover -----------------
high_dose AS (
    SELECT patient_id, period_start, period_end, daily_dose_mg
    FROM {{ ref('intermediate.clozapine_dose_periods') }}
    WHERE daily_dose_mg > {{ s.dose_without_anticonvulsant_mg }}
),

anticonvulsants AS (
    SELECT * FROM comedications WHERE {{ has_category('categories', s.anticonvulsant_category) }}
),

candidate_days AS (
    SELECT h.*, h.period_start AS day FROM high_dose AS h
    UNION ALL
    SELECT h.*, ac.end_date + 1 AS day
    FROM high_dose AS h
    INNER JOIN anticonvulsants AS ac
        ON ac.patient_id = h.patient_id
        AND ac.end_date + 1 BETWEEN h.period_start AND h.period_end
),

uncovered_high_dose AS (
    SELECT patient_id, period_start, daily_dose_mg, min(day) AS flag_date
    FROM candidate_days AS cd
    WHERE NOT EXISTS (
        SELECT 1
        FROM anticonvulsants AS ac
        WHERE ac.patient_id = cd.patient_id AND cd.day BETWEEN ac.start_date AND ac.end_date
    )
    GROUP BY patient_id, period_start, daily_dose_mg
),

-- CLZ-2: above the maximum daily dose ---------------------------------------------------------
above_maximum AS (
    SELECT patient_id, period_start, period_end, daily_dose_mg
    FROM {{ ref('intermediate.clozapine_dose_periods') }}
    WHERE daily_dose_mg > {{ cfg.clozapine.max_dose_mg }}
),

-- SAF-DDI ------------------------------------------------------------------------------------
interacting AS (
    SELECT
        cm.patient_id,
        e.episode_number,
        cm.generic_name,
        min(concat_ws(', '
        {%- for category in s.ddi_categories %},
            CASE WHEN {{ has_category('cm.categories', category) }} THEN '{{ category }}' END
        {%- endfor %}
        )) AS matched_categories,
        min(greatest(cm.start_date, e.episode_start)) AS flag_date
    FROM comedications AS cm
    INNER JOIN episodes AS e
        ON e.patient_id = cm.patient_id
        AND cm.start_date <= e.episode_end
        AND cm.end_date >= e.episode_start
    WHERE {% for category in s.ddi_categories %}{{ has_category('cm.categories', category) }}{{ ' OR ' if not loop.last }}{% endfor %}
    GROUP BY cm.patient_id, e.episode_number, cm.generic_name
),

-- SAF-PREG, SAF-LACT -------------------------------------------------------------------------
pregnancy_lactation AS (
    SELECT
        d.patient_id,
        d.group_id,
        e.episode_start,
        min(d.diagnosed_at) AS flag_date,
        arg_min(d.code, d.diagnosed_at) AS first_code,
        count(*) AS n_diagnoses
    FROM diagnoses AS d
    INNER JOIN episodes AS e
        ON e.patient_id = d.patient_id
        AND d.diagnosed_at BETWEEN e.episode_start AND e.episode_end
    WHERE d.group_id IN ('pregnancy', 'lactation')
    GROUP BY d.patient_id, d.group_id, e.episode_start
),

-- SAF-ANC-ACTION -----------------------------------------------------------------------------
anc_not_acted_on AS (
    SELECT a.*, e.episode_end, e.is_ongoing
    FROM anc AS a
    INNER JOIN episodes AS e
        ON e.patient_id = a.patient_id
        AND a.collected_date BETWEEN e.episode_start AND e.episode_end
    WHERE (a.anc_category = 'severe'
            OR (a.anc_category IN ('moderate', 'moderate_or_severe') AND NOT a.benign_ethnic_neutropenia))
        AND date_diff('day', a.collected_date, e.episode_end) > {{ s.anc_action_days }}
),

-- SAF-DISPENSE: the phase at the dispensing day sets how recent an ANC must be -------------
dispensings AS (
    SELECT
        d.patient_id,
        d.dispensed_date,
        d.days_supply,
        date_diff('day', sch.anchor_date, d.dispensed_date) AS treatment_day,
        -- the schedule whose baseline window has started by the dispensing, else the first
        row_number() OVER (
            PARTITION BY d.source_row
            ORDER BY sch.baseline_start <= d.dispensed_date DESC,
                CASE WHEN sch.baseline_start <= d.dispensed_date THEN sch.anchor_date END DESC,
                sch.anchor_date
        ) AS rn
    FROM {{ ref('staging.dispensings') }} AS d
    CROSS JOIN params
    INNER JOIN (
        SELECT *, anchor_date - {{ mon.baseline_anc_days_before }} AS baseline_start
        FROM {{ ref('intermediate.monitoring_schedules') }}
    ) AS sch ON sch.patient_id = d.patient_id
    WHERE d.is_clozapine AND d.dispensed_date <= params.as_of_date
),

dispensing_windows AS (
    SELECT
        patient_id,
        dispensed_date,
        days_supply,
        treatment_day,
        CASE
        {%- for p in profile if p.until_week is not none %}
            WHEN treatment_day <= {{ 7 * p.until_week }}
                THEN {{ s.dispense_anc_window_days.get(p.tolerance, p.every_days) }}
        {%- endfor %}
            ELSE {{ s.dispense_anc_window_days.get((profile | last).tolerance, (profile | last).every_days) }}
        END AS anc_window_days
    FROM dispensings
    WHERE rn = 1
),

dispensed_without_anc AS (
    SELECT dw.*
    FROM dispensing_windows AS dw
    WHERE NOT EXISTS (
        SELECT 1
        FROM labs AS l
        WHERE l.patient_id = dw.patient_id
            AND l.analyte = 'anc'
            AND l.collected_date BETWEEN dw.dispensed_date - dw.anc_window_days AND dw.dispensed_date
    )
)

SELECT patient_id, 'SAF-REC' AS flag_id, flag_date,
    'clozapine restarted ' || {{ day('flag_date') }} || ' after ' || event || ' on '
        || {{ day('event_date') }} || '; rechallenge is contraindicated' AS detail
FROM rechallenges
UNION ALL
SELECT patient_id, 'SAF-DOSE' AS flag_id, flag_date,
    'clozapine ' || {{ num('daily_dose_mg') }} || ' mg/day (more than {{ s.dose_without_anticonvulsant_mg }}) from '
        || {{ day('period_start') }} || ' without an anticonvulsant (valproate preferred) on '
        || {{ day('flag_date') }} AS detail
FROM uncovered_high_dose
UNION ALL
SELECT patient_id, 'SAF-DDI' AS flag_id, flag_date,
    generic_name || ' (' || matched_categories || ') co-prescribed with clozapine from '
        || {{ day('flag_date') }} AS detail
FROM interacting
UNION ALL
SELECT patient_id, CASE group_id WHEN 'pregnancy' THEN 'SAF-PREG' ELSE 'SAF-LACT' END AS flag_id, flag_date,
    group_id || ' diagnosis ' || first_code || ' on ' || {{ day('flag_date') }}
        || ' while on clozapine (episode from ' || {{ day('episode_start') }} || ')'
        || CASE WHEN n_diagnoses > 1
            THEN ', ' || CAST(n_diagnoses AS VARCHAR) || ' such diagnoses' ELSE '' END AS detail
FROM pregnancy_lactation
UNION ALL
SELECT patient_id, 'SAF-ANC-ACTION' AS flag_id, collected_date AS flag_date,
    replace(anc_category, '_', ' ') || ' ANC ' || coalesce(value_comparator, '') || {{ num('anc_per_ul') }}
        || '/uL on ' || {{ day('collected_date') }}
        || CASE WHEN benign_ethnic_neutropenia THEN ' (BEN)' ELSE '' END
        || ' but clozapine continued to ' || {{ day('episode_end') }}
        || CASE WHEN is_ongoing THEN ' (ongoing)' ELSE '' END
        || '; required: ' || required_action AS detail
FROM anc_not_acted_on
UNION ALL
SELECT patient_id, 'SAF-DISPENSE' AS flag_id, dispensed_date AS flag_date,
    'clozapine dispensed ' || {{ day('dispensed_date') }} || ' (treatment day '
        || CAST(treatment_day AS VARCHAR) || ') with no ANC in the '
        || CAST(anc_window_days AS VARCHAR) || ' days before' AS detail
FROM dispensed_without_anc
UNION ALL
SELECT patient_id, 'CLZ-2' AS flag_id, period_start AS flag_date,
    'clozapine ' || {{ num('daily_dose_mg') }} || ' mg/day from ' || {{ day('period_start') }}
        || ' to ' || {{ day('period_end') }} || ', above the {{ cfg.clozapine.max_dose_mg }} mg/day maximum (CLZ-2)'
        AS detail
FROM above_maximum
