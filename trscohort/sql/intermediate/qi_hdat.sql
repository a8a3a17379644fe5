{%- import 'macros.sql' as m with context -%}
{%- import 'qi_macros.sql' as q with context -%}
{%- set high = cfg.qi.high_dose_pct -%}
-- QI-HDAT (definition: qi_hdat.definition.yml): high-dose antipsychotic therapy as POMH-UK and
-- the Royal College of Psychiatrists (CR190) define it: on a census day (intermediate.
-- qi_census_days), the sum over every antipsychotic taken of its daily dose as a percentage of
-- its BNF maximum (reference/antipsychotic_max_doses.csv; an LAI's maximum per day = maximum
-- dose / interval) above qi.high_dose_pct (100 % is not high dose). Clozapine counts, at its
-- prescribed dose (intermediate.clozapine_dose_periods). Concurrent lines of one drug add up
-- (split doses); a line overlapping the next line of the same drug by at most
-- trs.renewal_overlap_days is a renewal, cut the day before it (as antipsychotic_segments).
-- A drug without a maximum in the reference, or taken without a recorded dose (clozapine known
-- only from dispensings), leaves the total unknown: the patient-day is excluded unless the known
-- part alone is already above the threshold. One row per patient and census day.
WITH census AS (
    SELECT census_day FROM {{ ref('intermediate.qi_census_days') }}
),

rx AS (
    SELECT *
    FROM {{ ref('intermediate.antipsychotic_prescriptions') }}
    WHERE trs_relevant AND NOT is_clozapine AND start_date <= end_date
),

next_starts AS (
    SELECT
        patient_id,
        drug_concept_id,
        start_date,
        lead(start_date) OVER (PARTITION BY patient_id, drug_concept_id ORDER BY start_date) AS next_start
    FROM (SELECT DISTINCT patient_id, drug_concept_id, start_date FROM rx) AS starts
),

dose_periods AS (
    SELECT * FROM {{ ref('intermediate.clozapine_dose_periods') }}
),

lines AS (
    SELECT
        rx.patient_id,
        rx.drug_concept_id AS concept_id,
        rx.generic_name || CASE WHEN rx.is_lai THEN ' (long-acting)' ELSE '' END AS drug,
        rx.daily_dose_mg,
        rx.start_date,
        CASE
            WHEN ns.next_start <= rx.end_date
                AND date_diff('day', ns.next_start, rx.end_date) + 1 <= {{ cfg.trs.renewal_overlap_days }}
                THEN ns.next_start - 1
            ELSE rx.end_date
        END AS line_end
    FROM rx
    INNER JOIN next_starts AS ns
        ON ns.patient_id = rx.patient_id
        AND ns.drug_concept_id = rx.drug_concept_id
        AND ns.start_date = rx.start_date
    UNION ALL
    SELECT patient_id, 'clozapine' AS concept_id, 'clozapine' AS drug, daily_dose_mg,
        period_start AS start_date, period_end AS line_end
    FROM dose_periods
    UNION ALL
    SELECT patient_id, 'clozapine' AS concept_id, 'clozapine (dispensed)' AS drug,
        CAST(NULL AS DOUBLE) AS daily_dose_mg, episode_start AS start_date, episode_end AS line_end
    FROM {{ ref('intermediate.clozapine_exposure') }}
    WHERE patient_id NOT IN (SELECT patient_id FROM dose_periods)
),

active AS (
    SELECT
        l.patient_id,
        c.census_day,
        l.drug,
        l.daily_dose_mg,
        -- multiply before dividing: 300 mg / 28 days of haloperidol decanoate is exactly 100 %
        round(l.daily_dose_mg * mx.per_days * 100 / mx.max_dose_mg, 6) AS pct_of_max
    FROM lines AS l
    INNER JOIN census AS c ON c.census_day BETWEEN l.start_date AND l.line_end
    INNER JOIN {{ ref('staging.patients') }} AS pt
        ON pt.patient_id = l.patient_id AND (pt.death_date IS NULL OR c.census_day <= pt.death_date)
    LEFT JOIN {{ ref('reference.antipsychotic_max_doses') }} AS mx ON mx.concept_id = l.concept_id
),

totals AS (
    SELECT
        patient_id,
        census_day,
        round(coalesce(sum(pct_of_max), 0), 6) AS known_pct,
        count(*) FILTER (WHERE pct_of_max IS NULL) AS n_unknown,
        -- list_sort + array_to_string: string_agg(... ORDER BY) costs twice the model's time
        array_to_string(list_sort(list(
            drug || ' ' || coalesce({{ m.fmt_num('daily_dose_mg') }} || ' mg/day', '(no dose)')
                || coalesce(' = ' || {{ m.fmt_num('pct_of_max') }} || ' %', '')
        )), ' + ') AS parts,
        array_to_string(list_sort(list(
            drug || CASE WHEN daily_dose_mg IS NULL THEN ' (no dose recorded)'
                         ELSE ' (no BNF maximum in the reference)' END
        ) FILTER (WHERE pct_of_max IS NULL)), ', ') AS unknown
    FROM active
    GROUP BY patient_id, census_day
)

SELECT
    'QI-HDAT' AS indicator_id,
    'all' AS stratum,
    patient_id,
    census_day AS index_date,
    n_unknown = 0 OR known_pct > {{ high }} AS in_denominator,
    known_pct > {{ high }} AS in_numerator,
    CASE WHEN NOT (n_unknown = 0 OR known_pct > {{ high }})
         THEN 'total not known: ' || unknown END AS exclusion,
    CASE WHEN n_unknown = 0 OR known_pct > {{ high }} THEN CAST(known_pct AS DOUBLE) END AS value,
    'census ' || {{ q.day('census_day') }} || ': ' || parts || '; total '
        || CASE WHEN n_unknown > 0 THEN 'at least ' ELSE '' END
        || {{ m.fmt_num('known_pct') }} || ' % of the BNF maximum' AS evidence
FROM totals
