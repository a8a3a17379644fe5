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
),

-- Months are counted as integers (year * 12 + month - 1) rather than with INTERVAL arithmetic, and
-- the series comes from unnest(range()): both read the same in DuckDB and on Spark (docs/spark.md).
months_back AS (
    SELECT unnest(range(0, {{ cfg.qi.census_months | int }})) AS i
)

SELECT
    last_day(make_date(
        CAST((year(l.last_census_day) * 12 + month(l.last_census_day) - 1 - r.i) // 12 AS INTEGER),
        CAST((year(l.last_census_day) * 12 + month(l.last_census_day) - 1 - r.i) % 12 + 1 AS INTEGER),
        1)) AS census_day,
    CAST(r.i AS INTEGER) + 1 AS months_before_as_of
FROM latest AS l
CROSS JOIN months_back AS r
