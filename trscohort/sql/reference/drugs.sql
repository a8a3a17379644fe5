{#- TRS-4: how each method turns a daily dose into chlorpromazine equivalents, from the source
    value stored unrounded in reference/antipsychotics.csv:
      CPZ-eq mg/day = daily dose x numerator / denominator
      gardner2010  median dose == 600 mg/day CPZ (LAI: median mg per interval):
                   numerator 600 x interval days (1 for oral), denominator the median
      leucht2016   dose == 100 mg/day CPZ = WHO DDD / 3 (the paper's method), for drugs in its table:
                   numerator 300 (the CPZ DDD), denominator the DDD
      leucht2020   dose == 1 mg/day olanzapine, 1 mg olanzapine == 30 mg CPZ (as chlorpromazineR):
                   numerator 30, denominator the L20 dose
      who_ddd      stand-in where no table has the drug: DDD / 3 as in L16 (derived)
    Multiplying before dividing keeps exact equivalents exact (700 mg amisulpride = 600). -#}
{%- set num = {
    'gardner2010': '600 * coalesce(TRY_CAST(g10_interval_days AS DOUBLE), 1)',
    'leucht2016': "CASE WHEN CAST(in_leucht2016 AS VARCHAR) = 'true' THEN 300 END",
    'leucht2020': '30',
    'who_ddd': '300',
} -%}
{%- set den = {
    'gardner2010': 'TRY_CAST(g10_median_mg AS DOUBLE)',
    'leucht2016': "CASE WHEN CAST(in_leucht2016 AS VARCHAR) = 'true' THEN TRY_CAST(who_ddd_mg AS DOUBLE) END",
    'leucht2020': 'TRY_CAST(l20_olz_eq_mg AS DOUBLE)',
    'who_ddd': 'TRY_CAST(who_ddd_mg AS DOUBLE)',
} -%}
-- One row per drug concept (antipsychotics and co-medications). The CPZ factor comes from the
-- first method in config `ingest.cpz_methods` that has a value for the drug (TRS-4); a drug with
-- none keeps its label dose range for the TRS-4 fallback (label_mid_mg).
WITH antipsychotics AS (
    SELECT
        *,
        CASE {% for m in cpz_methods %}WHEN {{ num[m] }} IS NOT NULL AND {{ den[m] }} > 0 THEN '{{ m }}' {% endfor %}END
            AS cpz_method
    FROM reference.antipsychotics
),

factors AS (
    SELECT
        *,
        CASE cpz_method {% for m in cpz_methods %}WHEN '{{ m }}' THEN {{ num[m] }} {% endfor %}END
            AS cpz_numerator_mg,
        CASE cpz_method {% for m in cpz_methods %}WHEN '{{ m }}' THEN {{ den[m] }} {% endfor %}END
            AS cpz_denominator_mg
    FROM antipsychotics
)

SELECT
    concept_id,
    generic_name,
    -- One long-acting form per generic is the default one a route 'lai' maps to (staging).
    CASE WHEN factors.formulation = 'lai' AND CAST(default_lai AS VARCHAR) = 'false' THEN 'lai_other_ester'
         ELSE factors.formulation END AS formulation,
    atc_code,
    drug_class,
    TRUE AS is_antipsychotic,
    CAST(is_clozapine AS BOOLEAN) AS is_clozapine,
    factors.formulation = 'lai' AS is_lai,
    CAST(trs_relevant AS VARCHAR) = 'true' AS trs_relevant,
    CAST(NULL AS VARCHAR) AS categories,
    cpz_numerator_mg,
    cpz_denominator_mg,
    cpz_denominator_mg * 100 / cpz_numerator_mg AS cpz_eq100_mg,
    cpz_method,
    (TRY_CAST(label_min_mg AS DOUBLE) + TRY_CAST(label_max_mg AS DOUBLE)) / 2 AS label_mid_mg,
    NULLIF(TRIM(CAST(level_analyte AS VARCHAR)), '') AS level_analyte,
    TRY_CAST(level_min_ng_ml AS DOUBLE) AS level_min_ng_ml
FROM factors
UNION ALL
SELECT
    concept_id,
    generic_name,
    'oral' AS formulation,
    atc_code,
    CAST(NULL AS VARCHAR) AS drug_class,
    FALSE AS is_antipsychotic,
    FALSE AS is_clozapine,
    FALSE AS is_lai,
    FALSE AS trs_relevant,
    categories,
    CAST(NULL AS DOUBLE) AS cpz_numerator_mg,
    CAST(NULL AS DOUBLE) AS cpz_denominator_mg,
    CAST(NULL AS DOUBLE) AS cpz_eq100_mg,
    CAST(NULL AS VARCHAR) AS cpz_method,
    CAST(NULL AS DOUBLE) AS label_mid_mg,
    CAST(NULL AS VARCHAR) AS level_analyte,
    CAST(NULL AS DOUBLE) AS level_min_ng_ml
FROM reference.comedications
