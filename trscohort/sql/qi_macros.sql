{#- Helpers of the quality-improvement indicator models (intermediate.qi_*). -#}

{#- A drug's reference categories (pipe-separated) include `category`. -#}
{%- macro has_category(col, category) -%}
list_contains(string_split(coalesce({{ col }}, ''), '|'), '{{ category }}')
{%- endmacro %}

{#- A date as an analyst reads it in evidence (ISO). -#}
{%- macro day(x) -%} CAST({{ x }} AS VARCHAR) {%- endmacro %}

{#- The strata of an indicator as a one-column table: 'all' first, then `labels`. -#}
{%- macro strata(labels) -%}
SELECT 'all' AS stratum{% for label in labels %} UNION ALL SELECT '{{ label }}'{% endfor %}
{%- endmacro %}
