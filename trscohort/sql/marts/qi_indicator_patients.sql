-- Quality-improvement indicators (issue 18), patient level: which patients (units) are in each
-- indicator's numerator and denominator, with the evidence. FOR INTERNAL REVIEW ONLY: it holds
-- patient identifiers and dates and is never published (the dashboards read marts.qi_indicators).
-- One row per indicator, stratum and unit, from the intermediate.qi_* model each definition
-- (trscohort/sql/intermediate/qi_*.definition.yml) names; month = the month of index_date.
WITH units AS (
    {%- for d in qi.definitions %}
    SELECT indicator_id, stratum, patient_id, index_date, in_denominator, in_numerator, exclusion,
        value, evidence
    FROM {{ ref(d.model) }}
    {{- '\n    UNION ALL' if not loop.last }}
    {%- endfor %}
),

definitions AS (
    SELECT * FROM (VALUES
        {%- for d in qi.definitions %}
        ('{{ d.id }}', '{{ d.version }}'){{ ',' if not loop.last }}
        {%- endfor %}
    ) AS v(indicator_id, definition_version)
)

SELECT
    u.indicator_id,
    u.stratum,
    u.patient_id,
    pt.site,
    u.index_date,
    CAST(date_trunc('month', u.index_date) AS DATE) AS month,
    u.in_denominator,
    u.in_numerator AND u.in_denominator AS in_numerator,
    u.exclusion,
    u.value,
    u.evidence,
    d.definition_version
FROM units AS u
INNER JOIN definitions AS d ON d.indicator_id = u.indicator_id
LEFT JOIN {{ ref('staging.patients') }} AS pt ON pt.patient_id = u.patient_id
