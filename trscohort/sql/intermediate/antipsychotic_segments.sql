-- What each patient takes, day by day, as segments: one row per patient, drug (generic) and
-- period over which the set of antipsychotic prescriptions active that day does not change.
-- Concurrent lines of the same drug add up to one daily dose (split doses, 300 mg + 450 mg
-- quetiapine = 750 mg/day, TRS-4); a line that overlaps the next line of the same drug by at most
-- trs.renewal_overlap_days is a renewal and is cut the day before it. n_antipsychotics counts the
-- different drugs taken that day (clozapine included): two or more is polypharmacy (TRS-2).
-- Only drugs with trs_relevant (reference.antipsychotics) take part. Set-based gaps and islands:
-- +1/-1 events per line, running sums per drug over every day on which the patient's set changes.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

rx AS (
    SELECT *
    FROM {{ ref('intermediate.antipsychotic_prescriptions') }}
    WHERE trs_relevant AND NOT is_clozapine AND start_date <= end_date
),

-- The next (later) start of the same drug, for the renewal rule.
next_starts AS (
    SELECT
        patient_id,
        generic_name,
        start_date,
        lead(start_date) OVER (PARTITION BY patient_id, generic_name ORDER BY start_date) AS next_start
    FROM (SELECT DISTINCT patient_id, generic_name, start_date FROM rx) AS starts
),

-- Clozapine takes part as its exposure episodes (intermediate.clozapine_exposure: gaps of up to
-- monitoring.interruption_gap_days bridged), without a dose: only its presence matters here, and
-- its titration steps would split every other drug's segments for nothing.
lines AS (
    SELECT
        rx.patient_id, rx.generic_name, rx.drug_class, rx.is_clozapine, rx.is_lai, rx.start_date,
        rx.daily_dose_mg, rx.cpz_equivalent_mg, rx.label_mid_mg,
        CASE
            WHEN ns.next_start <= rx.end_date
                AND date_diff('day', ns.next_start, rx.end_date) + 1 <= {{ cfg.trs.renewal_overlap_days }}
                THEN ns.next_start - 1
            ELSE rx.end_date
        END AS line_end
    FROM rx
    INNER JOIN next_starts AS ns
        ON ns.patient_id = rx.patient_id
        AND ns.generic_name = rx.generic_name
        AND ns.start_date = rx.start_date
    UNION ALL
    SELECT
        patient_id, 'clozapine' AS generic_name, 'SGA' AS drug_class, TRUE AS is_clozapine,
        FALSE AS is_lai, episode_start AS start_date, CAST(NULL AS DOUBLE) AS daily_dose_mg,
        CAST(NULL AS DOUBLE) AS cpz_equivalent_mg, CAST(NULL AS DOUBLE) AS label_mid_mg,
        episode_end AS line_end
    FROM {{ ref('intermediate.clozapine_exposure') }}
),

events AS (
    SELECT
        patient_id,
        generic_name,
        start_date AS day,
        1 AS d_lines,
        1 AS d_starts,
        coalesce(daily_dose_mg, 0) AS d_dose,
        CASE WHEN daily_dose_mg IS NULL THEN 1 ELSE 0 END AS d_no_dose,
        coalesce(cpz_equivalent_mg, 0) AS d_cpz,
        CASE WHEN cpz_equivalent_mg IS NULL THEN 1 ELSE 0 END AS d_no_cpz,
        CASE WHEN is_lai THEN 1 ELSE 0 END AS d_lai
    FROM lines
    UNION ALL
    SELECT
        patient_id,
        generic_name,
        line_end + 1 AS day,
        -1 AS d_lines,
        0 AS d_starts,
        -coalesce(daily_dose_mg, 0) AS d_dose,
        CASE WHEN daily_dose_mg IS NULL THEN -1 ELSE 0 END AS d_no_dose,
        -coalesce(cpz_equivalent_mg, 0) AS d_cpz,
        CASE WHEN cpz_equivalent_mg IS NULL THEN -1 ELSE 0 END AS d_no_cpz,
        CASE WHEN is_lai THEN -1 ELSE 0 END AS d_lai
    FROM lines
),

per_day AS (
    SELECT
        patient_id,
        generic_name,
        day,
        sum(d_lines) AS d_lines,
        sum(d_starts) AS d_starts,
        sum(d_dose) AS d_dose,
        sum(d_no_dose) AS d_no_dose,
        sum(d_cpz) AS d_cpz,
        sum(d_no_cpz) AS d_no_cpz,
        sum(d_lai) AS d_lai
    FROM events
    GROUP BY patient_id, generic_name, day
),

drugs AS (
    SELECT
        patient_id,
        generic_name,
        any_value(drug_class) AS drug_class,
        bool_or(is_clozapine) AS is_clozapine,
        max(label_mid_mg) AS label_mid_mg
    FROM lines
    GROUP BY patient_id, generic_name
),

-- Every day on which any of the patient's drugs changes, for each of the patient's drugs.
grid AS (
    SELECT b.patient_id, b.day, dr.generic_name
    FROM (SELECT DISTINCT patient_id, day FROM per_day) AS b
    INNER JOIN drugs AS dr ON dr.patient_id = b.patient_id
),

state AS (
    SELECT
        g.patient_id,
        g.generic_name,
        g.day AS segment_start,
        lead(g.day) OVER w - 1 AS segment_end,
        coalesce(pd.d_starts, 0) AS n_line_starts,
        sum(coalesce(pd.d_lines, 0)) OVER running AS n_lines,
        round(sum(coalesce(pd.d_dose, 0)) OVER running, 6) AS dose_sum,
        sum(coalesce(pd.d_no_dose, 0)) OVER running AS n_without_dose,
        round(sum(coalesce(pd.d_cpz, 0)) OVER running, 6) AS cpz_sum,
        sum(coalesce(pd.d_no_cpz, 0)) OVER running AS n_without_cpz,
        sum(coalesce(pd.d_lai, 0)) OVER running AS n_lai
    FROM grid AS g
    LEFT JOIN per_day AS pd
        ON pd.patient_id = g.patient_id AND pd.generic_name = g.generic_name AND pd.day = g.day
    WINDOW
        w AS (PARTITION BY g.patient_id, g.generic_name ORDER BY g.day),
        running AS (
            PARTITION BY g.patient_id, g.generic_name ORDER BY g.day ROWS UNBOUNDED PRECEDING
        )
),

active AS (
    SELECT *, count(*) OVER (PARTITION BY patient_id, segment_start) AS n_antipsychotics
    FROM state
    WHERE n_lines > 0
)

SELECT
    a.patient_id,
    a.generic_name,
    dr.drug_class,
    dr.is_clozapine,
    a.segment_start,
    a.segment_end,
    date_diff('day', a.segment_start, a.segment_end) + 1 AS days,
    CAST(a.n_lines AS INTEGER) AS n_lines,
    CAST(a.n_line_starts AS INTEGER) AS n_line_starts,
    CASE WHEN a.n_without_dose = 0 THEN a.dose_sum END AS daily_dose_mg,
    CASE WHEN a.n_without_cpz = 0 THEN a.cpz_sum END AS cpz_equivalent_mg,
    dr.label_mid_mg,
    a.n_lai > 0 AS any_lai,
    a.n_lai = a.n_lines AS all_lai,
    CAST(a.n_antipsychotics AS INTEGER) AS n_antipsychotics,
    a.n_antipsychotics >= 2 AS is_polypharmacy,
    a.segment_end >= params.as_of_date AS active_at_as_of
FROM active AS a
CROSS JOIN params
INNER JOIN drugs AS dr ON dr.patient_id = a.patient_id AND dr.generic_name = a.generic_name
