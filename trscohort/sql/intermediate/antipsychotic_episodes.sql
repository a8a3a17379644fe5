{%- set count_poly = cfg.trs.count_polypharmacy_trials -%}
-- TRS-2: an antipsychotic trial is a period of ONE non-clozapine antipsychotic (TRRIP). Built
-- from intermediate.antipsychotic_segments: days on the drug alone
{%- if count_poly %} or with others (trs.count_polypharmacy_trials: true){% endif %}
-- merge when the gap between them is at most trs.episode_merge_gap_days
{%- if count_poly %} and no other antipsychotic (clozapine included) was started inside it
{%- else %} and no other antipsychotic (clozapine included) was taken during it; a day on two or
-- more antipsychotics ends the trial (polypharmacy is not two trials: see
-- intermediate.antipsychotic_polypharmacy){% endif %}.
WITH segments AS (
    SELECT * FROM {{ ref('intermediate.antipsychotic_segments') }}
),

candidate AS (
    SELECT *
    FROM segments
    WHERE NOT is_clozapine {% if not count_poly %}AND NOT is_polypharmacy{% endif %}
),

ordered AS (
    SELECT
        *,
        max(segment_end) OVER (
            PARTITION BY patient_id, generic_name
            ORDER BY segment_start
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS previous_end
    FROM candidate
),

-- Gaps that another antipsychotic breaks.
blocked AS (
    SELECT DISTINCT o.patient_id, o.generic_name, o.segment_start
    FROM ordered AS o
    INNER JOIN segments AS other
        ON other.patient_id = o.patient_id
        AND other.generic_name <> o.generic_name
    {%- if count_poly %}
        -- a switch: the other drug started (was not taken the day before) inside the gap
        AND other.segment_start > o.previous_end
        AND other.segment_start < o.segment_start
        AND NOT EXISTS (
            SELECT 1
            FROM segments AS before
            WHERE before.patient_id = other.patient_id
                AND before.generic_name = other.generic_name
                AND before.segment_end = other.segment_start - 1
        )
    {%- else %}
        -- any day of the gap on another drug
        AND other.segment_start < o.segment_start
        AND other.segment_end > o.previous_end
    {%- endif %}
    WHERE o.segment_start > o.previous_end + 1
),

numbered AS (
    SELECT
        o.*,
        sum(CASE
            WHEN o.previous_end IS NULL THEN 1
            WHEN date_diff('day', o.previous_end, o.segment_start) - 1
                 > {{ cfg.trs.episode_merge_gap_days }} THEN 1
            WHEN b.segment_start IS NOT NULL THEN 1
            ELSE 0
        END) OVER (
            PARTITION BY o.patient_id, o.generic_name
            ORDER BY o.segment_start
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS episode_number
    FROM ordered AS o
    LEFT JOIN blocked AS b
        ON b.patient_id = o.patient_id
        AND b.generic_name = o.generic_name
        AND b.segment_start = o.segment_start
),

episodes AS (
    SELECT
        patient_id,
        generic_name,
        episode_number,
        any_value(drug_class) AS drug_class,
        min(segment_start) AS start_date,
        max(segment_end) AS end_date,
        bool_or(active_at_as_of) AS ongoing_at_as_of,
        sum(n_line_starts) AS n_prescriptions,
        -- Means rounded to 6 decimals, as the doses are: a sum of binary doubles depends on its
        -- order (parallel at scale) and reads an exact mean of 600 as 599.9999999999999 (TRS-4).
        round(
            sum(daily_dose_mg * days)
                / nullif(sum(CASE WHEN daily_dose_mg IS NOT NULL THEN days END), 0),
            6
        ) AS mean_daily_dose_mg,
        max(daily_dose_mg) AS max_daily_dose_mg,
        round(
            sum(cpz_equivalent_mg * days)
                / nullif(sum(CASE WHEN cpz_equivalent_mg IS NOT NULL THEN days END), 0),
            6
        ) AS mean_cpz_equivalent_mg,
        max(label_mid_mg) AS label_mid_mg,
        CASE WHEN bool_and(all_lai) THEN 'lai' WHEN bool_or(any_lai) THEN 'mixed' ELSE 'oral' END AS route,
        sum(days) FILTER (WHERE is_polypharmacy) AS polypharmacy_days
    FROM numbered
    GROUP BY patient_id, generic_name, episode_number
),

-- The CPZ method(s) of the prescriptions taken during the episode.
methods AS (
    SELECT e.patient_id, e.generic_name, e.episode_number,
           string_agg(DISTINCT rx.cpz_method, ',' ORDER BY rx.cpz_method) AS cpz_method
    FROM episodes AS e
    INNER JOIN {{ ref('intermediate.antipsychotic_prescriptions') }} AS rx
        ON rx.patient_id = e.patient_id
        AND rx.generic_name = e.generic_name
        AND rx.start_date <= e.end_date
        AND rx.end_date >= e.start_date
    GROUP BY e.patient_id, e.generic_name, e.episode_number
)

SELECT
    e.patient_id || ':' || e.generic_name || ':' || CAST(e.episode_number AS VARCHAR) AS episode_id,
    e.patient_id,
    e.generic_name,
    CAST(e.episode_number AS INTEGER) AS episode_number,
    e.drug_class,
    e.start_date,
    e.end_date,
    date_diff('day', e.start_date, e.end_date) + 1 AS days,
    e.ongoing_at_as_of,
    CAST(e.n_prescriptions AS INTEGER) AS n_prescriptions,
    e.mean_daily_dose_mg,
    e.max_daily_dose_mg,
    e.mean_cpz_equivalent_mg,
    e.label_mid_mg,
    e.route,
    CAST(coalesce(e.polypharmacy_days, 0) AS INTEGER) AS polypharmacy_days,
    m.cpz_method
FROM episodes AS e
LEFT JOIN methods AS m
    ON m.patient_id = e.patient_id
    AND m.generic_name = e.generic_name
    AND m.episode_number = e.episode_number
