{%- import 'macros.sql' as m with context -%}
{%- set ing = cfg.ingest -%}
-- Prescriptions, typed, with the drug name mapped to a concept (site vocabulary, then the
-- reference lists). A name that matches nothing is staged as an "other drug" (no concept, not
-- an antipsychotic) and listed in audit.unmapped_values; it is not quarantined.
-- Dose: daily_dose_mg, or dose_mg per administration every interval_days (long-acting
-- injectables: the daily dose is dose_mg / interval_days, TRS-4). A long-acting injectable whose
-- daily dose is above its largest labelled daily equivalent (reference.lai_dosing.max_daily_mg x
-- ingest.lai_max_daily_multiple) is quarantined: it is almost always a per-injection dose
-- written as daily_dose_mg, which would otherwise become thousands of mg CPZ-eq.
WITH typed AS (
    SELECT
        src.*,
        {{ m.blank('patient_id') }} AS p_patient_id,
        {{ m.blank('drug') }} AS p_drug,
        {{ m.norm_text('drug') }} AS drug_key,
        {{ m.parse_date('start_date') }} AS p_start_date,
        {{ m.parse_date('end_date') }} AS p_end_date,
        {{ m.parse_number('daily_dose_mg') }} AS p_daily_dose_mg,
        {{ m.normalise_route('route') }} AS p_route,
        {{ m.blank('prescription_id') }} AS p_prescription_id,
        {{ m.parse_number('dose_mg') }} AS p_dose_mg,
        {{ m.parse_number('interval_days') }} AS p_interval_days
    FROM raw.prescriptions AS src
),

{{ m.resolve_drug('typed', raw='raw.prescriptions') }},

dosed AS (
    SELECT
        w.*,
        CASE WHEN w.p_interval_days > 0 THEN w.p_dose_mg / w.p_interval_days END AS derived_daily_mg,
        coalesce(w.p_daily_dose_mg,
                 CASE WHEN w.p_interval_days > 0 THEN w.p_dose_mg / w.p_interval_days END) AS final_daily_mg,
        l.max_daily_mg AS lai_max_daily_mg,
        l.max_dose_per_injection_mg AS lai_max_dose_mg
    FROM with_drug AS w
    LEFT JOIN reference.lai_dosing AS l ON l.concept_id = w.d_concept_id AND w.d_is_lai
)

SELECT
    _row,
    p_prescription_id AS prescription_id,
    p_patient_id AS patient_id,
    p_drug AS drug,
    d_concept_id AS drug_concept_id,
    d_generic_name AS generic_name,
    d_drug_class AS drug_class,
    coalesce(d_is_antipsychotic, FALSE) AS is_antipsychotic,
    coalesce(d_is_clozapine, FALSE) AS is_clozapine,
    coalesce(d_is_lai, FALSE) AS is_lai,
    drug_mapped_by AS mapped_by,
    p_start_date AS start_date,
    p_end_date AS end_date,
    final_daily_mg AS daily_dose_mg,
    p_dose_mg AS dose_mg,
    p_interval_days AS interval_days,
    CASE WHEN p_daily_dose_mg IS NOT NULL THEN 'daily_dose_mg'
         WHEN derived_daily_mg IS NOT NULL THEN 'dose_mg / interval_days' END AS dose_basis,
    coalesce(p_route, CASE WHEN d_is_lai THEN 'lai' ELSE 'oral' END) AS route,
    {{ m.extras(m.drug_helper_columns + ['derived_daily_mg', 'final_daily_mg', 'lai_max_daily_mg', 'lai_max_dose_mg']) }},
    {{ m.collect([
        m.patient_reasons('start_date', 'p_start_date'),
        m.drug_reasons(),
        m.require('start_date'),
        m.check_date('start_date', 'p_start_date'),
        m.check_date('end_date', 'p_end_date'),
        m.reason('p_end_date < p_start_date', "'end_date before start_date'"),
        m.check_number('daily_dose_mg', 'p_daily_dose_mg'),
        m.reason('p_daily_dose_mg <= 0', "'daily_dose_mg not positive: ' || CAST(p_daily_dose_mg AS VARCHAR)"),
        m.check_number('dose_mg', 'p_dose_mg'),
        m.reason('p_dose_mg <= 0', "'dose_mg not positive: ' || CAST(p_dose_mg AS VARCHAR)"),
        m.check_number('interval_days', 'p_interval_days'),
        m.reason('p_interval_days <= 0 OR p_interval_days > ' ~ ing.max_interval_days,
                 "'interval_days not in 1..." ~ ing.max_interval_days ~ ": ' || " ~ m.fmt_num('p_interval_days')),
        m.reason('p_dose_mg > 0 AND p_interval_days IS NULL AND p_daily_dose_mg IS NULL',
                 "'dose_mg without interval_days: the daily dose cannot be derived; add interval_days (days between doses) or daily_dose_mg'"),
        m.reason('p_daily_dose_mg > 0 AND derived_daily_mg > 0 AND abs(p_daily_dose_mg - derived_daily_mg) > derived_daily_mg * ' ~ ing.dose_agreement_tolerance_pct ~ ' / 100',
                 "'daily_dose_mg ' || " ~ m.fmt_num('p_daily_dose_mg') ~ " || ' disagrees with dose_mg / interval_days = ' || CAST(round(derived_daily_mg, 2) AS VARCHAR) || '; give one of them, or make them agree'"),
        m.reason('final_daily_mg > lai_max_daily_mg * ' ~ ing.lai_max_daily_multiple,
                 "'daily dose ' || " ~ m.fmt_num('final_daily_mg') ~ " || ' mg/day is implausible for the long-acting injectable ' || d_concept_id || ' (at most ' || CAST(round(lai_max_daily_mg * " ~ ing.lai_max_daily_multiple ~ ", 1) AS VARCHAR) || ' mg/day by its label): it looks like a per-injection dose in daily_dose_mg; give dose_mg and interval_days instead (or daily_dose_mg = dose / interval)'"),
        m.reason('p_dose_mg > lai_max_dose_mg * ' ~ ing.lai_max_daily_multiple,
                 "'dose_mg ' || " ~ m.fmt_num('p_dose_mg') ~ " || ' is above the largest labelled injection of ' || d_concept_id || ' (' || " ~ m.fmt_num('lai_max_dose_mg') ~ " || ' mg)'"),
    ] | join(',\n        ')) }} AS _reason
FROM dosed
