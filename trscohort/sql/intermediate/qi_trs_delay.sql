{%- import 'qi_macros.sql' as q with context -%}
{%- set long = cfg.qi.trs_delay_long_days | int -%}
{%- set bands = cfg.qi.trs_delay_bands_days | map('int') | sort | list -%}
{%- set labels = [] -%}
{%- for upper in bands -%}
{%- do labels.append(('0' if loop.first else (bands[loop.index0 - 1] + 1) | string) ~ '-' ~ upper ~ ' days') -%}
{%- endfor -%}
{%- do labels.append('over ' ~ bands[-1] ~ ' days') -%}
-- QI-TRS-DELAY (definition: qi_trs_delay.definition.yml): days from the TRS date
-- (marts.patient_trs_status.trs_date) to the first clozapine dose (marts.patient_clozapine_status.
-- clozapine_start_date) of TRS patients started on clozapine on or after it; the numerator is a
-- delay of more than qi.trs_delay_long_days (lower is better), the distribution is in the
-- value's median and quartiles and in strata, one per band of qi.trs_delay_bands_days
-- ({{ labels | join(', ') }}), each with the same denominator. TRS patients with clozapine
-- before the TRS date, or with none, are excluded (the latter are QI-TRS-NOCLZ).
WITH judged AS (
    SELECT
        t.patient_id,
        t.trs_date,
        c.clozapine_start_date,
        date_diff('day', t.trs_date, c.clozapine_start_date) AS delay_days,
        CASE
            WHEN c.clozapine_start_date IS NULL
                THEN 'no clozapine up to the as-of date (counted by QI-TRS-NOCLZ)'
            WHEN c.clozapine_start_date < t.trs_date
                THEN 'clozapine started before the TRS date (TRS not documented at the start)'
        END AS exclusion
    FROM {{ ref('marts.patient_trs_status') }} AS t
    INNER JOIN {{ ref('marts.patient_clozapine_status') }} AS c ON c.patient_id = t.patient_id
    WHERE t.trs_status = 'trs'
),

banded AS (
    SELECT
        *,
        CASE
            {%- for upper in bands %}
            WHEN delay_days <= {{ upper }} THEN '{{ labels[loop.index0] }}'
            {%- endfor %}
            ELSE '{{ labels[-1] }}'
        END AS band
    FROM judged
),

strata AS (
    {{ q.strata(labels) }}
)

SELECT
    'QI-TRS-DELAY' AS indicator_id,
    st.stratum,
    b.patient_id,
    coalesce(b.clozapine_start_date, b.trs_date) AS index_date,
    b.exclusion IS NULL AS in_denominator,
    b.exclusion IS NULL AND CASE WHEN st.stratum = 'all' THEN b.delay_days > {{ long }}
                                 ELSE b.band = st.stratum END AS in_numerator,
    b.exclusion,
    CASE WHEN b.exclusion IS NULL THEN CAST(b.delay_days AS DOUBLE) END AS value,
    'TRS from ' || {{ q.day('b.trs_date') }} || '; '
        || CASE
            WHEN b.clozapine_start_date IS NULL THEN 'no clozapine up to the as-of date'
            ELSE 'clozapine from ' || {{ q.day('b.clozapine_start_date') }} || ', '
                || CAST(b.delay_days AS VARCHAR) || ' days after'
        END AS evidence
FROM banded AS b
CROSS JOIN strata AS st
