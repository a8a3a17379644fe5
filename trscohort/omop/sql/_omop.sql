{#- Macros shared by the OMOP mapping templates (trscohort/omop/sql/<extract>.sql). Each template
    is one SELECT over the temporary views the loader makes: cdm_<table> (the CDM's tables, ids
    BIGINT, everything else text), omop_concept (the CDM's concept table, plus the bundled
    concepts.csv for ids the CDM has no row for) and omop_ancestor (concept_ancestor, plus a
    self-pair for every bundled concept, so an exact id matches without a vocabulary). -#}

{#- patient_id of a CDM row: 'person_<person_id>'. Not the bare integer: a published dashboard
    is checked for every patient id as a token, and bare small integers are in every figure. -#}
{%- macro patient_id(col) -%} 'person_' || CAST({{ col }} AS VARCHAR) {%- endmacro %}

{%- macro blank(col) -%} NULLIF(TRIM({{ col }}), '') {%- endmacro %}

{#- The text of a concept id when no name or code is known: 'OMOP:<id>' (0 and NULL: nothing). -#}
{%- macro concept_tag(col) -%} CASE WHEN {{ col }} <> 0 THEN 'OMOP:' || CAST({{ col }} AS VARCHAR) END {%- endmacro %}

{#- A number as a site would write it (4.1, 50 rather than the CDM's 50.000); text that is not a
    number is passed on as written, for staging to quarantine with what was there. -#}
{%- macro number_text(col) -%}
CASE WHEN TRY_CAST(TRIM({{ col }}) AS DOUBLE) = round(TRY_CAST(TRIM({{ col }}) AS DOUBLE))
          AND abs(TRY_CAST(TRIM({{ col }}) AS DOUBLE)) < 1e15
         THEN CAST(CAST(TRY_CAST(TRIM({{ col }}) AS DOUBLE) AS BIGINT) AS VARCHAR)
     WHEN TRY_CAST(TRIM({{ col }}) AS DOUBLE) IS NOT NULL THEN CAST(TRY_CAST(TRIM({{ col }}) AS DOUBLE) AS VARCHAR)
     ELSE {{ blank(col) }} END
{%- endmacro %}

{#- `x IN (...)` over a list of integers from the config; an empty list matches nothing. -#}
{%- macro id_list(ids) -%} ({{ (ids | map('int') | join(', ')) if ids else 'NULL' }}) {%- endmacro %}

{#- Measurement or observation rows recognised as a symptom or function score (TRS-7, TRS-8):
    the source value, else the concept name, is an instrument of the site vocabulary
    (`concepts: assessments:`) or of reference/assessment_instruments.csv. Defines CTE
    `<name>` over `rows_sql` (with columns concept_id and source_value) adding
    `instrument_text` (the text that matched; NULL: not a score). -#}
{%- macro instrument_match(name, rows_sql) -%}
{{ name }}_candidates AS (
    SELECT DISTINCT r.concept_id, r.source_value, c.concept_name
    FROM ({{ rows_sql }}) AS r
    LEFT JOIN omop_concept AS c ON c.concept_id = r.concept_id
),

{{ name }}_keys AS (
    SELECT
        k.concept_id,
        k.source_value,
        CASE
            WHEN site_source.source_key IS NOT NULL OR ref_source.name IS NOT NULL THEN k.source_value
            WHEN site_concept.source_key IS NOT NULL OR ref_concept.name IS NOT NULL THEN k.concept_name
        END AS instrument_text
    FROM {{ name }}_candidates AS k
    LEFT JOIN reference.site_concepts AS site_source
        ON site_source.domain = 'assessments' AND site_source.concept IS NOT NULL
        AND site_source.source_key = lower(regexp_replace(TRIM(k.source_value), '\s+', ' ', 'g'))
    LEFT JOIN reference.instrument_names AS ref_source
        ON ref_source.name = lower(regexp_replace(TRIM(k.source_value), '\s+', ' ', 'g'))
    LEFT JOIN reference.site_concepts AS site_concept
        ON site_concept.domain = 'assessments' AND site_concept.concept IS NOT NULL
        AND site_concept.source_key = lower(regexp_replace(TRIM(k.concept_name), '\s+', ' ', 'g'))
    LEFT JOIN reference.instrument_names AS ref_concept
        ON ref_concept.name = lower(regexp_replace(TRIM(k.concept_name), '\s+', ' ', 'g'))
)
{%- endmacro %}

{#- Join condition of a row to its instrument key (NULL-safe on both columns). -#}
{%- macro instrument_join(alias, keys, concept_col, source_col) -%}
{{ keys }}.concept_id IS NOT DISTINCT FROM {{ alias }}.{{ concept_col }}
AND {{ keys }}.source_value IS NOT DISTINCT FROM {{ blank(alias ~ '.' ~ source_col) }}
{%- endmacro %}

{#- mg per unit of a drug_strength amount or numerator, by its UCUM unit code. -#}
{%- macro mg_factor(code) -%}
CASE {{ code }} WHEN 'mg' THEN 1.0 WHEN 'g' THEN 1000.0 WHEN 'ug' THEN 0.001 END
{%- endmacro %}

{#- A drug exposure's route is long-acting when the drug's name (concept or source), or its route
    as written, names a depot salt or form, or an extended- or prolonged-release injectable. -#}
{%- set lai_words = '(decanoate|palmitate|pamoate|lauroxil|enanthate|depot|long[- ]acting)' -%}
{%- set injectable_words = '(inject|syringe)' -%}
{%- set release_words = '(extended|prolonged)[- ]release' -%}

{#- drug_exposure rows of the chosen drug types, with the drug resolved once per distinct
    concept. Defines CTEs ending in `drug_rows`: every column of cdm_drug_exposure plus
    drug_text (what raw.<extract>.drug holds), route_text, ingredient_level, strength_mg
    (mg per unit of quantity from drug_strength), exposure_days.
      drug_text  the ingredient (concept_ancestor to a concept of class Ingredient) the project
                 knows, an antipsychotic first (a combination product counts as its
                 antipsychotic); else the only ingredient; else drug_source_value; else the
                 concept's name; else 'OMOP:<drug_concept_id>'. Concept 0: drug_source_value.
      days       days_supply when positive, else end - start + 1. -#}
{%- macro drug_rows(extract) -%}
{%- set omop = cfg.omop -%}
types AS (
    SELECT
        t.drug_type_concept_id,
        bool_or(a.ancestor_concept_id IN {{ id_list(omop.dispensing_type_concept_ids) }}) AS is_dispensing,
        bool_or(a.ancestor_concept_id IN {{ id_list(omop.prescription_type_concept_ids) }}) AS is_prescription
    FROM (SELECT DISTINCT drug_type_concept_id FROM cdm_drug_exposure) AS t
    LEFT JOIN (
        SELECT ancestor_concept_id, descendant_concept_id FROM omop_ancestor
        UNION SELECT drug_type_concept_id, drug_type_concept_id FROM cdm_drug_exposure
    ) AS a ON a.descendant_concept_id = t.drug_type_concept_id
    GROUP BY t.drug_type_concept_id
),

exposures AS (
    SELECT de.*
    FROM cdm_drug_exposure AS de
    INNER JOIN types AS t ON t.drug_type_concept_id IS NOT DISTINCT FROM de.drug_type_concept_id
    WHERE {% if extract == 'dispensings' %}coalesce(t.is_dispensing, FALSE)
          {%- else %}NOT coalesce(t.is_dispensing, FALSE)
          AND (coalesce(t.is_prescription, FALSE) OR {{ 'TRUE' if omop.other_drug_types_as_prescriptions else 'FALSE' }}){% endif %}
),

drug_ingredients AS (
    SELECT
        d.drug_concept_id,
        i.concept_id AS ingredient_id,
        i.concept_name AS ingredient_name,
        pd.concept_id AS project_concept,
        coalesce(pd.is_antipsychotic, FALSE) AS is_antipsychotic
    FROM (SELECT DISTINCT drug_concept_id FROM exposures WHERE drug_concept_id <> 0) AS d
    INNER JOIN omop_ancestor AS a ON a.descendant_concept_id = d.drug_concept_id
    INNER JOIN omop_concept AS i ON i.concept_id = a.ancestor_concept_id AND i.concept_class_id = 'Ingredient'
    LEFT JOIN reference.drug_names AS dn ON dn.name = lower(TRIM(i.concept_name))
    LEFT JOIN reference.drugs AS pd ON pd.concept_id = dn.concept_id
),

chosen_ingredient AS (
    SELECT
        drug_concept_id,
        arg_min(ingredient_id, ranking) AS ingredient_id,
        arg_min(ingredient_name, ranking) AS ingredient_name,
        count(DISTINCT ingredient_id) AS ingredients,
        bool_or(project_concept IS NOT NULL) AS any_known
    FROM (
        SELECT *,
            CASE WHEN is_antipsychotic THEN 0 WHEN project_concept IS NOT NULL THEN 1 ELSE 2 END * 1000000000000
                + ingredient_id AS ranking
        FROM drug_ingredients
    ) AS ranked
    GROUP BY drug_concept_id
),

strengths AS (
    SELECT
        ds.drug_concept_id,
        min(TRY_CAST(ds.amount_value AS DOUBLE) * {{ mg_factor('au.concept_code') }}) AS amount_mg,
        min(TRY_CAST(ds.numerator_value AS DOUBLE) * {{ mg_factor('nu.concept_code') }}) AS numerator_mg
    FROM cdm_drug_strength AS ds
    INNER JOIN chosen_ingredient AS ci
        ON ci.drug_concept_id = ds.drug_concept_id AND ci.ingredient_id = ds.ingredient_concept_id
    LEFT JOIN omop_concept AS au ON au.concept_id = ds.amount_unit_concept_id
    LEFT JOIN omop_concept AS nu ON nu.concept_id = ds.numerator_unit_concept_id
    GROUP BY ds.drug_concept_id
),

drug_concepts AS (
    SELECT
        d.drug_concept_id,
        c.concept_name,
        c.concept_class_id = 'Ingredient' AS ingredient_level,
        CASE WHEN ci.any_known OR ci.ingredients = 1 THEN ci.ingredient_name END AS ingredient_name,
        st.amount_mg,
        st.numerator_mg
    FROM (SELECT DISTINCT drug_concept_id FROM exposures) AS d
    LEFT JOIN omop_concept AS c ON c.concept_id = d.drug_concept_id AND d.drug_concept_id <> 0
    LEFT JOIN chosen_ingredient AS ci ON ci.drug_concept_id = d.drug_concept_id
    LEFT JOIN strengths AS st ON st.drug_concept_id = d.drug_concept_id
),

drug_rows AS (
    SELECT
        e.*,
        CASE WHEN e.drug_concept_id = 0 OR e.drug_concept_id IS NULL THEN {{ blank('e.drug_source_value') }}
             ELSE coalesce(dc.ingredient_name, {{ blank('e.drug_source_value') }}, dc.concept_name,
                           {{ concept_tag('e.drug_concept_id') }})
        END AS drug_text,
        CASE
            WHEN regexp_matches(lower(concat_ws(' ', dc.concept_name, e.drug_source_value, e.route_source_value)), '{{ lai_words }}')
                OR (regexp_matches(lower(concat_ws(' ', dc.concept_name, e.drug_source_value, rc.concept_name, e.route_source_value)), '{{ injectable_words }}')
                    AND regexp_matches(lower(concat_ws(' ', dc.concept_name, e.drug_source_value)), '{{ release_words }}'))
                THEN 'lai'
            ELSE coalesce({{ blank('e.route_source_value') }}, rc.concept_name)
        END AS route_text,
        coalesce(dc.ingredient_level, FALSE) AS ingredient_level,
        dc.amount_mg,
        dc.numerator_mg,
        CASE
            WHEN TRY_CAST(e.days_supply AS DOUBLE) > 0 THEN TRY_CAST(e.days_supply AS DOUBLE)
            ELSE date_diff('day', TRY_CAST(e.drug_exposure_start_date AS DATE),
                           TRY_CAST(e.drug_exposure_end_date AS DATE)) + 1
        END AS exposure_days
    FROM exposures AS e
    LEFT JOIN drug_concepts AS dc ON dc.drug_concept_id IS NOT DISTINCT FROM e.drug_concept_id
    LEFT JOIN omop_concept AS rc ON rc.concept_id = e.route_concept_id AND e.route_concept_id <> 0
)
{%- endmacro %}
