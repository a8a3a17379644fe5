-- QI-POLY, QI-HDAT census days: the last day of each of the latest qi.census_months complete
-- calendar months up to the as-of date (the as-of date itself when it is a month's last day).
-- POMH-UK's prescribing audits are point-prevalence censuses; a month-end census gives one
-- comparable point per month.
WITH params AS (
    SELECT as_of_date FROM {{ ref('audit.run_parameters') }}
),

latest AS (
    SELECT
        CASE WHEN last_day(as_of_date) = as_of_date THEN as_of_date
             ELSE CAST(date_trunc('month', as_of_date) AS DATE) - 1 END AS last_census_day
    FROM params
)

SELECT
    CAST(last_day(latest.last_census_day - INTERVAL (r.i) MONTH) AS DATE) AS census_day,
    CAST(r.i AS INTEGER) + 1 AS months_before_as_of
FROM latest
CROSS JOIN range(0, {{ cfg.qi.census_months | int }}) AS r(i)
