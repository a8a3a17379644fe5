{%- set z = qi.z -%}
{%- macro text(value) -%} '{{ value | replace("'", "''") }}' {%- endmacro -%}
-- Quality-improvement indicators (issue 18): one row per indicator, stratum, site and month of
-- marts.qi_indicator_patients, plus all-sites rows (site NULL), all-months rows (month NULL) and
-- both together; every indicator has its all-sites, all-months 'all' row even without a unit.
-- rate = numerator / denominator with the Wilson score interval at qi.ci_level (z = {{ '%.6f' | format(z) }}):
--   centre = (p + z^2/2n) / (1 + z^2/n), half = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2)
-- (statsmodels proportion_confint(method='wilson')). The value's median and quartiles summarise
-- the indicator's value column (days, mg/day, % of the BNF maximum) over the denominator.
-- Counts here are not suppressed: the dashboards apply publication.small_count_max.
WITH patients AS (
    SELECT *, coalesce(NULLIF(TRIM(site), ''), '(no site)') AS site_key
    FROM {{ ref('marts.qi_indicator_patients') }}
),

definitions AS (
    SELECT * FROM (VALUES
        {%- for d in qi.definitions %}
        ({{ text(d.id) }}, {{ text(d.title) }}, {{ text(d.version) }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) AS v(indicator_id, indicator_title, definition_version)
),

counted AS (
    SELECT
        indicator_id,
        stratum,
        site_key,
        month,
        grouping(site_key) = 1 AS all_sites,
        grouping(month) = 1 AS all_months,
        count(*) FILTER (WHERE in_denominator) AS denominator,
        count(*) FILTER (WHERE in_numerator) AS numerator,
        count(*) FILTER (WHERE exclusion IS NOT NULL) AS excluded,
        count(CASE WHEN in_denominator THEN value END) AS n_values,
        quantile_cont(CASE WHEN in_denominator THEN value END, 0.25) AS value_q1,
        quantile_cont(CASE WHEN in_denominator THEN value END, 0.5) AS value_median,
        quantile_cont(CASE WHEN in_denominator THEN value END, 0.75) AS value_q3
    FROM patients
    GROUP BY GROUPING SETS (
        (indicator_id, stratum, site_key, month),
        (indicator_id, stratum, month),
        (indicator_id, stratum, site_key),
        (indicator_id, stratum)
    )
),

with_empty AS (
    SELECT * FROM counted
    UNION ALL
    SELECT
        d.indicator_id, 'all' AS stratum, CAST(NULL AS VARCHAR) AS site_key, CAST(NULL AS DATE) AS month,
        TRUE AS all_sites, TRUE AS all_months, 0 AS denominator, 0 AS numerator, 0 AS excluded,
        0 AS n_values, CAST(NULL AS DOUBLE) AS value_q1, CAST(NULL AS DOUBLE) AS value_median,
        CAST(NULL AS DOUBLE) AS value_q3
    FROM definitions AS d
    WHERE d.indicator_id NOT IN (SELECT indicator_id FROM counted)
),

proportions AS (
    SELECT
        *,
        CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS p,
        CASE WHEN denominator > 0 THEN {{ z * z }} / denominator END AS z2n
    FROM with_empty
),

wilson AS (
    SELECT
        *,
        (p + z2n / 2) / (1 + z2n) AS centre,
        {{ z }} / (1 + z2n) * sqrt(p * (1 - p) / denominator + z2n / (4 * denominator)) AS half
    FROM proportions
)

SELECT
    pr.indicator_id,
    d.indicator_title,
    pr.stratum,
    CASE WHEN pr.all_sites THEN NULL ELSE pr.site_key END AS site,
    pr.all_sites,
    pr.month,
    pr.all_months,
    CAST(pr.numerator AS BIGINT) AS numerator,
    CAST(pr.denominator AS BIGINT) AS denominator,
    CAST(pr.excluded AS BIGINT) AS excluded,
    pr.p AS rate,
    -- clamped to [0, p] and [p, 1] against floating-point residue (p = 0 gives a lower bound of 0)
    CASE WHEN pr.denominator > 0 THEN greatest(0.0, least(pr.p, pr.centre - pr.half)) END AS ci_low,
    CASE WHEN pr.denominator > 0 THEN least(1.0, greatest(pr.p, pr.centre + pr.half)) END AS ci_high,
    CAST(pr.n_values AS BIGINT) AS n_values,
    pr.value_median,
    pr.value_q1,
    pr.value_q3,
    d.definition_version
FROM wilson AS pr
INNER JOIN definitions AS d ON d.indicator_id = pr.indicator_id
