{#- Jinja macros shared by the SQL models. Each renders to plain DuckDB SQL that SQLGlot can
    transpile to Spark (tests/test_sql_portability.py). Context: `date_formats`, `earliest_date`,
    `latest_date`, `canonical` (the extract's canonical column names). -#}

{%- macro blank(col) -%} NULLIF(TRIM({{ col }}), '') {%- endmacro %}

{%- macro parse_ts(col) -%}
TRY_STRPTIME(NULLIF(TRIM({{ col }}), ''), [{% for f in date_formats %}'{{ f | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %}])
{%- endmacro %}

{%- macro parse_date(col) -%} CAST({{ parse_ts(col) }} AS DATE) {%- endmacro %}

{#- A decimal comma is read as a point, except "1,500": exactly three digits after the comma is
    ambiguous (thousands or decimals), stays unparsed, and its row is quarantined. NaN/inf too. -#}
{%- macro _number_text(col) -%}
CASE WHEN regexp_matches(TRIM({{ col }}), '^[-+]?[0-9]*,([0-9]{1,2}|[0-9]{4,})$')
     THEN replace(TRIM({{ col }}), ',', '.') ELSE TRIM({{ col }}) END
{%- endmacro %}
{%- macro parse_number(col) -%}
CASE WHEN isfinite(TRY_CAST({{ _number_text(col) }} AS DOUBLE))
     THEN TRY_CAST({{ _number_text(col) }} AS DOUBLE) END
{%- endmacro %}

{%- macro norm_text(col) -%} lower(regexp_replace(TRIM({{ col }}), '\s+', ' ', 'g')) {%- endmacro %}

{#- Unit spelling normalisation; reference/lab_units.csv holds units in this normalised form. -#}
{%- macro norm_unit(col) -%}
regexp_replace(regexp_replace(replace(replace(replace(replace(lower(TRIM({{ col }})),
  'µ', 'u'), 'μ', 'u'), '×', 'x'), '*', '^'), '\s+', '', 'g'), '^x10', '10')
{%- endmacro %}

{#- A raw value as it is shown inside a quarantine reason. -#}
{%- macro shown(col) -%} coalesce('''' || left({{ col }}, 60) || '''', 'empty') {%- endmacro %}

{%- macro reason(cond, message) -%} CASE WHEN {{ cond }} THEN {{ message }} END {%- endmacro %}

{%- macro require(name) -%}
{{ reason(blank(name) ~ " IS NULL", "'missing " ~ name ~ "'") }}
{%- endmacro %}

{#- Reasons for a date column: unparseable, or outside [earliest_date, latest_date]. -#}
{%- macro check_date(name, parsed) -%}
{{ reason(blank(name) ~ " IS NOT NULL AND " ~ parsed ~ " IS NULL", "'unparseable " ~ name ~ " ' || " ~ shown(name)) }},
{{ reason(parsed ~ " < DATE '" ~ earliest_date ~ "' OR " ~ parsed ~ " > DATE '" ~ latest_date ~ "'",
          "'" ~ name ~ " outside plausible range: ' || CAST(" ~ parsed ~ " AS VARCHAR)") }}
{%- endmacro %}

{%- macro check_number(name, parsed) -%}
{{ reason(blank(name) ~ " IS NOT NULL AND " ~ parsed ~ " IS NULL", "'unparseable " ~ name ~ " ' || " ~ shown(name)) }}
{%- endmacro %}

{#- concat_ws skips NULLs; NULLIF turns "no reason at all" into NULL. -#}
{%- macro collect(reasons) -%} NULLIF(concat_ws('; ', {{ reasons }}), '') {%- endmacro %}

{#- The site's extra columns, carried through untouched: raw.py keeps them all in one struct
    column, `extras`, so the star below can only bring that (never a name used in a model). -#}
{%- macro extras(also=[]) -%}
* EXCLUDE (_row, _problem{% for c in canonical %}, {{ c }}, p_{{ c }}{% endfor %}{% for c in also %}, {{ c }}{% endfor %})
{%- endmacro %}

{%- macro normalise_route(col) -%}
CASE
    WHEN {{ blank(col) }} IS NULL THEN NULL
    WHEN {{ norm_text(col) }} IN ('oral', 'po', 'p.o.', 'by mouth', 'tablet', 'sublingual', 'sl') THEN 'oral'
    WHEN {{ norm_text(col) }} IN ('lai', 'depot', 'im depot', 'long-acting injectable',
                                  'long acting injectable', 'long-acting injection') THEN 'lai'
    ELSE 'other'
END
{%- endmacro %}

{#- Drug name -> reference concept: the full name ("haloperidol decanoate"), then the text
    before any dose ("olanzapine 10 mg"), then the first word ("Clozaril tablets"). A route of
    'lai' on an oral name means the long-acting form of the same generic. Defines CTE
    `with_drug` over `source` (which has p_patient_id, p_drug, drug_key and optionally p_route),
    adding patient columns (pt_known, pt_birth_date) and drug columns (d_*). -#}
{%- set drug_helper_columns = ['drug_key', 'name_concept_id', 'pt_known', 'pt_birth_date',
    'd_concept_id', 'd_generic_name', 'd_drug_class', 'd_is_antipsychotic', 'd_is_clozapine', 'd_is_lai'] -%}
{%- macro resolve_drug(source, has_route=True) -%}
named AS (
    SELECT
        s.*,
        coalesce(full_name.concept_id, before_dose.concept_id, first_word.concept_id) AS name_concept_id
    FROM {{ source }} AS s
    LEFT JOIN reference.drug_names AS full_name ON full_name.name = s.drug_key
    LEFT JOIN reference.drug_names AS before_dose
        ON before_dose.name = TRIM(regexp_extract(s.drug_key, '^([^0-9]*)', 1))
    LEFT JOIN reference.drug_names AS first_word ON first_word.name = split_part(s.drug_key, ' ', 1)
),

with_drug AS (
    SELECT
        n.*,
        pt.patient_id IS NOT NULL AS pt_known,
        pt.birth_date AS pt_birth_date,
        d.concept_id AS d_concept_id,
        d.generic_name AS d_generic_name,
        d.drug_class AS d_drug_class,
        d.is_antipsychotic AS d_is_antipsychotic,
        d.is_clozapine AS d_is_clozapine,
        d.is_lai AS d_is_lai
    FROM named AS n
    LEFT JOIN reference.drugs AS by_name ON by_name.concept_id = n.name_concept_id
    LEFT JOIN reference.drugs AS lai
        ON {{ "n.p_route = 'lai'" if has_route else "FALSE" }} AND by_name.formulation = 'oral'
        AND by_name.is_antipsychotic AND lai.generic_name = by_name.generic_name AND lai.formulation = 'lai'
    LEFT JOIN reference.drugs AS d ON d.concept_id = coalesce(lai.concept_id, n.name_concept_id)
    LEFT JOIN staging.patients AS pt ON pt.patient_id = n.p_patient_id
)
{%- endmacro %}

{%- macro drug_reasons() -%}
{{ require('drug') }},
{{ reason("p_drug IS NOT NULL AND d_concept_id IS NULL", "'drug not in reference lists: ' || " ~ shown('drug')) }}
{%- endmacro %}

{#- Patient checks for event extracts: id present, known, and the event not before birth. -#}
{%- macro patient_reasons(date_name, parsed_date) -%}
{{ require('patient_id') }},
{{ reason("p_patient_id IS NOT NULL AND NOT pt_known", "'unknown patient_id ' || " ~ shown('patient_id')) }},
{{ reason(parsed_date ~ " < pt_birth_date", "'" ~ date_name ~ " before birth_date'") }}
{%- endmacro %}

{#- Patient lookup only (extracts without a drug). -#}
{%- macro join_patient(source) -%}
with_patient AS (
    SELECT s.*, pt.patient_id IS NOT NULL AS pt_known, pt.birth_date AS pt_birth_date
    FROM {{ source }} AS s
    LEFT JOIN staging.patients AS pt ON pt.patient_id = s.p_patient_id
)
{%- endmacro %}

{#- A number as an analyst reads it in a reason: 72 rather than 72.0, else one decimal. -#}
{%- macro fmt_num(x) -%}
CASE WHEN {{ x }} = round({{ x }}) THEN CAST(CAST({{ x }} AS BIGINT) AS VARCHAR)
     ELSE CAST(round({{ x }}, 1) AS VARCHAR) END
{%- endmacro %}
