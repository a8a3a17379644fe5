-- One row per drug concept (antipsychotics and co-medications) with the CPZ factor chosen by
-- config `ingest.cpz_methods` (first method that has a value wins; TRS-4).
SELECT
    concept_id,
    generic_name,
    formulation,
    atc_code,
    drug_class,
    TRUE AS is_antipsychotic,
    CAST(is_clozapine AS BOOLEAN) AS is_clozapine,
    formulation = 'lai' AS is_lai,
    CAST(NULL AS VARCHAR) AS categories,
    coalesce({% for m in cpz_methods %}CAST(eq100_{{ m }} AS DOUBLE){{ ", " if not loop.last }}{% endfor %}) AS cpz_eq100_mg,
    CASE {% for m in cpz_methods %}WHEN eq100_{{ m }} IS NOT NULL THEN '{{ m }}' {% endfor %}END AS cpz_method
FROM reference.antipsychotics
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
    categories,
    CAST(NULL AS DOUBLE) AS cpz_eq100_mg,
    CAST(NULL AS VARCHAR) AS cpz_method
FROM reference.comedications
