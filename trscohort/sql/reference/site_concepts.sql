{%- import 'macros.sql' as m with context -%}
-- The site vocabulary (mapping file `concepts:` and its CSV files), validated before the run:
-- one row per (domain, source value) with the key the staging models compare (diagnosis codes
-- upper case without dots, other values lower case single-spaced) and the concept (NULL: the
-- value was reviewed and is deliberately ignored).
SELECT DISTINCT
    domain,
    source_value,
    CASE WHEN domain = 'diagnoses' THEN upper(regexp_replace(TRIM(source_value), '[.\s]', '', 'g'))
         ELSE {{ m.norm_text('source_value') }} END AS source_key,
    concept,
    origin
FROM reference.site_concepts_input
